"""POST /api/exports/ starts an export job; GET shows its status and manifest; download serves its files.

The fixtures' traces (``conftest.parsed``) have two steps each, the second rated +1 by
``import:test``: the expected PRM800K rows below are built from that, not from the export code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from traces.models import Role, Run, RunKind, Trace

pytestmark = pytest.mark.django_db

PRM800K_REQUEST: dict[str, Any] = {"project": "alpha", "format": "prm800k", "policy": {"sources": "import:test"}}


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path
    return tmp_path


@pytest.fixture
def start(django_capture_on_commit_callbacks) -> Iterator[Callable[..., Any]]:
    """POST an export request; a queued job runs in-process when the request commits (eager Celery)."""
    from app.celery import celery_app

    def post(client: APIClient, body: dict[str, Any]) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(reverse("export-list"), body, format="json")

    celery_app.conf.task_always_eager = True
    yield post
    celery_app.conf.task_always_eager = False


def body_of(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def test_reviewer_exports_and_downloads_prm800k(alpha, client_for, start) -> None:
    client = client_for(alpha, Role.REVIEWER)
    response = start(client, {**PRM800K_REQUEST, "policy": {"sources": "import:test", "neutral": "drop"}})
    assert response.status_code == 202, response.json()
    assert response.json()["status"] == "queued"

    job = client.get(reverse("export-detail", args=[response.json()["id"]])).json()
    assert job["status"] == "succeeded" and job["format"] == "prm800k" and job["created_by"] == client.user.username
    assert job["manifest"]["policy"]["neutral"] == "drop" and job["manifest"]["rows_written"] == 7
    assert job["manifest"]["query"] == {"project": "alpha"}
    assert [f["split"] for f in job["files"]] == ["train", "manifest"]

    download = client.get(job["files"][0]["url"])
    assert download.status_code == 200
    assert download["Content-Disposition"] == f'attachment; filename="alpha-export-{job["id"]}-train.jsonl"'
    rows = [json.loads(line) for line in body_of(download).decode().splitlines()]
    prompts = sorted(Trace.objects.filter(project=alpha).values_list("problem__prompt", flat=True))
    assert sorted(row["question"]["problem"] for row in rows) == prompts
    for row in rows:  # step one unrated, step two rated +1 (conftest.parsed)
        assert [[c["rating"] for c in step["completions"]] for step in row["label"]["steps"]] == [[None], [1]]
    manifest = client.get(reverse("export-download", args=[job["id"]]), {"file": "manifest"})
    assert json.loads(body_of(manifest)) == job["manifest"]


def test_filters_select_the_traces_and_are_recorded(alpha, client_for, start) -> None:
    client = client_for(alpha, Role.OWNER)
    response = start(client, {**PRM800K_REQUEST, "filters": {"model": "model-a", "q": "Problem"}})
    assert response.status_code == 202, response.json()
    job = client.get(reverse("export-detail", args=[response.json()["id"]])).json()
    model_a = [i for i in range(7) if i % 2]  # conftest.parsed: odd lines are model-a
    assert job["manifest"]["rows_written"] == len(model_a)
    assert job["filters"] == {"model": "model-a", "q": "Problem"}
    assert job["manifest"]["query"] == {"project": "alpha", "model": "model-a", "q": "Problem"}


@pytest.mark.parametrize(
    ("change", "field_path", "message"),
    [
        ({"policy": {"sources": "import:test", "neutral": "maybe"}}, ("policy", "neutral"), "not a valid choice"),
        ({"policy": {"sources": "human-else-auto"}}, ("policy", "sources"), "auto_method"),
        ({"policy": {"sources": "human", "auto_method": "mc_rollout"}}, ("policy", "auto_method"), "only for sources"),
        ({"policy": {"sources": "import:test", "test_fraction": 1}}, ("policy", "test_fraction"), "[0, 1)"),
        ({"policy": {"sources": "two words"}}, ("policy", "sources"), "without spaces"),
        ({"policy": {}}, ("policy", "sources"), "required"),
        ({"format": "xlsx"}, ("format",), "not a valid choice"),
        ({"step_separator": " "}, ("step_separator",), "TRL formats only"),
        ({"options": {"placeholder_token": "x"}}, ("options",), "has no option 'placeholder_token'"),
        ({"format": "openrlhf", "options": {"negative_token": ""}}, ("options",), "must not be blank"),
        ({"policy": {"sources": "import:test", "human_completion": "maybe"}}, ("policy", "human_completion"),
         "not a valid choice"),
        ({"filters": {"model": "gpt-9"}}, ("filters", "model"), "no model named 'gpt-9'"),
        ({"filters": {"correct": "perhaps"}}, ("filters", "correct"), "not a valid choice"),
        ({"project": "beta"}, ("project",), "does not exist"),
    ],
)
def test_bad_requests_get_400_naming_the_field(alpha, beta, client_for, start, change, field_path, message) -> None:
    client = client_for(alpha, Role.OWNER)
    response = start(client, {**PRM800K_REQUEST, **change})
    assert response.status_code == 400
    error: Any = response.json()
    for key in field_path:
        error = error[key]
    assert message in " ".join(error)
    assert not Run.objects.filter(kind=RunKind.EXPORT).exists()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ANNOTATOR])
def test_viewers_and_annotators_cannot_export(alpha, client_for, start, role) -> None:
    response = start(client_for(alpha, role), PRM800K_REQUEST)
    assert response.status_code == 403 and "does not allow export" in response.json()["detail"]
    assert not Run.objects.filter(kind=RunKind.EXPORT).exists()


def test_members_see_and_download_their_projects_exports_only(alpha, beta, client_for, start) -> None:
    alpha_job = start(client_for(alpha, Role.OWNER), PRM800K_REQUEST).json()
    beta_job = start(client_for(beta, Role.OWNER), {**PRM800K_REQUEST, "project": "beta"}).json()
    viewer = client_for(alpha, Role.VIEWER)

    assert [row["id"] for row in viewer.get(reverse("export-list")).json()["results"]] == [alpha_job["id"]]
    assert viewer.get(reverse("export-download", args=[alpha_job["id"]]), {"file": "train"}).status_code == 200
    for url in (reverse("export-detail", args=[beta_job["id"]]), reverse("export-download", args=[beta_job["id"]])):
        response = viewer.get(url, {"file": "train"})
        assert response.status_code == 404 and "beta" not in response.content.decode()


def test_download_names_the_files_it_has(alpha, client_for, start) -> None:
    client = client_for(alpha, Role.OWNER)
    job = start(client, PRM800K_REQUEST).json()
    response = client.get(reverse("export-download", args=[job["id"]]), {"file": "test"})
    assert response.status_code == 400
    assert response.json()["file"] == [f"no file 'test' in export {job['id']}; choose one of train, manifest"]


def test_a_queued_export_has_no_files_yet(alpha, client_for, django_capture_on_commit_callbacks) -> None:
    client = client_for(alpha, Role.OWNER)
    with django_capture_on_commit_callbacks(execute=False):  # the job is queued, no worker runs it
        job = client.post(reverse("export-list"), PRM800K_REQUEST, format="json").json()
    detail = client.get(reverse("export-detail", args=[job["id"]])).json()
    assert (detail["status"], detail["files"], detail["manifest"]) == ("queued", [], None)
    response = client.get(reverse("export-download", args=[job["id"]]), {"file": "train"})
    assert response.status_code == 400 and "has not succeeded (status: queued)" in response.json()["file"][0]


def test_openrlhf_export_takes_its_options(alpha, client_for, start) -> None:
    client = client_for(alpha, Role.REVIEWER)
    body = {"project": "alpha", "format": "openrlhf", "options": {"placeholder_token": "<step>"},
            "policy": {"sources": "import:test", "human_completion": "skip"}}  # fmt: skip
    response = start(client, body)
    assert response.status_code == 202, response.json()
    job = client.get(reverse("export-detail", args=[response.json()["id"]])).json()
    assert job["status"] == "succeeded", job
    assert job["manifest"]["options"] == {
        "chunk_size": 1000, "placeholder_token": "<step>", "positive_token": "+", "negative_token": "-",
    }  # fmt: skip
    assert job["manifest"]["policy"]["human_completion"] == "skip"
