"""An import's job page: the file by its name only, its error without server paths, the analysis
progress of an import whose analysis stopped, and the button that resumes it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.db import OperationalError
from django.test import Client
from django.urls import reverse

import traces.actions.analysis as analysis_actions
from traces.actions.imports import ImportFailed, do_import, give_up_import
from traces.models import Project, Run, RunStatus, TraceAnalysis

pytestmark = pytest.mark.django_db


def test_a_failed_import_shows_the_file_name_and_no_server_path(member_client: Client, project: Project, tmp_path: Path) -> None:
    path = tmp_path / "server" / "uploads" / "bad.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text('{"prompt": 7}\n', encoding="utf-8")
    with pytest.raises(ImportFailed):
        do_import(project, path, "jsonl")
    run = Run.objects.get()

    page = member_client.get(reverse("job-detail", args=[project.slug, run.pk])).content.decode()

    assert "<code>bad.jsonl</code>" in page and "bad.jsonl, line 1, field &#x27;prompt&#x27;" in page
    assert str(tmp_path) not in page


def lost_connection(*args: object) -> None:
    raise OperationalError("gone")


def test_a_stopped_analysis_shows_its_progress_and_resumes(
    member_client: Client, project: Project, tmp_path: Path, monkeypatch, eager_celery, django_capture_on_commit_callbacks
) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"{i}+1?", "completion": str(i + 1)}) + "\n" for i in range(6)))
    with monkeypatch.context() as patched:
        patched.setattr(analysis_actions, "BATCH_SIZE", 2)
        patched.setattr(analysis_actions, "_store", lost_connection)
        with pytest.raises(OperationalError):
            do_import(project, path, "jsonl", analyze=True)
    run = Run.objects.get()
    give_up_import(run.pk, OperationalError("gone"))

    page = member_client.get(reverse("job-detail", args=[project.slug, run.pk])).content.decode()
    assert 'id="run-analysis">0 / 6<' in page and "Analysis stopped after 0 of 6 traces" in page
    assert "Resume analysis" in page

    with django_capture_on_commit_callbacks(execute=True):
        member_client.post(reverse("job-resume", args=[project.slug, run.pk]))
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and TraceAnalysis.objects.count() == 6
