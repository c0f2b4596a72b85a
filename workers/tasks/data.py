"""Tasks of the `default` queue over stored data: imports, analysis, exports."""

from __future__ import annotations

from pathlib import Path

from celery import shared_task

from traces.actions.analysis import analyze_traces, needing_analysis
from traces.actions.exports import ExportFailed, do_export
from traces.actions.imports import ImportFailed, do_import
from traces.models import Run, RunKind, RunStatus, Trace


@shared_task(name="workers.tasks.import_file")
def import_file(run_id: int) -> None:
    """Run a queued import, then analyse its traces; a bad file fails the Run, it is never retried."""
    run = Run.objects.filter(pk=run_id, status=RunStatus.QUEUED).select_related("project").first()
    if run is None:
        return
    try:
        do_import(
            run.project,
            Path(run.source_file),
            run.source_format,
            skip_invalid=bool(run.params.get("skip_invalid")),
            run=run,
        )
    except ImportFailed:
        return
    analyze_run(run_id)


@shared_task(name="workers.tasks.analyze_run")
def analyze_run(run_id: int) -> None:
    """Analyse a run's traces not yet analysed by this engine version (idempotent: safe to redeliver)."""
    analyze_traces(needing_analysis(Trace.objects.filter(run_id=run_id)))


@shared_task(name="workers.tasks.export_run")
def export_run(run_id: int) -> None:
    """Run a queued export; a failure is recorded on the Run, it is never retried.

    A RUNNING export is run again from the start: that is the broker redelivering the task of a worker
    that died mid-export (acks_late, reject_on_worker_lost); its files are rewritten whole.
    """
    active = (RunStatus.QUEUED, RunStatus.RUNNING)
    run = Run.objects.filter(pk=run_id, kind=RunKind.EXPORT, status__in=active).select_related("project").first()
    if run is None:
        return
    try:
        do_export(run)
    except ExportFailed:
        return
