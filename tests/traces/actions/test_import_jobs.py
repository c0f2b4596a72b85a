"""An import Run tells the truth at every moment (traces/actions/imports.py): ``running`` is
committed before the file is read; a clash with another import of the same rows reads the file
again; a lost database connection leaves the Run to the worker's retry; any other error fails it
with its text; an interrupted analysis is reported as such and resumed later.

Real worker processes and real lost connections are in tests/workers/test_import_worker.py and
tests/reliability/test_database_restart.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import IntegrityError, OperationalError, connections

import traces.actions.analysis as analysis_actions
import traces.actions.imports as import_actions
from traces.actions.imports import ImportFailed, do_import, do_resume_analysis, give_up_import, run_import_job
from traces.actions.resume import do_resume, resumable
from traces.models import Project, Run, RunKind, RunStatus, Trace, TraceAnalysis

TRACES = 10


def write_traces(path: Path, count: int = TRACES) -> Path:
    lines = [{"prompt": f"What is {i} + 1?", "completion": f"{i} + 1 = {i + 1}. The answer is {i + 1}.",
              "reference_answer": str(i + 1), "model": "m"} for i in range(count)]  # fmt: skip
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def status_seen_from_another_connection(run_id: int) -> str | None:
    """The Run's status as another process would read it now: only what is committed."""
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute(f"SELECT status FROM {Run._meta.db_table} WHERE id = %s", [run_id])
            row = cursor.fetchone()
    finally:
        other.close()
    return row[0] if row else None


def failing_store(error: BaseException, times: int = 1_000) -> Callable[..., Any]:
    """A ``store_traces`` that raises ``error`` on its first ``times`` calls, then stores."""
    calls = {"count": 0}
    real = import_actions.store_traces

    def store(*args: Any, **kwargs: Any) -> Any:
        calls["count"] += 1
        if calls["count"] <= times:
            raise error
        return real(*args, **kwargs)

    return store


@pytest.mark.django_db(transaction=True)
def test_running_is_committed_before_the_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = Project.objects.create(name="P", slug="p")
    seen: list[str | None] = []
    real = import_actions.store_traces

    def store(project: Project, run: Run, items: Any, **kwargs: Any) -> Any:
        seen.append(status_seen_from_another_connection(run.pk))
        return real(project, run, items, **kwargs)

    monkeypatch.setattr(import_actions, "store_traces", store)
    result = do_import(project, write_traces(tmp_path / "t.jsonl"), "jsonl")
    assert seen == [RunStatus.RUNNING]
    assert result.run.status == RunStatus.SUCCEEDED and Trace.objects.count() == TRACES


