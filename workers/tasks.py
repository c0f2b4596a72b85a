"""Celery tasks (STYLE.md §8): take ids, load the row (return quietly if it is gone), call one action.

Routing: tasks named ``gpu_*`` go to the `gpu` queue (settings.CELERY_TASK_ROUTES), the rest to
`default`. Job status lives on the Run row, never in a result backend.
"""

from __future__ import annotations

from pathlib import Path

from celery import shared_task

from traces.actions.imports import ImportFailed, do_import
from traces.models import Run, RunStatus


@shared_task(name="workers.tasks.import_file")
def import_file(run_id: int) -> None:
    """Run a queued import; a bad file fails the Run (recorded on it), it is never retried."""
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
