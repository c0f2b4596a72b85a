"""Tasks of the `gpu` queue for process reward models (docs/concepts.md §5): training one
(``gpu_train_prm``) and scoring steps with one (``gpu_score_prm``).

Each takes a Run id and calls its action's body with the worker's half: the trainer and the model
loader of ``workers.prm``, imported inside the task (torch and transformers load in the worker that
runs one, never in the web process, which registers these tasks too). A scoring task resumes after
the last trace written; a training task delivered again trains again. What they retry is in
``workers.tasks.retries``.
"""

from __future__ import annotations

from pathlib import Path

from celery import Task, shared_task
from django.conf import settings

from traces import jobs
from traces.actions.prm_scoring import run_prm_scoring
from traces.actions.prm_training import run_prm_training
from traces.actions.runs import fail_run
from workers.tasks.retries import MAX_RETRIES, run_retrying


def base_folder(endpoint_name: str) -> Path:
    """The model folder of a transformers endpoint: its ``path``, or the converted embedded model."""
    from workers.backends.embedded import embedded_model_dir

    endpoint = settings.MODEL_ENDPOINTS[endpoint_name]
    return Path(endpoint.path) if endpoint.path else embedded_model_dir(Path(settings.MODEL_CACHE_DIR))


def train(run_id: int) -> object:
    from workers.prm.training import train_prm

    return run_prm_training(run_id, train_prm, base_folder)


def score(run_id: int) -> object:
    from workers.prm.scoring import prm_for

    return run_prm_scoring(run_id, prm_for)


@shared_task(bind=True, name=jobs.TRAIN_PRM, acks_late=True, max_retries=MAX_RETRIES)
def gpu_train_prm(self: Task, run_id: int) -> None:
    """Train a PRM from a project's step labels (docs/concepts.md §5.2)."""
    run_retrying(self, lambda: train(run_id), lambda error: fail_run(run_id, error))


@shared_task(bind=True, name=jobs.SCORE_PRM, acks_late=True, max_retries=MAX_RETRIES)
def gpu_score_prm(self: Task, run_id: int) -> None:
    """Score every step of a run's traces with a PRM (docs/concepts.md §5.3)."""
    run_retrying(self, lambda: score(run_id), lambda error: fail_run(run_id, error))
