"""Data migrations fill what they add from the rows already stored."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("traces", "0006_trace_analysis_summary_scores")]
AFTER = [("traces", "0007_project_score_names")]


def migrate(targets: list[tuple[str, str]]):
    """Migrate to ``targets`` and return the historical app registry there."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture(autouse=True)
def back_to_the_latest_schema():
    """The tests after these need every migration applied, whichever a test stopped at."""
    yield
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_0007_registers_the_score_names_already_stored() -> None:
    apps = migrate(BEFORE)
    model = apps.get_model
    for i, names in enumerate((["loop_count", "overthinking_ratio"], ["loop_count"])):
        project = model("traces", "Project").objects.create(name=f"P{i}", slug=f"p{i}")
        problem = model("traces", "Problem").objects.create(project=project, prompt="1 + 1?", content_hash="h")
        llm = model("traces", "LanguageModel").objects.create(project=project, name="m")
        run = model("traces", "Run").objects.create(project=project, model=llm, kind="import")
        for sample in range(3):
            trace = model("traces", "Trace").objects.create(
                project=project, run=run, problem=problem, model=llm, sample_index=sample, raw_text="2", content_hash=f"t{sample}"
            )
            model("traces", "Score").objects.bulk_create(
                model("traces", "Score")(trace=trace, name=name, value=sample, method="analysis") for name in names
            )
    apps = migrate(AFTER)
    registered = apps.get_model("traces", "ProjectScoreName").objects.values_list("project__slug", "method", "name")
    assert sorted(registered) == [
        ("p0", "analysis", "loop_count"), ("p0", "analysis", "overthinking_ratio"), ("p1", "analysis", "loop_count"),
    ]  # fmt: skip


def test_0008_points_the_embedded_models_at_their_endpoint_and_drops_addresses_and_key_variables() -> None:
    apps = migrate([("traces", "0007_project_score_names")])
    models = apps.get_model("traces", "LanguageModel").objects
    project = apps.get_model("traces", "Project").objects.create(name="P", slug="p")
    models.create(project=project, name="smol", backend="transformers", default_params={"temperature": 0.2})
    models.create(project=project, name="folder", backend="transformers", path="/secrets")
    models.create(
        project=project, name="served", backend="openai", path="http://127.0.0.1:8020/admin",
        default_params={"served_model": "qwq", "api_key_env": "SECRET_KEY", "timeout": 5, "top_p": 0.9},
    )  # fmt: skip
    models.create(project=project, name="imported")

    apps = migrate([("traces", "0008_model_endpoints")])
    rows = apps.get_model("traces", "LanguageModel").objects.order_by("name")
    assert [(m.name, m.backend, m.endpoint, m.served_model, m.default_params) for m in rows] == [
        ("folder", "transformers", "", "", {}),
        ("imported", "imported", "", "", {}),
        ("served", "openai", "", "qwq", {"top_p": 0.9}),
        ("smol", "transformers", "embedded", "", {"temperature": 0.2}),
    ]


def test_0011_marks_the_prm800k_steps_a_labeller_wrote() -> None:
    """A stored step took its human completion when its raw record has one and no chosen completion."""
    apps = migrate([("traces", "0010_think_in_prompt")])
    model = apps.get_model
    project = model("traces", "Project").objects.create(name="P", slug="p")
    problem = model("traces", "Problem").objects.create(project=project, prompt="1 + 1?", content_hash="h")
    llm = model("traces", "LanguageModel").objects.create(project=project, name="m")
    run = model("traces", "Run").objects.create(project=project, model=llm, kind="import")
    trace = model("traces", "Trace").objects.create(project=project, run=run, problem=problem, model=llm, raw_text="abc")
    segmentation = model("traces", "Segmentation").objects.create(trace=trace, version=1)
    human = {"text": "b", "rating": None, "flagged": None}
    records = [
        [],  # not from PRM800K
        {"completions": [{"text": "a", "rating": 1}], "human_completion": None, "chosen_completion": 0},
        {"completions": None, "human_completion": human, "chosen_completion": None},  # written by hand
        {"completions": [{"text": "x", "rating": -1}], "human_completion": human, "chosen_completion": 0},
    ]
    for index, record in enumerate(records):
        model("traces", "Step").objects.create(
            segmentation=segmentation, trace=trace, index=index, char_start=index, char_end=index, alternatives=record
        )
    apps = migrate([("traces", "0011_step_human_written")])
    steps = apps.get_model("traces", "Step").objects.order_by("index")
    assert [step.human_written for step in steps] == [False, False, True, False]
