"""Celery tasks: take ids, load the row (return quietly if it is gone), call one action.

Routing: tasks named ``workers.tasks.gpu_*`` go to the `gpu` queue (settings.CELERY_TASK_ROUTES),
the rest to `default`. Job status lives on the Run row, never in a result backend. Task names are
fixed strings (``traces.jobs``, by which actions queue them), so moving a task between the modules
below never strands a queued message.

* :mod:`workers.tasks.data`: imports, analysis, exports (`default`).
* :mod:`workers.tasks.generation`: generation runs, a task per chunk of problems (`gpu`).
* :mod:`workers.tasks.auto_labels`: Monte Carlo and LLM judge step labels, a task per run (`gpu`).
* :mod:`workers.tasks.prm`: training a process reward model, and scoring steps with one (`gpu`).
"""

from workers.tasks.auto_labels import gpu_judge, gpu_mc_rollouts
from workers.tasks.data import analyze_run, export_run, import_file
from workers.tasks.generation import gpu_generate_chunk
from workers.tasks.prm import gpu_score_prm, gpu_train_prm

__all__ = [
    "analyze_run",
    "export_run",
    "gpu_generate_chunk",
    "gpu_judge",
    "gpu_mc_rollouts",
    "gpu_score_prm",
    "gpu_train_prm",
    "import_file",
]
