"""Process reward models on a worker (docs/concepts.md §5): training with transformers' ``Trainer``
(:mod:`workers.prm.training`) and scoring steps in batches (:mod:`workers.prm.scoring`).

Both import torch and transformers: only tasks and commands import them, inside the functions that
compute, never the web process.
"""
