"""Uploaded import files (traces/actions/uploads.py): deleted once imported, kept a stated time
after a failed import, never a file given on the command line. The API's side (an upload through
``POST /api/imports/`` and its worker job) is in tests/traces/api/test_api.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone

from traces.actions.imports import ImportFailed, do_import, run_import_job
from traces.actions.uploads import save_upload, sweep_uploads
from traces.models import Run, RunKind, RunStatus

pytestmark = pytest.mark.django_db

GOOD = b'{"prompt": "What is 1+1?", "completion": "2"}\n'
BAD = b'{"prompt": 7}\n'
REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def data_dir(settings, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path / "data"
    settings.THINKSCOPE_FAILED_UPLOAD_RETENTION_HOURS = 24
    return settings.DATA_DIR


def upload(name: str, content: bytes) -> Path:
    return save_upload(SimpleUploadedFile(name, content))


def later(hours: float) -> datetime:
    return timezone.now() + timedelta(hours=hours)


def test_an_upload_keeps_its_own_name_in_a_folder_of_its_own(data_dir: Path) -> None:
    first, second = upload("../../etc/passwd", GOOD), upload("passwd", GOOD)
    assert first.name == second.name == "passwd" and first.parent != second.parent
    assert first.parent.parent == second.parent.parent == data_dir / "uploads"


def test_a_successful_import_deletes_its_upload(data_dir: Path, project) -> None:
    path = upload("good.jsonl", GOOD)
    assert do_import(project, path, "jsonl").run.status == RunStatus.SUCCEEDED
    assert not path.exists() and not path.parent.exists()


def test_a_failed_import_keeps_its_upload_for_the_retention_time(data_dir: Path, project) -> None:
    path = upload("bad.jsonl", BAD)
    with pytest.raises(ImportFailed):
        do_import(project, path, "jsonl")
    assert sweep_uploads(later(23)) == [] and path.exists()
    assert sweep_uploads(later(25)) == [path] and not path.parent.exists()


def test_a_file_given_on_the_command_line_is_never_deleted(data_dir: Path, project, tmp_path: Path) -> None:
    good, bad = tmp_path / "mine.jsonl", tmp_path / "mine-bad.jsonl"
    good.write_bytes(GOOD)
    bad.write_bytes(BAD)
    do_import(project, good, "jsonl")
    with pytest.raises(ImportFailed):
        do_import(project, bad, "jsonl")
    sweep_uploads(later(1000))
    assert good.exists() and bad.exists()


def test_the_sweep_keeps_what_an_import_still_needs(data_dir: Path, project) -> None:
    queued, orphan, old_orphan = upload("queued.jsonl", GOOD), upload("orphan.jsonl", GOOD), upload("old.jsonl", GOOD)
    Run.objects.create(project=project, kind=RunKind.IMPORT, source_file=str(queued), status=RunStatus.QUEUED)
    a_day_ago = time.time() - 25 * 3600  # an upload whose request died before its job was made
    os.utime(old_orphan, (a_day_ago, a_day_ago))
    assert sweep_uploads() == [old_orphan]
    assert queued.exists() and orphan.exists()


def test_each_import_job_sweeps_first(data_dir: Path, project) -> None:
    stale = upload("stale.jsonl", BAD)
    with pytest.raises(ImportFailed):
        do_import(project, stale, "jsonl")
    Run.objects.filter(source_file=str(stale)).update(finished_at=later(-25))
    fresh = upload("fresh.jsonl", GOOD)
    run = Run.objects.create(project=project, kind=RunKind.IMPORT, source_file=str(fresh), source_format="jsonl")

    run_import_job(run.pk)

    assert not stale.exists() and not fresh.exists()
    assert Run.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED


def test_sweep_uploads_command(data_dir: Path, project) -> None:
    path = upload("bad.jsonl", BAD)
    with pytest.raises(ImportFailed):
        do_import(project, path, "jsonl")
    Run.objects.update(finished_at=later(-25))
    out = StringIO()
    call_command("sweep_uploads", stdout=out)
    assert out.getvalue().strip() == "Deleted 1 uploaded files (failed imports keep theirs 24 hours)."
    assert not path.exists()


@pytest.mark.parametrize(("value", "hours"), [("", 48.0), ("6", 6.0)])
def test_the_retention_setting(value: str, hours: float, tmp_path: Path) -> None:
    env = {**os.environ, "THINKSCOPE_FAILED_UPLOAD_RETENTION_HOURS": value, "THINKSCOPE_DATA_DIR": str(tmp_path)}
    shown = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; "
         "print(settings.THINKSCOPE_FAILED_UPLOAD_RETENTION_HOURS)"],
        env={**env, "DJANGO_SETTINGS_MODULE": "app.settings"}, cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert float(shown.stdout) == hours
