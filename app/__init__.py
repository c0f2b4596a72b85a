"""thinkscope's Django project package: settings, URLs and the Celery app."""

from app.celery import celery_app

__all__ = ["celery_app"]
