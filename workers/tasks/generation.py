"""Tasks of the `gpu` queue that generate traces (issue 5 §1, §3)."""

from __future__ import annotations

from celery import Task, shared_task

from traces.actions.generation import generate_chunk, record_failure
from workers.backends.base import BackendUnavailable
from workers.backends.registry import backend_for

#: Retries of a chunk whose backend cannot run yet (a server still starting, weights converting),
#: waiting 10 s, 20 s, 40 s … at most 5 minutes; then the run fails with the backend's message.
MAX_BACKEND_RETRIES = 5


@shared_task(bind=True, name="workers.tasks.gpu_generate_chunk", max_retries=MAX_BACKEND_RETRIES)
def gpu_generate_chunk(self: Task, run_id: int, problem_ids: list[int]) -> None:
    """Generate the samples a chunk of a run's problems still lacks (idempotent: safe to redeliver)."""
    try:
        generate_chunk(run_id, problem_ids, backend_for)
    except BackendUnavailable as error:
        if self.request.retries >= MAX_BACKEND_RETRIES:
            record_failure(run_id, problem_ids, error)
            return
        raise self.retry(exc=error, countdown=min(300, 10 * 2**self.request.retries)) from None
