"""Imports queued from the API or UI run in a real Celery worker process (issue 5, item 1)."""

from __future__ import annotations

import json
from pathlib import Path

from traces.actions.imports import do_enqueue_import
from traces.models import Label, Project, Run, RunStatus, Step, Trace, TraceAnalysis


def test_queued_import_runs_in_a_worker_process(celery_worker_process, wait_for, shared_data: Path) -> None:  # type: ignore[no-untyped-def]
    sample = shared_data / "processbench" / "gsm8k.jsonl"
    records = [json.loads(line) for line in sample.open(encoding="utf-8")]
    project = Project.objects.create(name="Worker", slug="worker")

    run = do_enqueue_import(project, sample, "processbench")

    finished = wait_for(lambda: Run.objects.filter(pk=run.pk).exclude(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).first())
    assert finished.status == RunStatus.SUCCEEDED, finished.error
    assert Trace.objects.filter(run=run).count() == len(records)
    assert Step.objects.filter(trace__run=run).count() == sum(len(r["steps"]) for r in records)
    # ProcessBench labels: every step up to and including the first error, or all steps when there is none.
    rated = sum(len(r["steps"]) if r["label"] == -1 else r["label"] + 1 for r in records)
    assert Label.objects.filter(trace__run=run).count() == rated
    # The worker analyses what it imported (issue 4: analysis runs automatically after import).
    wait_for(lambda: TraceAnalysis.objects.filter(trace__run=run).count() == len(records))


def test_a_bad_file_fails_the_run_in_the_worker(celery_worker_process, wait_for, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "2+2?", "completion": "4"}\n{"prompt": 7}\n', encoding="utf-8")
    project = Project.objects.create(name="Worker", slug="worker")

    run = do_enqueue_import(project, bad, "jsonl")

    failed = wait_for(lambda: Run.objects.filter(pk=run.pk, status=RunStatus.FAILED).first())
    assert "line 2" in failed.error and "prompt" in failed.error
    assert not Trace.objects.filter(project=project).exists()
