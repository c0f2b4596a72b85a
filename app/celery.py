"""The Celery application.

Configuration comes from Django settings under the ``CELERY_`` namespace; see ``app/settings.py``
for the broker choice (Redis when ``REDIS_URL`` is set, kombu's filesystem transport otherwise).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")

celery_app = Celery("thinkscope")
celery_app.config_from_object("django.conf:settings", namespace="CELERY")
celery_app.autodiscover_tasks(["workers"])