@pytest.mark.django_db
def test_a_unique_key_clash_reads_the_file_again(tmp_path: Path, project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another import committed the same problems meanwhile: the next attempt skips them."""
    monkeypatch.setattr(import_actions, "store_traces", failing_store(IntegrityError("problem_unique_content"), times=1))
    result = do_import(project, write_traces(tmp_path / "t.jsonl"), "jsonl")
    assert result.run.status == RunStatus.SUCCEEDED and result.store.traces_created == TRACES


@pytest.mark.django_db
def test_a_clash_that_persists_fails_the_run_with_its_text(tmp_path: Path, project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(import_actions, "store_traces", failing_store(IntegrityError("problem_unique_content")))
    with pytest.raises(IntegrityError):
        do_import(project, write_traces(tmp_path / "t.jsonl"), "jsonl")
    run = Run.objects.get()
    assert run.status == RunStatus.FAILED and run.error == "IntegrityError: problem_unique_content"
    assert run.finished_at is not None and not Trace.objects.exists()


@pytest.mark.django_db
def test_an_unexpected_error_fails_the_run_with_its_text(tmp_path: Path, project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(import_actions, "store_traces", failing_store(KeyError("segmenter")))
    with pytest.raises(KeyError):
        do_import(project, write_traces(tmp_path / "t.jsonl"), "jsonl")
    run = Run.objects.get()
    assert (run.status, run.error) == (RunStatus.FAILED, "KeyError: 'segmenter'")


@pytest.mark.django_db
def test_a_lost_connection_is_left_to_the_retry_then_fails_the_run(
    tmp_path: Path, project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(import_actions, "store_traces", failing_store(OperationalError("server closed the connection")))
    with pytest.raises(OperationalError):
        do_import(project, write_traces(tmp_path / "t.jsonl"), "jsonl")
    run = Run.objects.get()
    assert run.status == RunStatus.RUNNING  # not failed: the task retries on a new connection

    give_up_import(run.pk, OperationalError("server closed the connection"))  # the last retry failed too
    run.refresh_from_db()
    assert (run.status, run.error) == (RunStatus.FAILED, "OperationalError: server closed the connection")


@pytest.mark.django_db
def test_an_unreadable_file_fails_the_run_naming_the_file_only(tmp_path: Path, project) -> None:
    folder = tmp_path / "server" / "side"
    folder.mkdir(parents=True)
    with pytest.raises(ImportFailed, match="cannot read the file"):
        do_import(project, folder, "jsonl")  # a folder: IsADirectoryError
    run = Run.objects.get()
    assert run.status == RunStatus.FAILED and run.error.startswith("side: cannot read the file")
    assert str(tmp_path) not in run.error


# --- Analysis interrupted, reported, resumed --------------------------------------------------------


def break_analysis_after(monkeypatch: pytest.MonkeyPatch, batches: int, error: BaseException) -> None:
    """Analyse 2 traces a batch and raise ``error`` once ``batches`` batches are stored."""
    monkeypatch.setattr(analysis_actions, "BATCH_SIZE", 2)
    real = analysis_actions._store
    stored = {"count": 0}

    def store(batch: Any, reports: Any) -> None:
        if stored["count"] == batches:
            raise error
        real(batch, reports)
        stored["count"] += 1

    monkeypatch.setattr(analysis_actions, "_store", store)


@pytest.mark.django_db
def test_an_interrupted_analysis_is_not_reported_as_success(tmp_path: Path, project, monkeypatch: pytest.MonkeyPatch) -> None:
    break_analysis_after(monkeypatch, 2, OperationalError("terminating connection due to administrator command"))
    with pytest.raises(OperationalError):
        do_import(project, write_traces(tmp_path / "t.jsonl"), "jsonl", analyze=True)
    run = Run.objects.get()
    assert run.status == RunStatus.RUNNING
    assert run.report["traces_created"] == TRACES and run.report["analysis"] == {"done": 4, "total": TRACES}

    give_up_import(run.pk, OperationalError("terminating connection due to administrator command"))
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.error.startswith("Analysis stopped after 4 of 10 traces (OperationalError: terminating connection")
    assert "manage.py analyze --project test" in run.error and resumable(run)


@pytest.mark.django_db
def test_a_retried_import_task_resumes_the_analysis_without_importing_again(
    tmp_path: Path, project, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_traces(tmp_path / "t.jsonl")
    run = Run.objects.create(project=project, kind=RunKind.IMPORT, source_file=str(path), source_format="jsonl")
    with monkeypatch.context() as patched:
        break_analysis_after(patched, 3, OperationalError("gone"))
        with pytest.raises(OperationalError):
            run_import_job(run.pk)
    analysed_before = set(TraceAnalysis.objects.values_list("trace_id", flat=True))
    assert len(analysed_before) == 6

    run_import_job(run.pk)  # the retry

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.error == ""
    assert Trace.objects.count() == TRACES and TraceAnalysis.objects.count() == TRACES
    assert run.report["analysis"] == {"done": TRACES, "total": TRACES} and run.report["traces_created"] == TRACES


@pytest.mark.django_db
def test_manage_py_analyze_finishes_a_stopped_analysis(tmp_path: Path, project, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patched:
        break_analysis_after(patched, 1, OperationalError("gone"))
        with pytest.raises(OperationalError):
            do_import(project, write_traces(tmp_path / "t.jsonl"), "jsonl", analyze=True)
    run = Run.objects.get()
    give_up_import(run.pk, OperationalError("gone"))

    out = StringIO()
    call_command("analyze", project="test", stdout=out, stderr=StringIO())

    run.refresh_from_db()
    assert "Analysed 8 traces" in out.getvalue() and "1 import runs whose analysis had stopped" in out.getvalue()
    assert (run.status, run.error, run.report["analysis"]) == (RunStatus.SUCCEEDED, "", {"done": 10, "total": 10})


@pytest.mark.django_db
def test_resume_queues_the_rest_of_a_stopped_analysis(
    tmp_path: Path, project, monkeypatch: pytest.MonkeyPatch, eager_celery, django_capture_on_commit_callbacks
) -> None:
    with monkeypatch.context() as patched:
        break_analysis_after(patched, 1, OperationalError("gone"))
        with pytest.raises(OperationalError):
            do_import(project, write_traces(tmp_path / "t.jsonl"), "jsonl", analyze=True)
    run = Run.objects.get()
    give_up_import(run.pk, OperationalError("gone"))
    run.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        assert do_resume(run)

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and TraceAnalysis.objects.count() == TRACES
    assert not do_resume_analysis(run)  # nothing left to resume


@pytest.mark.django_db
def test_a_bad_analysis_fails_the_run_saying_how_far_it_got(tmp_path: Path, project, monkeypatch: pytest.MonkeyPatch) -> None:
    break_analysis_after(monkeypatch, 1, ValueError("engine bug"))
    with pytest.raises(ValueError):
        do_import(project, write_traces(tmp_path / "t.jsonl"), "jsonl", analyze=True)
    run = Run.objects.get()
    assert run.status == RunStatus.FAILED
    assert run.error.startswith("Analysis stopped after 2 of 10 traces (ValueError: engine bug)")
