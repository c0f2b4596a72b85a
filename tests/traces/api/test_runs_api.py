"""Generation runs through the API (issue 5 §3, issue 7): start, poll, cancel, resume."""

from __future__ import annotations

import pytest
from django.urls import reverse

from traces import jobs
from traces.models import LanguageModel, Problem, Role, Run, RunKind, RunStatus


@pytest.fixture
def generator(alpha) -> LanguageModel:
    return LanguageModel.objects.create(project=alpha, name="smol", backend="transformers", endpoint="embedded")


@pytest.fixture
def queued_tasks(monkeypatch) -> list[tuple[int, list[int]]]:
    queued: list[tuple[int, list[int]]] = []

    def enqueue(task: str, run_id: int, problem_ids: list[int]) -> None:
        assert task == jobs.GENERATE_CHUNK
        queued.append((run_id, problem_ids))

    monkeypatch.setattr("traces.jobs.enqueue", enqueue)
    return queued


def test_a_reviewer_starts_a_run_and_polls_it(
    alpha, generator, client_for, queued_tasks, django_capture_on_commit_callbacks
) -> None:
    client = client_for(alpha, Role.REVIEWER)
    ids = list(Problem.objects.filter(project=alpha).order_by("pk").values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("run-list"),
            {"project": "alpha", "model": "smol", "problem_ids": ids[:3], "n": 4, "temperature": 0.6, "seed": 11},
            format="json",
        )
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["kind"], body["status"], body["progress_total"], body["n_samples"]) == ("generation", "queued", 12, 4)
    assert body["params"]["temperature"] == 0.6 and body["params"]["problem_ids"] == ids[:3]
    assert queued_tasks == [(body["id"], ids[:3])]
    polled = client.get(reverse("run-detail", args=[body["id"]])).json()
    assert polled["status"] == "queued"


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"model": "nope"}, "model", "no model named 'nope'"),
        ({"problem_ids": [987654]}, "problems", "no problem [987654]"),
        ({"n": 0}, "n", "greater than or equal to 1"),
        ({"top_p": 0}, "top_p", "greater than or equal to 0.01"),
        ({"dataset": "no-such-dataset"}, "problems", "no problems selected"),
    ],
)
def test_bad_requests_name_the_field(alpha, generator, client_for, queued_tasks, payload, field, message) -> None:
    client = client_for(alpha, Role.OWNER)
    response = client.post(reverse("run-list"), {"project": "alpha", "model": "smol", **payload}, format="json")
    assert response.status_code == 400
    assert message in " ".join(response.json()[field])
    assert not Run.objects.filter(kind=RunKind.GENERATION).exists() and queued_tasks == []


def test_an_imported_model_cannot_generate(alpha, client_for) -> None:
    client = client_for(alpha, Role.OWNER)
    response = client.post(reverse("run-list"), {"project": "alpha", "model": "model-a"}, format="json")
    assert response.status_code == 400 and "no endpoint chosen" in response.json()["model"][0]


def test_annotators_and_outsiders_cannot_start_runs(alpha, beta, generator, client_for) -> None:
    annotator = client_for(alpha, Role.ANNOTATOR)
    assert annotator.post(reverse("run-list"), {"project": "alpha", "model": "smol"}, format="json").status_code == 403
    outsider = client_for(beta, Role.OWNER)
    response = outsider.post(reverse("run-list"), {"project": "alpha", "model": "smol"}, format="json")
    assert response.status_code == 400 and "project" in response.json()  # no such project, as far as they know
    assert not Run.objects.filter(kind=RunKind.GENERATION).exists()


def test_cancel_then_resume(alpha, generator, client_for, queued_tasks, django_capture_on_commit_callbacks) -> None:
    ids = list(Problem.objects.filter(project=alpha).values_list("pk", flat=True))[:2]
    run = Run.objects.create(
        project=alpha, model=generator, kind=RunKind.GENERATION, status=RunStatus.RUNNING, progress_total=2,
        params={"problem_ids": ids, "n": 1},
    )  # fmt: skip
    viewer = client_for(alpha, Role.VIEWER, "viewer")
    assert viewer.post(reverse("run-cancel", args=[run.pk])).status_code == 403
    owner = client_for(alpha, Role.OWNER, "owner")
    cancelled = owner.post(reverse("run-cancel", args=[run.pk]))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = owner.post(reverse("run-cancel", args=[run.pk]))
    assert again.status_code == 409 and again.json()["detail"] == "the run has already finished"
    with django_capture_on_commit_callbacks(execute=True):
        resumed = owner.post(reverse("run-resume", args=[run.pk]))
    assert resumed.status_code == 200 and resumed.json()["status"] == "queued"
    assert queued_tasks == [(run.pk, sorted(ids))]
    export = Run.objects.create(project=alpha, kind=RunKind.EXPORT, status=RunStatus.FAILED)
    assert owner.post(reverse("run-resume", args=[export.pk])).status_code == 409
