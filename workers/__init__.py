"""Celery tasks and generation backends (STYLE.md §8–9)."""
