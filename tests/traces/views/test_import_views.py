"""The browser import pages: upload a file, preview its first records in a format, then import it
as a job (or cancel, which deletes the upload). Nothing is written before the import is confirmed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from traces.actions.uploads import uploads_dir
from traces.models import Membership, Project, Role, Run, RunStatus, Trace

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert("x")</script>'
JSONL_LINES = [
    {"prompt": "What is 2+3?", "completion": "<think>2+3 is 5.</think>The answer is 5.", "reference_answer": "5",
     "model": "my-model", "finish_reason": "stop"},
    {"prompt": f"Compute {HOSTILE} 7-4.", "steps": ["7-4 is 3.", "The answer is 3."], "labels": [1, -1],
     "reference_answer": "3", "model": "other-model"},
    {"prompt": "What is 1+1?", "completion": "The answer is 2.", "reference_answer": "2", "is_correct": True},
]  # fmt: skip
PROCESSBENCH_LINE = {"id": "gsm8k-12", "generator": "Qwen2-7B", "problem": "Tom has 3 apples and buys 4 more.",
                     "steps": ["3+4=7.", "So 8 apples.", "The answer is 8."], "final_answer_correct": False, "label": 1}  # fmt: skip


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path
    return tmp_path


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(record) + "\n" for record in records).encode()


def client_with_role(make_user: Any, project: Project, role: Role, name: str = "person") -> Client:
    user = make_user(name)
    Membership.objects.create(project=project, user=user, role=role)
    client = Client()
    client.force_login(user)
    return client


def upload(client: Client, project: Project, content: bytes, fmt: str = "jsonl", name: str = "traces.jsonl",
           **extra: str) -> Any:  # fmt: skip
    """POST the upload form; the response is the redirect to the preview."""
    body = {"file": SimpleUploadedFile(name, content), "format": fmt, **extra}
    return client.post(reverse("import-upload", args=[project.slug]), body)


def stored_uploads() -> list[Path]:
    return sorted(uploads_dir().glob("*/*"))


def test_only_reviewers_and_owners_may_import(make_user: Any, project: Project, outsider_client: Client) -> None:
    url = reverse("import-upload", args=[project.slug])
    for role in (Role.VIEWER, Role.ANNOTATOR):
        refused = client_with_role(make_user, project, role, f"the-{role}").get(url)
        assert refused.status_code == 403 and "imports are for reviewers and owners" in refused.content.decode()
    assert outsider_client.get(url).status_code == 404

    page = client_with_role(make_user, project, Role.REVIEWER).get(url).content.decode()

    assert 'type="file"' in page and "Skip invalid lines" in page
    for name in ("jsonl", "prm800k", "math_shepherd", "processbench", "trl"):
        assert f'value="{name}"' in page
    assert "OpenAI PRM800K: a labelled step-by-step solution per line" in page


def test_a_jsonl_upload_previews_its_first_records_as_they_will_be_stored(member_client: Client, project: Project) -> None:
    response = upload(member_client, project, jsonl(JSONL_LINES))
    assert response.status_code == 302

    page = member_client.get(response["Location"]).content.decode()

    rows = page.split('<tbody>')[1].split("</tbody>")[0].split("<tr>")[1:]
    assert len(rows) == 3
    assert "What is 2+3?" in rows[0] and "my-model" in rows[0] and "<td>5</td>" in rows[0]
    assert "no think part" not in rows[0]  # the <think> part is split off
    assert '<td class="num">2</td>' in rows[1] and "2 step labels (+1 ×1, −1 ×1)" in rows[1]
    assert "answer marked right" in rows[2] and "no think part" in rows[2]
    assert HOSTILE not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "Import 3 lines" in page and "traces.jsonl" in page
    assert not Run.objects.exists() and not Trace.objects.exists()


def test_another_format_previews_and_the_format_changes_without_uploading_again(member_client: Client, project: Project) -> None:
    preview = upload(member_client, project, jsonl([PROCESSBENCH_LINE]), fmt="processbench")["Location"]

    page = member_client.get(preview).content.decode()

    assert "Tom has 3 apples" in page and "Qwen2-7B" in page and '<td class="num">3</td>' in page
    assert "first error at step 2" in page and "answer marked wrong" in page and "Import 1 line<" in page
    # Read as jsonl instead: the same stored file, and only the fragment comes back to htmx.
    fragment = member_client.get(preview.split("?")[0], {"format": "jsonl"}, HTTP_HX_REQUEST="true").content.decode()
    assert fragment.strip().startswith('<section id="import-preview"') and "<html" not in fragment
    assert '<td class="preview-model">unknown</td>' in fragment and "first error" not in fragment  # jsonl has no generator
    assert len(stored_uploads()) == 1


def test_the_preview_says_where_each_models_thinking_is_and_the_import_keeps_the_choice(
    member_client: Client, project: Project, eager_celery, django_capture_on_commit_callbacks
) -> None:
    preview = upload(member_client, project, jsonl(JSONL_LINES))["Location"].split("?")[0]
    page = member_client.get(preview).content.decode()
    formats = page.split('id="think-formats"')[1].split("</div>")[0]
    assert "<code>think_tags</code>" in formats and "detected: of 1 trace, 1 opens &lt;think&gt; in the completion" in formats
    assert "undetermined" in formats  # other-model and unknown show no delimiter
    # Read with no think part: the first record's thinking is answer now, and the form keeps the choice.
    fragment = member_client.get(preview, {"format": "jsonl", "think_format": "none"}, HTTP_HX_REQUEST="true")
    first_row = fragment.content.decode().split("<tbody>")[1].split("</tr>")[0]
    assert "no think part" in first_row
    assert '<input type="hidden" name="think_format" value="none">' in fragment.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        member_client.post(preview, {"format": "jsonl", "think_format": "none"})
    run = Run.objects.get()
    assert run.params["think_format"] == "none" and not Trace.objects.filter(run=run, think_end__gt=0).exists()
    job = member_client.get(reverse("job-detail", args=[project.slug, run.pk])).content.decode()
    assert 'id="think-formats"' in job and "chosen for this import" in job


def test_a_bad_line_shows_its_line_and_field_and_nothing_is_written(member_client: Client, project: Project) -> None:
    bad = jsonl(JSONL_LINES[:1]) + b'{"prompt": 7, "completion": "x"}\n' + jsonl(JSONL_LINES[2:])
    page = member_client.get(upload(member_client, project, bad)["Location"]).content.decode()

    assert "Line 2, field <code>prompt</code>:</strong> expected a string, got number" in page
    assert 'id="import-confirm" disabled' in page
    assert not Run.objects.exists() and not Trace.objects.exists()
    skipping = member_client.get(upload(member_client, project, bad, skip_invalid="on")["Location"]).content.decode()
    assert "will be skipped" in skipping and 'id="import-confirm" disabled' not in skipping


def test_a_file_over_the_limit_is_refused_with_its_size(member_client: Client, project: Project, settings) -> None:
    settings.THINKSCOPE_MAX_UPLOAD_BYTES = 10
    response = upload(member_client, project, jsonl(JSONL_LINES[:1]))
    assert response.status_code == 400 and "files are limited to 10\xa0bytes (10 bytes)" in response.content.decode()
    assert stored_uploads() == []


def test_cancel_deletes_the_upload(member_client: Client, project: Project) -> None:
    preview = upload(member_client, project, jsonl(JSONL_LINES))["Location"].split("?")[0]
    assert len(stored_uploads()) == 1

    response = member_client.post(preview + "cancel/")

    assert response["Location"] == reverse("import-upload", args=[project.slug])
    assert stored_uploads() == []
    assert member_client.get(preview).status_code == 410


def test_an_upload_is_only_its_uploaders(member_client: Client, make_user: Any, project: Project) -> None:
    preview = upload(member_client, project, jsonl(JSONL_LINES))["Location"].split("?")[0]
    other = client_with_role(make_user, project, Role.OWNER, "co-owner")

    assert other.get(preview).status_code == 410
    assert other.post(preview, {"format": "jsonl"}).status_code == 410
    other.post(preview + "cancel/")
    assert len(stored_uploads()) == 1 and not Run.objects.exists()


def test_confirm_imports_the_file_as_a_job(
    member_client: Client, project: Project, eager_celery, django_capture_on_commit_callbacks
) -> None:
    preview = upload(member_client, project, jsonl(JSONL_LINES))["Location"].split("?")[0]

    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(preview, {"format": "jsonl"})

    run = Run.objects.get()
    assert response["Location"] == reverse("job-detail", args=[project.slug, run.pk])
    assert run.status == RunStatus.SUCCEEDED and run.name == "traces.jsonl" and run.created_by is not None
    assert Trace.objects.filter(run=run).count() == 3
    assert stored_uploads() == []
    assert member_client.get(preview).status_code == 410  # the upload is no longer pending


def test_confirm_with_an_unknown_format_imports_nothing(member_client: Client, project: Project) -> None:
    preview = upload(member_client, project, jsonl(JSONL_LINES))["Location"].split("?")[0]

    assert member_client.post(preview, {"format": "csv"}).status_code == 400
    assert not Run.objects.exists() and len(stored_uploads()) == 1


@pytest.mark.parametrize("page", ["job-list", "trace-list"])
def test_the_runs_page_and_the_empty_trace_list_link_the_import_page_for_those_who_may_import(
    page: str, member_client: Client, make_user: Any, project: Project
) -> None:
    url = reverse(page, args=[project.slug])
    assert f'href="{reverse("import-upload", args=[project.slug])}" id="import-link"' in member_client.get(url).content.decode()
    annotator = client_with_role(make_user, project, Role.ANNOTATOR)
    assert 'id="import-link"' not in annotator.get(url).content.decode()
