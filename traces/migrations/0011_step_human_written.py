"""Steps know when a person wrote them (PRM800K's human_completion), so an export policy can label
them; steps imported before are marked from the raw record their ``alternatives`` kept."""

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

BATCH = 1000


def mark_human_written(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """A stored PRM800K step took its human completion when it has one and no chosen completion
    (``traces.formats.prm800k``, rule 2)."""
    Step = apps.get_model("traces", "Step")
    marked = []
    for step_id, record in Step.objects.exclude(alternatives=[]).values_list("id", "alternatives").iterator(BATCH):
        if isinstance(record, dict) and record.get("chosen_completion") is None and record.get("human_completion"):
            marked.append(step_id)
    for start in range(0, len(marked), BATCH):
        Step.objects.filter(id__in=marked[start : start + BATCH]).update(human_written=True)


class Migration(migrations.Migration):
    dependencies = [
        ("traces", "0010_think_in_prompt"),
    ]

    operations = [
        migrations.AddField(
            model_name="step",
            name="human_written",
            field=models.BooleanField(
                default=False, help_text="A person wrote the text, not the model (PRM800K's human_completion)"
            ),
        ),
        migrations.RunPython(mark_human_written, migrations.RunPython.noop),
    ]
