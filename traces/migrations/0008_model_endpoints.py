"""Models name an endpoint the operator declared instead of holding a URL, a folder or a key variable.

A model of the embedded default (backend ``transformers`` with no folder) now names the ``embedded``
endpoint; the model id an OpenAI-compatible server was asked for moves from ``default_params`` to
``served_model``. Anything else a project had set that reaches a secret or an address (a server
URL, a folder on the worker, ``api_key_env``, the device and client tuning) is dropped: a model that
had it names no endpoint afterwards, and its owner picks one the operator declared (generation
refuses until then, saying which endpoints the project may use).
"""

from typing import Any

from django.db import migrations, models

#: ``default_params`` keys that were endpoint settings, not sampling defaults.
OPERATOR_KEYS = ("served_model", "api_key_env", "device", "batch_size", "max_concurrency", "timeout")


def name_endpoints(apps: Any, schema_editor: Any) -> None:
    LanguageModel = apps.get_model("traces", "LanguageModel")
    for model in LanguageModel.objects.exclude(backend="imported"):
        params = dict(model.default_params or {})
        model.served_model = str(params.get("served_model") or "")
        model.default_params = {key: value for key, value in params.items() if key not in OPERATOR_KEYS}
        model.endpoint = "embedded" if model.backend == "transformers" and not model.path else ""
        model.save(update_fields=["served_model", "default_params", "endpoint"])


class Migration(migrations.Migration):
    dependencies = [("traces", "0007_project_score_names")]

    operations = [
        migrations.AddField(
            model_name="languagemodel",
            name="endpoint",
            field=models.CharField(
                blank=True, default="", help_text="An endpoint the operator declared; empty: imported", max_length=100
            ),
        ),
        migrations.AddField(
            model_name="languagemodel",
            name="served_model",
            field=models.CharField(
                blank=True,
                default="",
                help_text="The model id to ask the endpoint for; empty: the name",
                max_length=200,
            ),
        ),
        migrations.RunPython(name_endpoints, migrations.RunPython.noop),
        migrations.RemoveField(model_name="languagemodel", name="path"),
        migrations.AlterField(
            model_name="languagemodel",
            name="backend",
            field=models.CharField(
                choices=[
                    ("vllm", "vLLM (in-process)"),
                    ("openai", "OpenAI-compatible server"),
                    ("transformers", "transformers (local CPU/GPU)"),
                    ("imported", "Imported (no backend)"),
                ],
                default="imported",
                help_text="The endpoint's backend",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="languagemodel",
            name="default_params",
            field=models.JSONField(blank=True, default=dict, help_text="Default sampling parameters"),
        ),
    ]
