"""``manage.py generate`` (SPEC §4 CLI): queue a run for the workers, or generate it here."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from scripted_backend import ScriptedBackend

from traces import jobs
from traces.models import LanguageModel, Problem, Project, Run, RunStatus, Trace
from traces.trace_builder import problem_hash


@pytest.fixture
def setup(db):
    project = Project.objects.create(name="Cli", slug="cli")
    LanguageModel.objects.create(project=project, name="smol", backend="transformers", endpoint="embedded")
    for i in range(3):
        prompt, answer = f"{i} + {i}?", str(2 * i)
        Problem.objects.create(
            project=project, prompt=prompt, answer=answer, source="d", content_hash=problem_hash(prompt, answer)
        )
    return project


def test_here_generates_in_this_process(setup, monkeypatch) -> None:
    monkeypatch.setattr("workers.backends.registry.backend_for", lambda model: ScriptedBackend())
    out = StringIO()
    call_command("generate", "--project", "cli", "--model", "smol", "--n", "2", "--here", stdout=out, verbosity=0)
    run = Run.objects.get()
    assert run.status == RunStatus.SUCCEEDED and Trace.objects.filter(run=run).count() == 6
    assert "Run 1: 6 samples (3 problems × 2)" in out.getvalue().replace(str(run.pk), "1", 1)
    assert "succeeded: 6 traces" in out.getvalue()


def test_by_default_the_run_is_queued(setup, monkeypatch, django_capture_on_commit_callbacks) -> None:
    queued: list[tuple[str, int, list[int]]] = []
    monkeypatch.setattr("traces.jobs.enqueue", lambda task, *args: queued.append((task, *args)))
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("generate", "--project", "cli", "--model", "smol", "--dataset", "d", "--limit", "2", stdout=out)
    run = Run.objects.get()
    assert run.status == RunStatus.QUEUED and len(queued) == 1
    assert queued[0][0] == jobs.GENERATE_CHUNK and len(queued[0][2]) == 2
    assert f"/p/cli/runs/{run.pk}/" in out.getvalue()


def test_a_think_budget_makes_a_budget_forced_run(setup, monkeypatch) -> None:
    monkeypatch.setattr("traces.jobs.enqueue", lambda task, *args: None)
    call_command("generate", "--project", "cli", "--model", "smol", "--think-budget", "64", stdout=StringIO())
    assert Run.objects.get().params["think_budget"] == 64


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--model", "nope"], "No model 'nope' in 'cli' (known: smol)"),
        (["--model", "smol", "--problem-ids", "1,x"], "--problem-ids takes whole numbers"),
        (["--model", "smol", "--problem-ids", "424242"], "--problems: no problem [424242]"),
        (["--model", "smol", "--top-p", "0"], "top_p must be in (0, 1]"),
        (["--model", "smol", "--think-budget", "0"], "think_budget must be None or at least 1"),
    ],
)
def test_bad_arguments_are_named(setup, arguments, message) -> None:
    with pytest.raises(CommandError) as refused:
        call_command("generate", "--project", "cli", *arguments)
    assert message in str(refused.value)
    assert not Run.objects.exists()
