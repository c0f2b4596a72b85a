"""A database restart during an import is survived: the worker's PostgreSQL connection is killed
(``pg_terminate_backend``, what a restarted server does to its clients) while it imports a file or
analyses what it imported; the task retries on a new connection, the Run says ``running`` until
every trace is stored once and analysed, then succeeds. PostgreSQL only: SQLite has no server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.db import connection
from test_database_restart import WORKER_APP, kill_worker_connections

from traces.actions.imports import do_enqueue_import
from traces.models import Project, Run, RunStatus, Trace, TraceAnalysis

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs a database server to restart (PostgreSQL)")

LINES = 6000


def write_traces(path: Path) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for i in range(LINES):
            out.write(json.dumps({"prompt": f"What is {i} + 1?", "completion": f"{i} + 1 = {i + 1}. So {i + 1}.",
                                  "reference_answer": str(i + 1), "model": "m"}) + "\n")  # fmt: skip
    return path


def settled(run: Run) -> Run | None:
    return Run.objects.filter(pk=run.pk).exclude(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).first()


def assert_complete(run: Run, worker_log: Path) -> None:
    """The Run succeeded with every line stored once and analysed, thanks to a retry."""
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert Trace.objects.filter(run=run).count() == LINES
    assert Trace.objects.filter(project=run.project).values("content_hash").distinct().count() == LINES
    assert TraceAnalysis.objects.filter(trace__run=run).count() == LINES
    assert run.report["traces_created"] == LINES and run.report["analysis"] == {"done": LINES, "total": LINES}
    log = worker_log.read_text()
    assert "Retry in 2s" in log and "OperationalError" in log


def test_an_import_survives_its_workers_database_connection_dying(start_workers, wait_for, tmp_path: Path) -> None:
    project = Project.objects.create(name="Restart", slug="restart")
    start_workers({"PGAPPNAME": WORKER_APP})
    run = do_enqueue_import(project, write_traces(tmp_path / "big.jsonl"), "jsonl")
    wait_for(lambda: Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING).exists(), interval=0.02)
    assert not Trace.objects.filter(run=run).exists()  # the import's transaction is still open
    assert kill_worker_connections() >= 1

    assert_complete(wait_for(lambda: settled(run), timeout=300), tmp_path / "worker-0.log")


def test_an_interrupted_analysis_resumes_and_is_never_reported_done_early(start_workers, wait_for, tmp_path: Path) -> None:
    project = Project.objects.create(name="Restart", slug="restart")
    start_workers({"PGAPPNAME": WORKER_APP})
    run = do_enqueue_import(project, write_traces(tmp_path / "big.jsonl"), "jsonl")
    wait_for(lambda: Run.objects.filter(pk=run.pk, report__analysis__done__gt=0).exists(), interval=0.02)
    assert kill_worker_connections() >= 1
    interrupted = Run.objects.get(pk=run.pk)
    assert interrupted.status == RunStatus.RUNNING  # traces stored, analysis partial: not "succeeded"
    assert 0 < interrupted.report["analysis"]["done"] < LINES

    assert_complete(wait_for(lambda: settled(run), timeout=300), tmp_path / "worker-0.log")
