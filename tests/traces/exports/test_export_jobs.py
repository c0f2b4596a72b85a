"""Export jobs (issue 7): a Run of kind export, written by a worker into DATA_DIR/exports/<run id>/.

Expected rows are computed here from the synthetic specs (``export_helpers.synthetic_trace``) or
from the sample file, never from the export code's own output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from export_helpers import SYNTHETIC_SOURCE, read_jsonl, seed_traces

from traces.actions.exports import (
    ExportFailed,
    ExportFilters,
    ExportSpec,
    RequestRejected,
    check_spec,
    do_export,
    do_start_export,
    export_dir,
    export_file,
)
from traces.actions.imports import do_import
from traces.exports.policy import LabelPolicy
from traces.models import Project, Run, RunKind, RunStatus, Trace

STEPS = 3


@pytest.fixture
def data_dir(settings, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path
    return tmp_path


def expected_trl_rows(count: int) -> list[dict[str, object]]:
    """``synthetic_trace(i)`` as TRL rows: its steps, the last one false on every third trace."""
    rows = []
    for i in range(count):
        completions = [f"Trace {i}, step {k}: carry on." for k in range(STEPS)]
        labels = [True] * (STEPS - 1) + [i % 3 != 0]
        rows.append({"prompt": f"Problem {i}: what is {i} + {i}?", "completions": completions, "labels": labels})
    return rows


@pytest.mark.django_db
def test_a_started_export_runs_as_a_job_and_records_its_manifest(
    project, owner, data_dir, eager_celery, django_capture_on_commit_callbacks
) -> None:
    seed_traces(project, 12, steps=STEPS)
    spec = ExportSpec("trl", LabelPolicy(sources=SYNTHETIC_SOURCE))

    with django_capture_on_commit_callbacks(execute=True):
        run = do_start_export(project, spec, user=owner)

    run.refresh_from_db()
    assert (run.kind, run.status, run.error, run.created_by) == (RunKind.EXPORT, RunStatus.SUCCEEDED, "", owner)
    assert run.params["format"] == "trl" and run.params["policy"]["sources"] == SYNTHETIC_SOURCE
    assert run.progress_total == run.progress_done == 12
    folder = data_dir / "exports" / str(run.pk)
    assert export_dir(run) == folder
    assert read_jsonl(folder / "train.jsonl") == expected_trl_rows(12)
    on_disk = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert run.report == on_disk
    assert on_disk["rows_written"] == 12 and on_disk["policy"]["sources"] == SYNTHETIC_SOURCE
    assert on_disk["query"] == {"project": project.slug}
    assert export_file(run, "train") == folder / "train.jsonl"
    assert export_file(run, "manifest") == folder / "manifest.json"


@pytest.mark.django_db
def test_filters_and_split_are_applied_and_the_same_spec_gives_the_same_bytes(project, data_dir) -> None:
    seed_traces(project, 30, problems=10, steps=STEPS)
    incorrect = Trace.objects.filter(project=project).order_by("id")[:4]
    Trace.objects.filter(pk__in=[t.pk for t in incorrect]).update(is_correct=False)
    spec = ExportSpec(
        "trl",
        LabelPolicy(sources=SYNTHETIC_SOURCE, test_fraction=0.3, seed=7),
        ExportFilters(correct="no"),
    )
    manifests = []
    for _ in range(2):
        run = Run.objects.create(project=project, kind=RunKind.EXPORT, params=spec.as_params())
        manifests.append(do_export(run))
    first, second = manifests
    assert first.traces_read == 4 and first.query == {"project": project.slug, "correct": "no"}
    assert sum(f.rows for f in first.files) == 4
    assert [(f.name, f.sha256) for f in first.files] == [(f.name, f.sha256) for f in second.files]


@pytest.mark.django_db
def test_a_job_that_cannot_write_its_files_fails_with_the_reason(project, data_dir) -> None:
    seed_traces(project, 2, steps=STEPS)
    spec = ExportSpec("trl", LabelPolicy(sources=SYNTHETIC_SOURCE))
    run = Run.objects.create(project=project, kind=RunKind.EXPORT, params=spec.as_params())
    (data_dir / "exports").mkdir()
    (data_dir / "exports" / str(run.pk)).write_text("a file where the folder should be")

    with pytest.raises(ExportFailed):
        do_export(run)

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.finished_at is not None
    assert str(run.pk) in run.error
    with pytest.raises(RequestRejected, match="has not succeeded"):
        export_file(run, "train")


@pytest.mark.django_db
def test_bad_specs_are_rejected_naming_the_field(project) -> None:
    seed_traces(project, 1, steps=STEPS)
    policy = LabelPolicy(sources=SYNTHETIC_SOURCE)
    cases = [
        (ExportSpec("parquet_please", policy), "format", "unknown export format"),
        (ExportSpec("prm800k", policy, step_separator=" "), "step_separator", "TRL formats only"),
        (ExportSpec("trl", policy, ExportFilters(model="nope")), "model", "no model named 'nope'"),
        (ExportSpec("trl", policy, ExportFilters(run=10**9)), "run", f"no run {10**9}"),
    ]
    for spec, field, message in cases:
        with pytest.raises(RequestRejected) as rejected:
            check_spec(project, spec)
        assert rejected.value.field == field and message in rejected.value.message
    assert not Run.objects.filter(kind=RunKind.EXPORT).exists()


@pytest.mark.django_db
def test_only_the_files_of_the_export_can_be_named(project, data_dir) -> None:
    seed_traces(project, 3, steps=STEPS)
    run = Run.objects.create(
        project=project,
        kind=RunKind.EXPORT,
        params=ExportSpec("trl", LabelPolicy(sources=SYNTHETIC_SOURCE)).as_params(),
    )
    do_export(run)
    for name in ("test", "../manifest", "train.jsonl", ""):
        with pytest.raises(RequestRejected, match="choose one of train, manifest"):
            export_file(run, name)
    (export_dir(run) / "train.jsonl").unlink()
    with pytest.raises(RequestRejected, match="no longer on the server"):
        export_file(run, "train")


def test_an_export_job_runs_in_a_worker_process(celery_worker_process, wait_for, shared_data: Path) -> None:
    sample = shared_data / "processbench" / "math.jsonl"
    records = [json.loads(line) for line in sample.open(encoding="utf-8")]
    project = Project.objects.create(name="Worker export", slug="worker-export")
    do_import(project, sample, "processbench")

    run = do_start_export(project, ExportSpec("processbench", LabelPolicy(sources="import:processbench")))

    finished = wait_for(
        lambda: Run.objects.filter(pk=run.pk).exclude(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).first()
    )
    assert finished.status == RunStatus.SUCCEEDED, finished.error
    exported = read_jsonl(export_file(finished, "train"))
    assert finished.report["rows_written"] == len(records)
    fields = ("id", "generator", "problem", "steps", "final_answer_correct", "label")
    assert [{f: r[f] for f in fields} for r in exported] == [{f: r[f] for f in fields} for r in records]
