"""The REST API: scoping to the user's projects, roles, labels, cursor pagination, imports, schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from traces.models import Label, Role, Run, RunStatus, Step, Trace

pytestmark = pytest.mark.django_db


def test_anonymous_gets_401(alpha) -> None:
    response = APIClient().get(reverse("trace-list"))
    assert response.status_code == 401
    assert "credentials" in response.json()["detail"]


def test_trace_list_is_scoped_and_filtered(alpha, beta, client_for) -> None:
    client = client_for(alpha, Role.VIEWER)
    body = client.get(reverse("trace-list")).json()
    assert {row["project"] for row in body["results"]} == {"alpha"}
    assert len(body["results"]) == 7
    only_a = client.get(reverse("trace-list"), {"model": "model-a"}).json()["results"]
    odd_lines = [i for i in range(7) if i % 2]  # conftest.parsed: odd lines are model-a
    assert {row["model"] for row in only_a} == {"model-a"} and len(only_a) == len(odd_lines)
    assert client.get(reverse("trace-list"), {"project": "beta"}).json()["results"] == []


def test_cursor_pagination_walks_every_trace_once(alpha, client_for) -> None:
    client = client_for(alpha, Role.VIEWER)
    seen, url = [], reverse("trace-list") + "?page_size=3"
    while url:
        body = client.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert seen == sorted(Trace.objects.filter(project=alpha).values_list("id", flat=True), reverse=True)


def test_trace_detail_has_steps_with_labels(alpha, client_for) -> None:
    client = client_for(alpha, Role.VIEWER)
    trace = Trace.objects.filter(project=alpha).first()
    body = client.get(reverse("trace-detail", args=[trace.pk])).json()
    assert [step["text"] for step in body["steps"]] == ["step one of " + str(trace.meta["line_no"]), "So the answer is 4."]
    assert body["steps"][1]["labels"][0]["source"] == "import:test"
    assert body["is_correct"] is True and body["problem"]["answer"] == "4"


def test_other_projects_trace_is_404(alpha, beta, client_for) -> None:
    client = client_for(alpha, Role.OWNER)
    foreign = Trace.objects.filter(project=beta).first()
    response = client.get(reverse("trace-detail", args=[foreign.pk]))
    assert response.status_code == 404 and "raw_text" not in response.json()


def test_annotator_saves_and_updates_own_label(alpha, client_for) -> None:
    client = client_for(alpha, Role.ANNOTATOR)
    step = Step.objects.filter(trace__project=alpha).first()
    first = client.post(reverse("label-list"), {"step": step.pk, "value": -1}, format="json")
    assert first.status_code == 201, first.json()
    again = client.post(reverse("label-list"), {"step": step.pk, "value": 1, "flagged": True}, format="json")
    assert again.status_code == 201
    label = Label.objects.get(step=step, source="human")
    assert (label.value, label.flagged, label.user) == (1, True, client.user)
    assert Trace.objects.get(pk=step.trace_id).has_labels


def test_viewer_cannot_label(alpha, client_for) -> None:
    client = client_for(alpha, Role.VIEWER)
    step = Step.objects.filter(trace__project=alpha).first()
    response = client.post(reverse("label-list"), {"step": step.pk, "value": 1}, format="json")
    assert response.status_code == 403 and "does not allow label" in response.json()["detail"]
    assert not Label.objects.filter(source="human").exists()


def test_label_on_foreign_step_is_refused_without_leaking(alpha, beta, client_for) -> None:
    client = client_for(alpha, Role.OWNER)
    foreign = Step.objects.filter(trace__project=beta).first()
    response = client.post(reverse("label-list"), {"step": foreign.pk, "value": 1}, format="json")
    assert response.status_code == 400 and "does not exist" in response.json()["step"][0]


def test_bulk_labels_are_all_or_nothing(alpha, client_for) -> None:
    client = client_for(alpha, Role.ANNOTATOR)
    steps = list(Step.objects.filter(trace__project=alpha)[:3])
    bad = [{"step": s.pk, "value": 1} for s in steps] + [{"step": steps[0].pk, "value": 5}]
    response = client.post(reverse("label-bulk"), {"labels": bad}, format="json")
    assert response.status_code == 400 and "value" in str(response.json())
    assert not Label.objects.filter(source="human").exists()
    good = client.post(reverse("label-bulk"), {"labels": bad[:3]}, format="json")
    assert good.status_code == 201 and Label.objects.filter(source="human").count() == 3


def test_import_upload_runs_as_a_job(alpha, client_for, shared_data: Path, django_capture_on_commit_callbacks) -> None:
    from app.celery import celery_app

    celery_app.conf.task_always_eager = True
    try:
        client = client_for(alpha, Role.REVIEWER)
        sample = (shared_data / "processbench" / "gsm8k.jsonl").read_bytes()
        upload = SimpleUploadedFile("gsm8k.jsonl", sample, content_type="application/jsonl")
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("import-list"), {"project": "alpha", "format": "processbench", "file": upload})
        assert response.status_code == 202, response.json()
        run = Run.objects.get(pk=response.json()["id"])
        assert run.status == RunStatus.SUCCEEDED and run.report["traces_created"] == sample.count(b"\n")
    finally:
        celery_app.conf.task_always_eager = False


def test_an_import_may_set_the_think_format_of_its_traces(alpha, client_for) -> None:
    client = client_for(alpha, Role.REVIEWER)
    line = b'{"prompt": "2+2?", "completion": "So 4.</think>4"}\n'
    upload = SimpleUploadedFile("one.jsonl", line, content_type="application/jsonl")
    response = client.post(reverse("import-list"), {"project": "alpha", "format": "jsonl", "file": upload,
                                                    "think_format": "think_in_prompt"})  # fmt: skip
    assert response.status_code == 202, response.json()
    assert Run.objects.get(pk=response.json()["id"]).params["think_format"] == "think_in_prompt"
    upload = SimpleUploadedFile("one.jsonl", line, content_type="application/jsonl")
    refused = client.post(reverse("import-list"), {"project": "alpha", "format": "jsonl", "file": upload, "think_format": "xml"})
    assert refused.status_code == 400 and "think_format" in refused.json()


def test_annotator_cannot_import(alpha, client_for) -> None:
    client = client_for(alpha, Role.ANNOTATOR)
    upload = SimpleUploadedFile("x.jsonl", b"{}\n")
    response = client.post(reverse("import-list"), {"project": "alpha", "format": "jsonl", "file": upload})
    assert response.status_code == 403


def test_openapi_schema_and_docs_are_served(alpha, client_for) -> None:
    client = client_for(alpha, Role.VIEWER)
    schema = client.get(reverse("api-schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200 and "/api/traces/" in schema.json()["paths"]
    docs = client.get(reverse("api-docs"))
    assert docs.status_code == 200 and b"cdn" not in docs.content.lower()


def upload_as_job(client: APIClient, name: str, content: bytes, fmt: str, capture) -> dict:
    """POST a file to the import endpoint, running the job it queues; the response body."""
    upload = SimpleUploadedFile(name, content, content_type="application/jsonl")
    with capture(execute=True):
        response = client.post(reverse("import-list"), {"project": "alpha", "format": fmt, "file": upload})
    assert response.status_code == 202, response.json()
    return response.json()


def test_an_imported_upload_is_deleted_and_shown_by_its_name_only(
    alpha, client_for, shared_data: Path, settings, tmp_path: Path, eager_celery, django_capture_on_commit_callbacks
) -> None:
    settings.DATA_DIR = tmp_path / "server-data"
    client = client_for(alpha, Role.REVIEWER)
    sample = (shared_data / "processbench" / "gsm8k.jsonl").read_bytes()
    body = upload_as_job(client, "gsm8k.jsonl", sample, "processbench", django_capture_on_commit_callbacks)
    run = Run.objects.get(pk=body["id"])
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert not Path(run.source_file).exists() and not any((tmp_path / "server-data" / "uploads").iterdir())
    shown = client.get(reverse("run-detail", args=[run.pk])).json()
    assert body["source_file"] == shown["source_file"] == "gsm8k.jsonl"
    assert str(tmp_path) not in str(shown)


def test_a_failed_upload_names_the_file_only_and_is_kept_for_a_while(
    alpha, client_for, settings, tmp_path: Path, eager_celery, django_capture_on_commit_callbacks
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from traces.actions.uploads import sweep_uploads

    settings.DATA_DIR = tmp_path / "server-data"
    client = client_for(alpha, Role.REVIEWER)
    body = upload_as_job(client, "bad.jsonl", b'{"prompt": 7}\n', "jsonl", django_capture_on_commit_callbacks)
    shown = client.get(reverse("run-detail", args=[body["id"]])).json()
    assert shown["status"] == RunStatus.FAILED and shown["error"].startswith("bad.jsonl, line 1, field 'prompt'")
    assert str(tmp_path) not in str(shown)
    path = Path(Run.objects.get(pk=body["id"]).source_file)
    assert path.exists()  # kept for an operator to look at

    hours = settings.THINKSCOPE_FAILED_UPLOAD_RETENTION_HOURS
    assert sweep_uploads(timezone.now() + timedelta(hours=hours - 1)) == [] and path.exists()
    assert sweep_uploads(timezone.now() + timedelta(hours=hours + 1)) == [path] and not path.parent.exists()
