"""The worker tasks that actions queue, by name (docs/concepts.md §1 Run: every job is a Run row).

``workers`` imports ``traces`` and never the reverse: the tasks in ``workers/tasks`` register under
the names below, and an action queues one by its name. Each name is written once, here.

Routing is by name too: ``workers.tasks.gpu_*`` go to the `gpu` queue (``CELERY_TASK_ROUTES``).
"""

from __future__ import annotations

from app.celery import celery_app

IMPORT_FILE = "workers.tasks.import_file"
ANALYZE_RUN = "workers.tasks.analyze_run"
EXPORT_RUN = "workers.tasks.export_run"
GENERATE_CHUNK = "workers.tasks.gpu_generate_chunk"
MC_ROLLOUTS = "workers.tasks.gpu_mc_rollouts"
JUDGE = "workers.tasks.gpu_judge"
TRAIN_PRM = "workers.tasks.gpu_train_prm"
SCORE_PRM = "workers.tasks.gpu_score_prm"

#: Every task an action may queue.
TASKS = (IMPORT_FILE, ANALYZE_RUN, EXPORT_RUN, GENERATE_CHUNK, MC_ROLLOUTS, JUDGE, TRAIN_PRM, SCORE_PRM)


def enqueue(task: str, *args: int | list[int]) -> None:
    """Queue ``task`` (one of :data:`TASKS`) with ``args`` (row ids).

    A signature of the task registered under that name (``workers.apps`` imports the task modules
    in every process), so ``CELERY_TASK_ALWAYS_EAGER`` runs it inline as it would ``task.delay``;
    Celery's ``send_task`` ignores that setting.
    """
    if task not in TASKS:
        raise ValueError(f"unknown worker task {task!r}; the tasks are {', '.join(TASKS)}")
    celery_app.signature(task, args=args).apply_async()
