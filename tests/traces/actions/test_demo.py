"""The demo's actions (``traces.actions.demo``, ``traces.actions.demo_team``), called directly: each finds
its row when it exists, so a second start of ``manage.py demo`` writes nothing new."""

from __future__ import annotations

import pytest

from app.endpoints import EMBEDDED
from traces.actions.demo import do_delete_demo_runs, do_demo_model, do_demo_project, do_demo_run, do_demo_user
from traces.actions.demo_team import ANNOTATORS, QUEUE_NAME, do_join_as_annotators, do_seed_demo_queue
from traces.actions.store import store_traces
from traces.backends import SamplingParams
from traces.formats.base import ParsedTrace
from traces.models import Backend, LanguageModel, Queue, Role, Run, RunKind, Trace

pytestmark = pytest.mark.django_db

PARAMS = SamplingParams(max_new_tokens=16, temperature=0.2, top_p=0.9, n=2, seed=7, think_budget=128)


@pytest.fixture
def demo():
    """The demo user, project and model, as ``manage.py demo`` makes them."""
    user, _ = do_demo_user("pw")
    project = do_demo_project(user, "tiny")
    model = do_demo_model(project, "tiny", PARAMS, system_prompt="Think.", think_format="think_tags")
    return user, project, model


def _store(run: Run, count: int, problem: str = "Problem") -> None:
    parsed = [
        ParsedTrace(line_no=i, prompt=f"{problem} {i}", text=f"Add.\n\nThe answer is {i}.", reference_answer=str(i))
        for i in range(count)
    ]
    store_traces(run.project, run, parsed)


def test_the_demo_model_is_the_embedded_one_with_the_demo_settings(demo) -> None:
    _, project, model = demo
    assert (model.backend, model.endpoint, model.system_prompt, model.think_format) == (
        Backend.TRANSFORMERS, EMBEDDED, "Think.", "think_tags",
    )  # fmt: skip
    assert SamplingParams.from_dict(model.default_params) == PARAMS
    other = SamplingParams(max_new_tokens=32)
    again = do_demo_model(project, "tiny", other, system_prompt="Think again.", think_format="think_tags")
    assert again.pk == model.pk and LanguageModel.objects.filter(project=project).count() == 1
    assert again.system_prompt == "Think again." and SamplingParams.from_dict(again.default_params) == other


def test_the_demo_run_is_found_by_its_sampling_parameters(demo) -> None:
    user, project, model = demo
    run = do_demo_run(project, model, PARAMS, user)
    assert (run.kind, run.n_samples, run.seed, run.created_by) == (RunKind.GENERATION, 2, 7, user)
    assert do_demo_run(project, model, PARAMS, user).pk == run.pk
    longer = SamplingParams(max_new_tokens=32, temperature=0.2, top_p=0.9, n=2, seed=7, think_budget=128)
    assert do_demo_run(project, model, longer, user).pk != run.pk


def test_force_deletes_the_generated_runs_and_their_traces_only(demo) -> None:
    user, project, model = demo
    run = do_demo_run(project, model, PARAMS, user)
    _store(run, 3)
    imported = Run.objects.create(project=project, kind=RunKind.IMPORT)
    _store(imported, 1, problem="Imported problem")
    assert do_delete_demo_runs(project, model) == 3
    assert not Run.objects.filter(pk=run.pk).exists()
    assert list(Run.objects.filter(project=project)) == [imported]
    assert Trace.objects.filter(project=project).count() == 1
    assert do_delete_demo_runs(project, model) == 0


def test_the_demo_queue_is_made_once_and_again_when_its_traces_are_gone(demo, make_user) -> None:
    user, project, model = demo
    run = do_demo_run(project, model, PARAMS, user)
    annotators = [make_user(name) for name in ANNOTATORS]
    do_join_as_annotators(project, annotators)
    do_join_as_annotators(project, annotators)  # members already: nothing changes
    assert [project.role_of(a) for a in annotators] == [Role.ANNOTATOR, Role.ANNOTATOR]
    assert do_seed_demo_queue(run, user, annotators, "heuristic:none") == 0  # no traces: no queue
    assert not Queue.objects.filter(project=project).exists()

    _store(run, 6)
    assert do_seed_demo_queue(run, user, annotators, "heuristic:none") > 0
    assert do_seed_demo_queue(run, user, annotators, "heuristic:none") == 0  # made once
    first = Queue.objects.get(project=project, name=QUEUE_NAME)

    do_delete_demo_runs(project, model)  # demo --force: the queue's items go with the traces
    rerun = do_demo_run(project, model, PARAMS, user)
    _store(rerun, 6)
    assert do_seed_demo_queue(rerun, user, annotators, "heuristic:none") > 0
    assert not Queue.objects.filter(pk=first.pk).exists()
    assert Queue.objects.get(project=project, name=QUEUE_NAME).items.count() == 6
