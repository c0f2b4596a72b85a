from django.apps import AppConfig


class WorkersConfig(AppConfig):
    name = "workers"
    verbose_name = "Workers"

    def ready(self) -> None:
        # The tasks register with Celery in every process, the web's too: actions queue them by name
        # (traces.jobs), and a task queued by name runs inline under CELERY_TASK_ALWAYS_EAGER only when registered.
        from workers import redelivery, tasks  # noqa: F401

        redelivery.connect()
