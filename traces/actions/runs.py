"""What every kind of job shares about its Run row's status (docs/concepts.md §1 Run): generation chunks,
Monte Carlo and judge runs all start, stop when cancelled, and fail the same way."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from traces.models import Run, RunStatus

#: A run in one of these states is waiting for or held by a worker; cancelling moves it out.
ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)

#: Seconds between two writes of a run's live engine progress.
LIVE_INTERVAL = 1.0


class RunCancelled(Exception):
    """The run was cancelled (or finished elsewhere) while a task worked on it."""


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


# --- Live progress of the engine ---------------------------------------------------------------


class LiveProgress:
    """What a task tells a run's job page while the engine works, and where it stops a cancelled run.

    :meth:`engine_call` gives the progress callback of one backend call (``GenerationBackend``'s
    ``progress``). The backends call it after each engine batch (a transformers batch, an OpenAI
    request), and it then raises :class:`RunCancelled` when the run left the active states, so the
    call stops there and nothing of it is stored; otherwise it writes the call's progress into
    ``report["engine"]``, at most every :data:`LIVE_INTERVAL` seconds (and when the call starts):
    completions done of the call's total, the run's units they stand for (``units``: traces of a
    generation batch, the one trace of a Monte Carlo call), tokens and seconds so far. Whatever
    commits the call's results drops ``report["engine"]`` (:func:`without_engine`).
    """

    def __init__(self, run_id: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.run_id = run_id
        self.clock = clock
        self.written_at: float | None = None

    def engine_call(self, completions: int, units: float) -> Callable[..., None]:
        """The callback of one backend call that will finish ``completions`` completions."""
        started, started_at = self.clock(), timezone.now().isoformat()
        state = {"done": 0, "tokens": 0}

        def progress(done: int, tokens: int = 0) -> None:
            state["done"] += done
            state["tokens"] += tokens
            if is_stopped(self.run_id):
                raise RunCancelled(f"run {self.run_id} was cancelled")
            self._write(dict(state, total=completions, units=units, started=started_at), started)

        self._write({"done": 0, "tokens": 0, "total": completions, "units": units, "started": started_at}, started)
        return progress

    def _write(self, engine: dict[str, Any], started: float) -> None:
        now = self.clock()
        if self.written_at is not None and now - self.written_at < LIVE_INTERVAL:
            return
        self.written_at = now
        engine["seconds"] = round(now - started, 2)
        with transaction.atomic():
            run = Run.objects.select_for_update().filter(pk=self.run_id, status=RunStatus.RUNNING).first()
            if run is not None:
                Run.objects.filter(pk=run.pk).update(report={**run.report, "engine": engine})


def without_engine(report: dict[str, Any]) -> dict[str, Any]:
    """A run's report without the live progress of an engine call whose results are committed."""
    return {key: value for key, value in report.items() if key != "engine"}
