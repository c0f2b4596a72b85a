"""Imports queued from the API or UI run in a real Celery worker process (issue 5, item 1)."""

from __future__ import annotations

import json
from pathlib import Path

from traces.actions.imports import do_enqueue_import
from traces.models import Label, Project, Run, RunStatus, Step, Trace, TraceAnalysis


def test_queued_import_runs_in_a_worker_process(celery_worker_process, wait_for, shared_data: Path) -> None:
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


def test_a_bad_file_fails_the_run_in_the_worker(celery_worker_process, wait_for, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "2+2?", "completion": "4"}\n{"prompt": 7}\n', encoding="utf-8")
    project = Project.objects.create(name="Worker", slug="worker")

    run = do_enqueue_import(project, bad, "jsonl")

    failed = wait_for(lambda: Run.objects.filter(pk=run.pk, status=RunStatus.FAILED).first())
    assert "line 2" in failed.error and "prompt" in failed.error
    assert not Trace.objects.filter(project=project).exists()


def write_traces(path: Path, count: int) -> Path:
    """``count`` short generic-JSONL traces of distinct problems."""
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            out.write(json.dumps({"prompt": f"What is {i} + 1?", "completion": f"{i} + 1 = {i + 1}. So {i + 1}.",
                                  "reference_answer": str(i + 1), "model": "m"}) + "\n")  # fmt: skip
    return path


def finished(run: Run) -> Run | None:
    return Run.objects.filter(pk=run.pk).exclude(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).first()


def test_a_queued_import_shows_running_until_its_analysis_ends(celery_worker_process, wait_for, tmp_path: Path) -> None:
    """The job page polls the Run: ``running`` is committed before the file is read, and the Run
    succeeds only once its traces are analysed."""
    project = Project.objects.create(name="Worker", slug="worker")
    lines = 3000
    run = do_enqueue_import(project, write_traces(tmp_path / "many.jsonl", lines), "jsonl")

    wait_for(lambda: Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING).exists(), interval=0.02)
    succeeded = wait_for(lambda: finished(run))

    assert succeeded.status == RunStatus.SUCCEEDED, succeeded.error
    assert TraceAnalysis.objects.filter(trace__run=run).count() == lines  # all analysed when it says succeeded
    assert succeeded.report["analysis"] == {"done": lines, "total": lines}


def test_two_workers_importing_one_file_both_finish_and_store_it_once(start_workers, wait_for, tmp_path: Path) -> None:
    """The second import meets the first one's problems under a unique key: it reads the file again
    and skips them as duplicates, instead of staying queued."""
    project = Project.objects.create(name="Worker", slug="worker")
    lines = 3000
    path = write_traces(tmp_path / "same.jsonl", lines)
    start_workers()
    start_workers(purge=False)

    runs = [do_enqueue_import(project, path, "jsonl"), do_enqueue_import(project, path, "jsonl")]

    done = [wait_for(lambda run=run: finished(run), timeout=300) for run in runs]
    assert [run.status for run in done] == [RunStatus.SUCCEEDED] * 2, [run.error for run in done]
    assert sorted(run.report["traces_created"] for run in done) == [0, lines]
    assert sorted(run.report["duplicates_skipped"] for run in done) == [0, lines]
    assert Trace.objects.filter(project=project).count() == lines
