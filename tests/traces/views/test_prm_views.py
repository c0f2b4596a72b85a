"""The PRM page, the PRM job pages and the PRM API (docs/concepts.md §5), without a model: jobs are
created and queued, not run (tests/workers/test_prm_jobs.py runs them on SmolLM2)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from trace_factory import LabelSpec, TraceSpec

from app.scorers import DeclaredScorer
from traces.actions.auto_labels import commit_trace
from traces.actions.prm_scoring import ScoringSpec, trace_result
from traces.models import Label, Queue, QueueItem, Role, Run, RunKind, RunStatus, Step, TrainedPrm

pytestmark = pytest.mark.django_db


@pytest.fixture
def labelled(make_traces):
    return make_traces(
        [
            TraceSpec("alpha", labels=[LabelSpec(0, 1, "human"), LabelSpec(1, -1, "human")]),
            TraceSpec("beta", labels=[LabelSpec(0, 1, "human"), LabelSpec(1, 1, "human")]),
        ]
    )


@pytest.fixture
def trained(project):
    return TrainedPrm.objects.create(
        project=project, name="tiny", base_endpoint="embedded", folder="test-run1", version="abc123def456",
        params={"examples": 2, "max_length": 128, "training": {"steps": 3, "final_loss": 0.61}},
    )  # fmt: skip


def page(client: Client, project) -> str:
    response = client.get(reverse("prm-list", args=[project.slug]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_page_offers_training_with_clear_defaults_to_reviewers(member_client, project, labelled) -> None:
    html = page(member_client, project)
    assert "Train a PRM" in html and 'value="20"' in html  # 20 optimizer steps
    assert 'value="adjudicated-else-human" selected title="adjudicated-else-human">Adjudicated, else people' in html
    assert '<option value="embedded" selected>embedded</option>' in html
    assert "No scorer yet" in html
    assert 'title="human">People</abbr></dt><dd>2 traces' in html


def test_viewers_read_the_page_but_start_nothing(member, project, trained) -> None:
    _, client = member("vic", Role.VIEWER)
    html = page(client, project)
    assert "tiny" in html and "Train a PRM" not in html and 'value="score"' not in html
    response = client.post(reverse("prm-list", args=[project.slug]), {"method": "train"})
    assert response.status_code == 403


def test_posting_the_training_form_queues_a_training_job(member_client, project, labelled) -> None:
    form = {"method": "train", "name": "first", "sources": "adjudicated-else-human", "neutral": "positive",
            "after_error": "cut", "base": "embedded", "max_steps": 5, "learning_rate": 0.0001, "batch_size": 2,
            "max_length": 128, "trainable_layers": 2}  # fmt: skip
    response = member_client.post(reverse("prm-list", args=[project.slug]), form)
    run = Run.objects.get(kind=RunKind.PRM_TRAINING)
    assert response.status_code == 302 and response["Location"] == reverse("job-detail", args=[project.slug, run.pk])
    assert run.params["name"] == "first" and run.params["max_steps"] == 5 and run.progress_total == 5
    assert run.params["policy"]["sources"] == "adjudicated-else-human" and run.params["policy"]["after_error"] == "cut"


def test_a_name_in_use_and_a_gold_source_are_refused_on_the_form(member_client, project, labelled, trained) -> None:
    url = reverse("prm-list", args=[project.slug])
    base = {"method": "train", "neutral": "positive", "after_error": "cut", "base": "embedded", "max_steps": 5,
            "learning_rate": 0.0001, "batch_size": 2, "max_length": 128, "trainable_layers": 2}  # fmt: skip
    response = member_client.post(url, {**base, "name": "tiny", "sources": "human"})
    assert response.status_code == 400 and "already has a scorer named" in response.content.decode()
    queue = Queue.objects.create(project=project, name="q")
    QueueItem.objects.create(queue=queue, trace=labelled["alpha"], position=0, gold_source="import:test")
    Label.objects.create(step=Step.objects.filter(trace=labelled["alpha"]).first(), trace=labelled["alpha"], value=1, source="import:test")
    response = member_client.post(url, {**base, "name": "g", "sources": "import:test"})
    assert response.status_code == 400 and "gold source" in response.content.decode()
    assert not Run.objects.filter(kind=RunKind.PRM_TRAINING).exists()


def test_scoring_a_run_from_the_page(member_client, project, labelled, trained) -> None:
    run_id = labelled["alpha"].run_id
    response = member_client.post(
        reverse("prm-list", args=[project.slug]), {"method": "score", "scorer": "tiny", "run": run_id, "threshold": 0.6}
    )
    scoring = Run.objects.get(kind=RunKind.PRM_SCORING)
    assert response.status_code == 302
    assert scoring.params["scorer"] == "tiny" and scoring.params["threshold"] == 0.6
    assert scoring.params["filters"]["run"] == run_id and scoring.progress_total == 2
    response = member_client.post(reverse("prm-list", args=[project.slug]), {"method": "score", "scorer": "nope", "threshold": 0.5})
    assert response.status_code == 400 and "no scorer &#x27;nope&#x27;" in response.content.decode()


def test_the_training_job_page_draws_the_loss_curve(member_client, project) -> None:
    run = Run.objects.create(
        project=project, kind=RunKind.PRM_TRAINING, status=RunStatus.RUNNING, progress_total=20, progress_done=3,
        params={"name": "tiny", "base": "embedded", "max_steps": 20, "policy": {"sources": "human"}},
        report={"loss": [[1, 0.9], [2, 0.7], [3, 0.65]], "examples": {"train": 4, "positive": 6, "negative": 2}},
    )  # fmt: skip
    html = member_client.get(reverse("job-detail", args=[project.slug, run.pk])).content.decode()
    assert '<polyline class="curve" points="' in html and "step 3 · 0.6500" in html
    assert "Training &#x27;tiny&#x27;: step 3 of 20, loss 0.6500." in html
    assert "4</strong> <span>training examples (traces)" in html
    assert "(none)" in html  # no selected trace went unused


def test_the_scoring_job_page_lists_each_traces_scores(member_client, project, labelled, trained) -> None:
    trace = labelled["alpha"]
    run = Run.objects.create(project=project, kind=RunKind.PRM_SCORING, status=RunStatus.SUCCEEDED, progress_total=1,
                             progress_done=1, params={"scorer": "tiny", "threshold": 0.5}, report={"version": "abc"})  # fmt: skip
    steps = list(Step.objects.filter(trace=trace).order_by("index"))
    commit_trace(run, trace, trace_result(run.pk, trace, steps, [0.9, 0.2], "prm:tiny", "abc", ScoringSpec("tiny")))
    html = member_client.get(reverse("job-detail", args=[project.slug, run.pk])).content.decode()
    assert "step 1: 0.90" in html and "step 2: 0.20" in html and "first error at step 2" in html
    assert "Evaluate against people's labels" in html and "method=prm:tiny" in html


# --- API ----------------------------------------------------------------------------------------


def test_the_api_lists_scorers_without_their_folders(member_client, project, trained, settings) -> None:
    settings.PRM_SCORERS = {
        "shepherd": DeclaredScorer(name="shepherd", path="/secret/models/ms", convention="step_tag", device="cuda"),
        "elsewhere": DeclaredScorer(name="elsewhere", path="/x", convention="step_tag", projects=("other",)),
    }
    response = member_client.get("/api/prms/", {"project": project.slug})
    assert response.status_code == 200
    rows = {row["name"]: row for row in response.json()}
    assert set(rows) == {"tiny", "shepherd"}  # "elsewhere" is closed to this project
    assert rows["tiny"]["kind"] == "trained" and rows["tiny"]["version"] == "abc123def456"
    assert rows["shepherd"]["convention"] == "step_tag" and rows["shepherd"]["source"] == "prm:shepherd"
    assert "/secret" not in response.content.decode() and "cuda" not in response.content.decode()


def test_the_api_starts_training_and_scoring_and_takes_no_path(member_client, project, labelled, trained) -> None:
    response = member_client.post("/api/prms/train/", {"project": project.slug, "max_steps": 2}, content_type="application/json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["kind"] == "prm_training" and body["params"]["policy"]["neutral"] == "positive"
    response = member_client.post("/api/prms/train/", {"project": project.slug, "base": "/etc/models"}, content_type="application/json")
    assert response.status_code == 400 and "base" in response.json()
    response = member_client.post("/api/prms/score/", {"project": project.slug, "scorer": "/models/x"}, content_type="application/json")
    assert response.status_code == 400 and "scorer" in response.json()
    response = member_client.post(
        "/api/prms/score/", {"project": project.slug, "scorer": "tiny", "trace_ids": [labelled["beta"].pk]}, content_type="application/json"
    )
    assert response.status_code == 202 and response.json()["progress_total"] == 1


def test_the_api_refuses_annotators(member, project, trained) -> None:
    _, client = member("ann", Role.ANNOTATOR)
    response = client.post("/api/prms/score/", {"project": project.slug, "scorer": "tiny"}, content_type="application/json")
    assert response.status_code == 403


def test_the_automatic_labels_page_scores_the_selected_traces(member_client, project, labelled, trained) -> None:
    url = reverse("auto-label-form", args=[project.slug]) + f"?trace={labelled['beta'].pk}"
    html = member_client.get(url).content.decode()
    assert 'id="prm-form"' in html and '<option value="tiny">tiny</option>' in html
    response = member_client.post(url, {"method": "prm", "prm-scorer": "tiny", "prm-threshold": 0.7})
    scoring = Run.objects.get(kind=RunKind.PRM_SCORING)
    assert response.status_code == 302 and scoring.params["trace_ids"] == [labelled["beta"].pk]
    assert scoring.params["threshold"] == 0.7
