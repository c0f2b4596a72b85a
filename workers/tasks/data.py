"""Tasks of the `default` queue over stored data: imports, analysis, exports."""

from __future__ import annotations

import logging

from celery import Task, shared_task

from traces import jobs
from traces.actions.analysis import analyze_traces, needing_analysis
from traces.actions.exports import ExportFailed, do_export
from traces.actions.imports import give_up_import, run_import_job
from traces.models import Run, RunKind, RunStatus, Trace
from workers.tasks.retries import MAX_RETRIES, run_retrying

logger = logging.getLogger(__name__)


@shared_task(bind=True, name=jobs.IMPORT_FILE, max_retries=MAX_RETRIES)
def import_file(self: Task, run_id: int) -> None:
    """Run a queued import, then analyse its traces (a retried or redelivered task resumes the
    analysis). A bad file fails the Run and is never retried; a lost database connection is."""
    run_retrying(self, lambda: run_import_job(run_id), lambda error: give_up_import(run_id, error))


@shared_task(bind=True, name=jobs.ANALYZE_RUN, max_retries=MAX_RETRIES)
def analyze_run(self: Task, run_id: int) -> None:
    """Analyse a run's traces not yet analysed by this engine version (idempotent: safe to redeliver).

    A lost database connection is retried; after the last retry the traces left stay for
    ``manage.py analyze``, and the worker's log says so.
    """
    run_retrying(
        self,
        lambda: analyze_traces(needing_analysis(Trace.objects.filter(run_id=run_id))),
        lambda error: logger.error("analysis of run %s stopped (%s): run `manage.py analyze`", run_id, error),
    )


@shared_task(name=jobs.EXPORT_RUN)
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
