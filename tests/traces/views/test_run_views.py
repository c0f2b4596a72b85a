"""Run pages (issue 5 §3): the list, the generation form, the live job page, cancel and resume."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from traces import jobs
from traces.models import LanguageModel, Membership, Problem, Project, Role, Run, RunKind, RunStatus
from traces.trace_builder import problem_hash
from traces.views.runs import progress_of


@pytest.fixture
def generator(project: Project) -> LanguageModel:
    return LanguageModel.objects.create(project=project, name="smol", backend="transformers", endpoint="embedded")


@pytest.fixture
def problems(project: Project) -> list[Problem]:
    return [
        Problem.objects.create(
            project=project, prompt=f"{i} + 1?", answer=str(i + 1), source="arith", content_hash=problem_hash(f"{i} + 1?", str(i + 1))
        )
        for i in range(3)
    ]  # fmt: skip


def client_as(make_user, project: Project, role: Role | None) -> Client:
    user = make_user(f"user-{role or 'none'}")
    if role:
        Membership.objects.create(project=project, user=user, role=role)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def queued_tasks(monkeypatch) -> list[tuple[int, list[int]]]:
    """The chunk tasks a test queues, instead of sending them to a broker."""
    queued: list[tuple[int, list[int]]] = []

    def enqueue(task: str, run_id: int, problem_ids: list[int]) -> None:
        assert task == jobs.GENERATE_CHUNK
        queued.append((run_id, problem_ids))

    monkeypatch.setattr("traces.jobs.enqueue", enqueue)
    return queued


def test_the_form_starts_a_run_and_redirects_to_its_job_page(
    member_client, project, generator, problems, queued_tasks, django_capture_on_commit_callbacks
) -> None:
    page = member_client.get(reverse("job-new", args=[project.slug]))
    assert page.status_code == 200 and b"arith" in page.content and b"smol" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(
            reverse("job-new", args=[project.slug]),
            {"model": generator.pk, "dataset": "arith", "limit": 2, "n": 2, "temperature": 0.5, "top_p": 1,
             "max_new_tokens": 64, "seed": 7, "name": "tiny sweep"},
        )  # fmt: skip
    run = Run.objects.get(kind=RunKind.GENERATION)
    assert response.status_code == 302 and response["Location"] == reverse("job-detail", args=[project.slug, run.pk])
    assert (run.name, run.n_samples, run.progress_total, run.params["max_new_tokens"]) == ("tiny sweep", 2, 4, 64)
    assert queued_tasks == [(run.pk, [problems[0].pk, problems[1].pk])]


def test_bad_input_is_refused_beside_its_field(member_client, project, generator, problems) -> None:
    url = reverse("job-new", args=[project.slug])
    base = {"model": generator.pk, "n": 1, "temperature": 0.7, "top_p": 0.9, "max_new_tokens": 16}
    response = member_client.post(url, {**base, "problem_ids": "1, two"})
    assert response.status_code == 400 and b"problem ids are whole numbers" in response.content
    response = member_client.post(url, {**base, "problem_ids": "999999"})
    assert response.status_code == 400 and b"no problem [999999]" in response.content
    response = member_client.post(url, {**base, "temperature": -1})
    assert response.status_code == 400 and b"greater than or equal to 0" in response.content
    assert not Run.objects.exists()


def test_a_project_without_a_generating_model_explains_how_to_add_one(member_client, project) -> None:
    response = member_client.get(reverse("job-new", args=[project.slug]))
    assert response.status_code == 200 and b"no model that can generate" in response.content


def test_the_job_page_polls_while_active_and_stops_when_done(member_client, project, generator) -> None:
    run = Run.objects.create(
        project=project, model=generator, kind=RunKind.GENERATION, status=RunStatus.RUNNING, progress_done=3,
        progress_total=12, tokens_generated=900, started_at=timezone.now() - timedelta(seconds=30),
        report={"tokens_per_second": 30.0, "failures": [{"problems": [5], "error": "<b>timeout</b>"}], "failure_count": 1},
    )  # fmt: skip
    url = reverse("job-detail", args=[project.slug, run.pk])
    page = member_client.get(url)
    assert page.status_code == 200
    assert b'hx-trigger="every 1s"' in page.content and b"3 / 12" in page.content and b"30.0" in page.content
    assert b"&lt;b&gt;timeout&lt;/b&gt;" in page.content  # error text escaped
    fragment = member_client.get(url, HTTP_HX_REQUEST="true")
    assert fragment.content.lstrip().startswith(b'<div id="run-progress"') and b"<html" not in fragment.content
    Run.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED, progress_done=12, finished_at=timezone.now())
    done = member_client.get(url, HTTP_HX_REQUEST="true")
    assert b"hx-trigger" not in done.content and b"finished with problems" in done.content  # a chunk failed


def test_progress_reports_eta_from_the_rate_so_far() -> None:
    now = timezone.now()
    run = Run(status=RunStatus.RUNNING, progress_done=25, progress_total=100, started_at=now - timedelta(seconds=50))
    progress = progress_of(run, now)
    assert (progress.percent, progress.elapsed, progress.eta) == (25.0, timedelta(seconds=50), timedelta(seconds=150))
    assert progress_of(Run(status=RunStatus.QUEUED), now).eta is None


def test_cancel_and_resume_from_the_job_page(
    member_client, project, generator, problems, queued_tasks, django_capture_on_commit_callbacks
) -> None:
    run = Run.objects.create(
        project=project, model=generator, kind=RunKind.GENERATION, status=RunStatus.RUNNING, progress_total=3,
        params={"problem_ids": [p.pk for p in problems], "n": 1},
    )  # fmt: skip
    response = member_client.post(reverse("job-cancel", args=[project.slug, run.pk]))
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    page = member_client.get(reverse("job-detail", args=[project.slug, run.pk]))
    assert b"Resume run" in page.content and b"Cancelled by a user" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        member_client.post(reverse("job-resume", args=[project.slug, run.pk]))
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED and queued_tasks == [(run.pk, [p.pk for p in problems])]


def test_the_list_shows_every_kind_and_filters_by_kind(member_client, project, generator) -> None:
    Run.objects.create(project=project, model=generator, kind=RunKind.GENERATION, name="gen <i>one</i>")
    Run.objects.create(project=project, kind=RunKind.IMPORT, name="file.jsonl")
    page = member_client.get(reverse("job-list", args=[project.slug]))
    assert b"gen &lt;i&gt;one&lt;/i&gt;" in page.content and b"file.jsonl" in page.content
    only = member_client.get(reverse("job-list", args=[project.slug]) + "?kind=import")
    assert b"file.jsonl" in only.content and b"gen &lt;i&gt;" not in only.content
    empty = member_client.get(reverse("job-list", args=[project.slug]) + "?kind=judge")
    assert b"No runs of this kind yet" in empty.content


@pytest.mark.parametrize(
    ("role", "read", "write"),
    [
        (Role.OWNER, 200, 302),
        (Role.REVIEWER, 200, 302),
        (Role.ANNOTATOR, 200, 403),
        (Role.VIEWER, 200, 403),
        (None, 404, 404),
    ],
)
def test_roles(make_user, project, generator, role, read, write) -> None:
    run = Run.objects.create(project=project, model=generator, kind=RunKind.GENERATION, status=RunStatus.RUNNING)
    client = client_as(make_user, project, role)
    assert client.get(reverse("job-list", args=[project.slug])).status_code == read
    assert client.get(reverse("job-detail", args=[project.slug, run.pk])).status_code == read
    form_status = client.get(reverse("job-new", args=[project.slug])).status_code
    assert form_status == {302: 200, 403: 403, 404: 404}[write]
    assert client.post(reverse("job-cancel", args=[project.slug, run.pk])).status_code == write
    run.refresh_from_db()
    assert (run.status == RunStatus.CANCELLED) == (write == 302)


def test_anonymous_users_are_sent_to_log_in(project) -> None:
    response = Client().get(reverse("job-list", args=[project.slug]))
    assert response.status_code == 302 and "/login" in response["Location"]


def test_the_form_defaults_to_a_few_problems_and_estimates_from_the_measured_rate(member_client, project, generator, problems) -> None:
    url = reverse("job-new", args=[project.slug])
    page = member_client.get(url).content.decode()
    assert 'name="limit" value="4"' in page and 'id="run-estimate"' in page
    fields = {"model": generator.pk, "dataset": "", "limit": 2, "n": 1, "temperature": 0.7, "top_p": 0.95, "max_new_tokens": 256}

    unmeasured = member_client.get(url, fields, HTTP_HX_REQUEST="true").content.decode()
    assert unmeasured.lstrip().startswith('<div id="run-estimate"') and "No measured rate yet" in unmeasured
    Run.objects.create(project=project, model=generator, kind=RunKind.GENERATION, status=RunStatus.SUCCEEDED,
                       tokens_generated=900, report={"engine_seconds": 100.0})  # fmt: skip
    measured = member_client.get(url, fields, HTTP_HX_REQUEST="true").content.decode()
    assert "At most 57 s" in measured and "up to 512 new tokens at 9.0 tokens/s" in measured


def test_a_run_over_ten_minutes_starts_only_once_confirmed(
    member_client, project, generator, problems, queued_tasks, django_capture_on_commit_callbacks
) -> None:
    Run.objects.create(project=project, model=generator, kind=RunKind.GENERATION, status=RunStatus.SUCCEEDED,
                       tokens_generated=900, report={"engine_seconds": 100.0})  # fmt: skip
    url = reverse("job-new", args=[project.slug])
    fields = {"model": generator.pk, "dataset": "", "limit": "", "n": 4, "temperature": 0.7, "top_p": 0.95, "max_new_tokens": 512}

    refused = member_client.post(url, fields)
    assert refused.status_code == 400 and not Run.objects.filter(status=RunStatus.QUEUED).exists()
    page = refused.content.decode()
    assert "At most 11 min 23 s" in page and "This run may take over 10 minutes" in page and 'name="confirm"' in page
    with django_capture_on_commit_callbacks(execute=True):
        started = member_client.post(url, {**fields, "confirm": "on"})
    assert started.status_code == 302 and Run.objects.filter(status=RunStatus.QUEUED).count() == 1


def test_the_engine_batch_in_flight_moves_the_progress_and_its_time(member_client, project, generator, monkeypatch) -> None:
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)  # the page reads the clock: a slow request must not age the batch
    started = now - timedelta(seconds=12)
    engine = {"done": 3, "total": 8, "units": 8, "tokens": 600, "seconds": 4.0, "started": started.isoformat()}
    run = Run.objects.create(
        project=project, model=generator, kind=RunKind.GENERATION, status=RunStatus.RUNNING, progress_total=16,
        started_at=started, report={"engine": engine},
    )  # fmt: skip

    fragment = member_client.get(reverse("job-detail", args=[project.slug, run.pk]), HTTP_HX_REQUEST="true").content.decode()

    assert "0 / 16" in fragment and "(18.8 %)" in fragment  # 3 of the batch's 8 traces, of 16
    assert "The engine is working on 8 completions: 3 done, for 12 s." in fragment
    assert 'id="run-speed">150.0<' in fragment  # 600 tokens in the batch's 4 s
    assert 'id="run-eta">52 s<' in fragment


def test_before_its_first_batch_a_generation_shows_the_longest_it_may_take(member_client, project, generator) -> None:
    Run.objects.create(project=project, model=generator, kind=RunKind.GENERATION, status=RunStatus.SUCCEEDED,
                       tokens_generated=900, report={"engine_seconds": 100.0})  # fmt: skip
    run = Run.objects.create(
        project=project, model=generator, kind=RunKind.GENERATION, status=RunStatus.RUNNING, progress_total=2,
        started_at=timezone.now(), params={"max_new_tokens": 256, "n": 1, "problem_ids": [1, 2]},
    )  # fmt: skip

    fragment = member_client.get(reverse("job-detail", args=[project.slug, run.pk]), HTTP_HX_REQUEST="true").content.decode()

    assert 'id="run-eta">at most 57 s' in fragment  # 2 × 256 tokens at 9 tokens/s
