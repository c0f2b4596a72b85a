"""Celery tasks and generation backends."""
