"""``manage.py sweep_uploads``: delete the uploaded files no import needs any more."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from traces.actions.uploads import sweep_uploads


class Command(BaseCommand):
    help = (
        "Delete uploaded import files that no import needs: those whose import succeeded, and those whose "
        "import failed more than THINKSCOPE_FAILED_UPLOAD_RETENTION_HOURS ago. Every import task does the "
        "same before it starts; run this from cron when imports are rare."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        swept = sweep_uploads()
        hours = settings.THINKSCOPE_FAILED_UPLOAD_RETENTION_HOURS
        self.stdout.write(f"Deleted {len(swept)} uploaded files (failed imports keep theirs {hours:g} hours).")
