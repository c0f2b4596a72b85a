"""What the worker tasks retry, and how.

Two errors may pass by themselves: the backend cannot run yet (BackendUnavailable: a model server
still starting, weights converting) and the database connection was lost (a restarted database,
``traces.actions.runs.DATABASE_GONE``). Job bodies are idempotent, so a retry resumes where the
last attempt stopped. Anything else is the job's own failure, which the body records on its Run.
"""

from __future__ import annotations

from collections.abc import Callable

from celery import Task
from django.db import connections

from traces.actions.runs import DATABASE_GONE
from traces.backends import BackendUnavailable

#: Retries before the run fails with the last error (about 10 minutes for a backend, 1 for a database).
MAX_RETRIES = 5


def run_retrying(task: Task, body: Callable[[], object], give_up: Callable[[BaseException], None]) -> None:
    """Run ``body``; on a passing error, retry the task (backend: 10 s, 20 s … at most 5 min;
    database: 2 s, 4 s … on a new connection); after ``MAX_RETRIES``, ``give_up(error)``."""
    try:
        body()
    except (BackendUnavailable, *DATABASE_GONE) as error:
        lost_database = isinstance(error, DATABASE_GONE)
        if lost_database:
            connections.close_all()  # the next query opens a new connection
        if task.request.retries >= MAX_RETRIES:
            give_up(error)
            return
        first_wait = 2 if lost_database else 10
        raise task.retry(exc=error, countdown=min(300, first_wait * 2**task.request.retries)) from None
