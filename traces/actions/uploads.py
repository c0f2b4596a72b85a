"""Files uploaded for import (``POST /api/imports/``): where they wait, and when they are deleted.

An upload is stored as ``<data dir>/uploads/<random folder>/<its own name>``, so the server path
holds the name the person gave it and nothing else of theirs. The import worker deletes it once
its traces are committed. A file whose import failed is kept ``THINKSCOPE_FAILED_UPLOAD_RETENTION_HOURS``
(for an operator to look at), then deleted by ``sweep_uploads``, which every import task runs
before it starts and ``manage.py sweep_uploads`` runs on demand. Files given on the command line
(``manage.py import_traces``) are never deleted: they are not uploads.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils import timezone

from traces.models import Run, RunKind, RunStatus

#: The longest file name kept from an upload (the rest of the server path is the random folder).
MAX_NAME_CHARS = 100
#: What a multipart request may carry beside its file (boundaries, headers, the other fields).
MULTIPART_SLACK_BYTES = 64 * 1024


def uploads_dir() -> Path:
    return Path(settings.DATA_DIR) / "uploads"


def oversized_request(content_length: str | None) -> str:
    """Why a request declaring ``content_length`` bytes is refused before its body is read: it
    cannot hold a file within ``THINKSCOPE_MAX_UPLOAD_BYTES`` ("" when it may)."""
    declared = int(content_length or 0)
    limit = settings.THINKSCOPE_MAX_UPLOAD_BYTES
    if declared > limit + MULTIPART_SLACK_BYTES:
        return f"the request is {declared} bytes; files are limited to {limit} bytes"
    return ""


def save_upload(upload: UploadedFile) -> Path:
    """Store an uploaded file under the uploads folder, streaming it chunk by chunk."""
    folder = uploads_dir() / uuid.uuid4().hex
    folder.mkdir(parents=True)
    path = folder / (Path(upload.name or "upload").name[:MAX_NAME_CHARS] or "upload")
    with path.open("wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    return path


def is_upload(path: Path) -> bool:
    """Whether ``path`` is an uploaded file (one this module may delete)."""
    return path.resolve().parent.parent == uploads_dir().resolve()


def discard_upload(path: Path) -> None:
    """Delete an uploaded file and its folder (nothing for any other path, or one already gone)."""
    if is_upload(path):
        shutil.rmtree(path.resolve().parent, ignore_errors=True)


def sweep_uploads(now: datetime | None = None) -> list[Path]:
    """Delete the uploads no import needs any more; the files deleted.

    That is a file whose import succeeded, one whose import failed or was cancelled more than the
    retention period ago, and one no import refers to (its request died before the job was made)
    older than the retention period. A queued or running import keeps its file.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.THINKSCOPE_FAILED_UPLOAD_RETENTION_HOURS)
    files = [path for path in uploads_dir().glob("*/*") if path.is_file()]
    runs = _import_runs_of(files)
    swept = []
    for path in files:
        run = runs.get(str(path))
        if _expired(path, run, cutoff):
            discard_upload(path)
            swept.append(path)
    return swept


def _import_runs_of(files: Iterable[Path]) -> dict[str, Run]:
    names = [str(path) for path in files]
    runs = Run.objects.filter(kind=RunKind.IMPORT, source_file__in=names).only("source_file", "status", "finished_at")
    return {run.source_file: run for run in runs}


def _expired(path: Path, run: Run | None, cutoff: datetime) -> bool:
    if run is None:
        return datetime.fromtimestamp(path.stat().st_mtime, tz=cutoff.tzinfo) < cutoff
    if run.status == RunStatus.SUCCEEDED:
        return True
    if run.status in (RunStatus.FAILED, RunStatus.CANCELLED):
        return run.finished_at is None or run.finished_at < cutoff
    return False
