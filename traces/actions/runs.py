"""What every kind of job shares about its Run row's status (SPEC §1 Run): generation chunks,
Monte Carlo and judge runs all start, stop when cancelled, and fail the same way."""

from __future__ import annotations

from django.db import InterfaceError, OperationalError
from django.utils import timezone

from traces.models import Run, RunStatus

#: A run in one of these states is waiting for or held by a worker; cancelling moves it out.
ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)


def mark_started(run: Run) -> None:
    """Queued → running, and the start time of the run's first task (kept by later ones)."""
    Run.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(status=RunStatus.RUNNING, error="")
    Run.objects.filter(pk=run.pk, started_at__isnull=True).update(started_at=timezone.now())
    run.refresh_from_db(fields=["status", "error", "started_at"])


def is_stopped(run_id: int) -> bool:
    """Whether the run left the active states while a task worked on it (cancelled, failed)."""
    return Run.objects.filter(pk=run_id).exclude(status__in=ACTIVE).exists()


def mark_finished(run_id: int, status: str, error: str = "") -> None:
    Run.objects.filter(pk=run_id).update(status=status, error=error, finished_at=timezone.now())


def fail_run(run_id: int, error: BaseException) -> None:
    """Fail an active run with the error's text (a job's own error, or a task's retries spent)."""
    Run.objects.filter(pk=run_id, status__in=ACTIVE).update(
        status=RunStatus.FAILED, error=error_text(error), finished_at=timezone.now()
    )


def error_text(error: BaseException) -> str:
    """How a run records the error that failed it."""
    return f"{type(error).__name__}: {error}"[:2000]


#: The database connection was lost (the server restarted, or a proxy dropped it): not the job's
#: fault. Job bodies let these through untouched and their tasks retry with a new connection.
DATABASE_GONE = (OperationalError, InterfaceError)
