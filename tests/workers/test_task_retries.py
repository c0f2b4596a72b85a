"""What the gpu tasks retry and when they give up (workers/tasks/retries.py; issue 9 §4: a model
server's errors or a lost database make a run retry visibly, then fail with the error, never hang)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.db import OperationalError

from traces.backends import BackendUnavailable
from workers.tasks.retries import MAX_RETRIES, run_retrying


class Retry(Exception):
    """Stands for celery's Retry: what ``task.retry`` raises to reschedule the task."""


def task_at(retries: int) -> SimpleNamespace:
    calls: list[dict[str, object]] = []

    def retry(**options: object) -> Retry:
        calls.append(options)
        return Retry()

    return SimpleNamespace(request=SimpleNamespace(retries=retries), retry=retry, calls=calls)


def failing(error: BaseException):
    def body() -> None:
        raise error

    return body


@pytest.mark.parametrize(
    ("error", "first_wait"), [(BackendUnavailable("server starting"), 10), (OperationalError("gone"), 2)]
)
def test_passing_errors_are_retried_with_growing_waits(error: BaseException, first_wait: int) -> None:
    for attempt in range(MAX_RETRIES):
        task = task_at(attempt)
        given_up: list[BaseException] = []
        with pytest.raises(Retry):
            run_retrying(task, failing(error), given_up.append)
        assert task.calls == [{"exc": error, "countdown": min(300, first_wait * 2**attempt)}] and given_up == []


def test_after_the_last_retry_the_run_fails_with_the_error() -> None:
    error = BackendUnavailable("POST http://gpu-box:8000/v1/chat/completions failed after 6 attempts; last: 503")
    task, given_up = task_at(MAX_RETRIES), []
    run_retrying(task, failing(error), given_up.append)
    assert given_up == [error] and task.calls == []


def test_other_errors_are_the_jobs_own_and_propagate() -> None:
    task, given_up = task_at(0), []
    with pytest.raises(ValueError, match="bad params"):
        run_retrying(task, failing(ValueError("bad params")), given_up.append)
    assert task.calls == [] and given_up == []
