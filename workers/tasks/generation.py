"""Tasks of the `gpu` queue that generate traces (§3)."""

from __future__ import annotations

from celery import Task, shared_task

from traces import jobs
from traces.actions.generation import generate_chunk, record_failure
from workers.backends.registry import backend_for
from workers.tasks.retries import MAX_RETRIES, run_retrying


@shared_task(bind=True, name=jobs.GENERATE_CHUNK, max_retries=MAX_RETRIES)
def gpu_generate_chunk(self: Task, run_id: int, problem_ids: list[int]) -> None:
    """Generate the samples a chunk of a run's problems still lacks (idempotent: safe to redeliver)."""
    run_retrying(
        self,
        lambda: generate_chunk(run_id, problem_ids, backend_for),
        lambda error: record_failure(run_id, problem_ids, error),
    )
