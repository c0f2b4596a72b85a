"""The dependency between the two apps runs one way: ``workers`` imports ``traces``, never the reverse.

Actions queue worker tasks by name (``traces.jobs``); the generation backend interface they take is
``traces.backends``; commands that run an engine themselves live in ``workers/management``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app.celery import celery_app
from traces import jobs
from traces.actions.analysis import needing_analysis
from traces.actions.store import store_traces
from traces.formats.base import ParsedTrace
from traces.models import Project, Run, RunKind, Trace

TRACES = Path(__file__).resolve().parents[1] / "traces"


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports, at any depth (inside functions too), with its line."""
    modules = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            modules += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.append((node.lineno, node.module))
    return modules


def test_the_walk_finds_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "sample.py"
    module.write_text("import os\n\ndef f():\n    from workers.tasks import export_run\n    import workers\n")
    assert imported_modules(module) == [(1, "os"), (4, "workers.tasks"), (5, "workers")]


def test_traces_never_imports_workers() -> None:
    sources = sorted(TRACES.rglob("*.py"))
    assert len(sources) > 50  # the walk found the app
    offending = [
        f"{path.relative_to(TRACES.parent)}:{line} imports {module}"
        for path in sources
        for line, module in imported_modules(path)
        if module == "workers" or module.startswith("workers.")
    ]
    assert offending == []


def test_every_task_an_action_may_queue_is_a_registered_worker_task() -> None:
    registered = {name for name in celery_app.tasks if name.startswith("workers.")}
    assert set(jobs.TASKS) == registered


def test_an_unknown_task_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown worker task 'workers.tasks.nope'"):
        jobs.enqueue("workers.tasks.nope", 1)


@pytest.mark.django_db
def test_a_task_queued_by_name_runs_inline_when_eager(eager_celery) -> None:
    project = Project.objects.create(slug="eager", name="Eager")
    run = Run.objects.create(project=project, kind=RunKind.IMPORT)
    parsed = ParsedTrace(line_no=0, prompt="What is 3 times 4?", text="3 times 4 is 12.\n\nThe answer is 12.",
                         reference_answer="12")  # fmt: skip
    store_traces(project, run, [parsed])
    assert needing_analysis(Trace.objects.filter(run=run)).count() == 1
    jobs.enqueue(jobs.ANALYZE_RUN, run.pk)
    assert needing_analysis(Trace.objects.filter(run=run)).count() == 0
