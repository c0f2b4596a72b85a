"""Jobs on a real worker show the engine's progress while it works and stop within seconds when
cancelled: a generation and a Monte Carlo job against the local OpenAI-compatible server answering
slowly, one request at a time (each request is one engine batch)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from fake_openai_server import FakeBehaviour, FakeOpenAIServer

from traces.actions.auto_labels import MC_SOURCE, McSpec, Selection, do_start_mc
from traces.actions.generation import do_start_generation
from traces.actions.store import store_traces
from traces.backends import SamplingParams
from traces.formats.base import ParsedStep, ParsedTrace
from traces.models import Label, LanguageModel, Membership, Problem, Project, Role, Run, RunKind, RunStatus, Trace
from traces.trace_builder import problem_hash

pytestmark = pytest.mark.django_db(transaction=True)

#: Seconds the server takes per request.
DELAY = 1.5


@pytest.fixture
def slow_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(FakeBehaviour(delay=DELAY)) as server:
        yield server


@pytest.fixture
def model(project: Project, slow_server: FakeOpenAIServer, declare_endpoints, start_workers) -> LanguageModel:
    env = declare_endpoints(slow={"backend": "openai", "base_url": slow_server.base_url + "/v1", "max_concurrency": 1})
    start_workers(env=env)
    return LanguageModel.objects.create(
        project=project, name="slow", backend="openai", endpoint="slow", served_model="fake-model"
    )


@pytest.fixture
def reviewer(project: Project, make_user) -> Client:
    user = make_user("reviewer")
    Membership.objects.create(project=project, user=user, role=Role.REVIEWER)
    client = Client()
    client.force_login(user)
    return client


def engine_of(run: Run) -> dict[str, Any] | None:
    run.refresh_from_db()
    return run.report.get("engine")


def test_a_small_generation_shows_progress_and_speed_while_the_engine_works(
    project: Project, model: LanguageModel, reviewer: Client, wait_for
) -> None:
    problems = [
        Problem.objects.create(project=project, prompt=f"{i} + 1?", answer=str(i + 1),
                               content_hash=problem_hash(f"{i} + 1?", str(i + 1)))  # fmt: skip
        for i in range(2)
    ]
    run = do_start_generation(project, model, [p.pk for p in problems], SamplingParams(max_new_tokens=32))
    url = reverse("job-detail", args=[project.slug, run.pk])

    wait_for(lambda: (engine_of(run) or {}).get("done") == 1, timeout=60)
    fragment = reviewer.get(url, HTTP_HX_REQUEST="true").content.decode()

    assert run.progress_done == 0  # nothing stored yet: the batch of two is still in the engine
    assert "The engine is working on 2 completions: 1 done" in fragment
    assert "(50.0 %)" in fragment and 'id="run-speed">—<' not in fragment
    wait_for(lambda: Run.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED, timeout=60)
    assert "engine" not in Run.objects.get(pk=run.pk).report


def store(project: Project, steps: list[str]) -> Trace:
    run = Run.objects.create(project=project, kind=RunKind.IMPORT, name="import")
    parsed = ParsedTrace(line_no=1, prompt="What is 3 + 4?", text="\n\n".join(steps), model_name="gen",
                         reference_answer="7", steps=[ParsedStep(step) for step in steps])  # fmt: skip
    return Trace.objects.get(pk=store_traces(project, run, [parsed]).trace_ids[0])


def test_cancelling_a_monte_carlo_job_stops_the_engine_within_seconds(
    project: Project, model: LanguageModel, reviewer: Client, slow_server: FakeOpenAIServer, wait_for
) -> None:
    trace = store(project, [f"Step {i}: 3 + 4 = 7." for i in range(8)])
    run = do_start_mc(project, model, McSpec(k=2, max_new_tokens=16), Selection(trace_ids=(trace.pk,)))
    wait_for(lambda: (engine_of(run) or {}).get("done", 0) >= 2, timeout=60)  # one prefix rolled out of 8

    reviewer.post(reverse("job-cancel", args=[project.slug, run.pk]))
    cancelled_at = time.monotonic()
    sent = len(slow_server.record.chat_requests)
    time.sleep(3 * DELAY)

    assert len(slow_server.record.chat_requests) <= sent + 1  # at most the request in flight went on
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED and (run.progress_done, run.progress_total) == (0, 1)
    assert not Label.objects.filter(trace=trace, source=MC_SOURCE).exists()
    page = reviewer.get(reverse("job-detail", args=[project.slug, run.pk])).content.decode()
    assert 'id="run-done">0 / 1' in page and "cancelled" in page

    slow_server.behaviour.delay = 0.0  # the worker is free for the next job at once
    following = do_start_mc(project, model, McSpec(k=2, max_new_tokens=16), Selection(trace_ids=(trace.pk,)))
    wait_for(lambda: Run.objects.get(pk=following.pk).status == RunStatus.SUCCEEDED, timeout=30)
    assert time.monotonic() - cancelled_at < 30
