"""Tasks of the `gpu` queue that label steps automatically: Monte Carlo
rollouts (docs/concepts.md §3.6) and LLM judges (docs/concepts.md §3.7).

Each takes a Run id and calls ``traces.actions.auto_labels.run_auto_labels``, which is idempotent
(a redelivered task resumes after the last trace done), so the tasks acknowledge late; what they
retry is in ``workers.tasks.retries``.
"""

from __future__ import annotations

from celery import Task, shared_task

from traces import jobs
from traces.actions.auto_labels import run_auto_labels
from traces.actions.runs import fail_run
from workers.backends.registry import backend_for
from workers.tasks.retries import MAX_RETRIES, run_retrying


def _run(task: Task, run_id: int) -> None:
    run_retrying(task, lambda: run_auto_labels(run_id, backend_for), lambda error: fail_run(run_id, error))


@shared_task(bind=True, name=jobs.MC_ROLLOUTS, acks_late=True, max_retries=MAX_RETRIES)
def gpu_mc_rollouts(self: Task, run_id: int) -> None:
    """Monte Carlo step labels of a run's traces (docs/concepts.md §3.6)."""
    _run(self, run_id)


@shared_task(bind=True, name=jobs.JUDGE, acks_late=True, max_retries=MAX_RETRIES)
def gpu_judge(self: Task, run_id: int) -> None:
    """LLM judge labels of a run's traces (docs/concepts.md §3.7)."""
    _run(self, run_id)
