"""LLM judge jobs through the openai backend against the local fake OpenAI server (issue 5 items 5,
6): a panel of judges with its agreement, parse failures recorded and never labeled, and the rule
that a model does not judge its own traces unless the user allows it."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from fake_openai_server import FakeBehaviour, FakeOpenAIServer

from traces.actions.auto_labels import PANEL_SOURCE, JudgeSpec, Selection, do_start_judge, run_auto_labels
from traces.actions.exports import RequestRejected
from traces.actions.store import store_traces
from traces.formats.base import ParsedStep, ParsedTrace
from traces.models import Label, LanguageModel, Project, Run, RunKind, RunStatus, Trace, TraceAnnotation
from workers.backends.registry import backend_for

STEPS = ["3 + 4 = 7.", "7 * 2 = 15.", "The answer is 15."]

#: What each served judge replies (the fake server routes on the request's model).
REPLIES = {
    "judge-a": "Paragraph 1 multiplies wrongly.\n\nParagraph 0: +1\nParagraph 1: -1\nParagraph 2: -1",
    "judge-b": "Paragraph 0: +1\nParagraph 1: -1\nParagraph 2: 0",
    "judge-c": "The solution looks fine to me overall.",
    "first-a": "The error is in paragraph 1: \\boxed{1}",
    "first-b": "\\boxed{one}",
}


def reply(body: dict[str, Any], index: int) -> str:
    return REPLIES[body["model"]]


@pytest.fixture
def server(declare_endpoints) -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(FakeBehaviour(responder=reply)) as running:
        declare_endpoints(judges={"backend": "openai", "base_url": running.base_url + "/v1"})
        yield running


def store(project: Project, model: str = "generator") -> Trace:
    run = Run.objects.create(project=project, kind=RunKind.IMPORT, name="import")
    parsed = ParsedTrace(
        line_no=1,
        prompt="What is (3 + 4) * 2?",
        text="\n\n".join(STEPS),
        model_name=model,
        reference_answer="14",
        steps=[ParsedStep(step) for step in STEPS],
    )
    return Trace.objects.get(pk=store_traces(project, run, [parsed]).trace_ids[0])


def judge(project: Project, server: FakeOpenAIServer, name: str, served: str) -> LanguageModel:
    return LanguageModel.objects.create(
        project=project, name=name, backend="openai", endpoint="judges", served_model=served
    )


def labels_of(trace: Trace, source: str) -> list[tuple[int, int | None, float | None]]:
    rows = Label.objects.filter(trace=trace, source=source).order_by("step__index")
    return [(label.step.index, label.value, label.confidence) for label in rows]


@pytest.mark.django_db(transaction=True)
def test_a_panel_of_judges_labels_steps_and_records_a_parse_failure(project: Project, server: FakeOpenAIServer) -> None:
    trace = store(project)
    judges = [judge(project, server, name, name) for name in ("judge-a", "judge-b", "judge-c")]
    spec = JudgeSpec(tuple(j.pk for j in judges), mode="steps", max_new_tokens=64)
    run = run_auto_labels(do_start_judge(project, spec, Selection(trace_ids=(trace.pk,))).pk, backend_for)

    assert run is not None and run.status == RunStatus.SUCCEEDED, run.error
    assert labels_of(trace, "llm_judge:judge-a") == [(0, 1, None), (1, -1, None), (2, -1, None)]
    assert labels_of(trace, "llm_judge:judge-b") == [(0, 1, None), (1, -1, None), (2, 0, None)]
    assert labels_of(trace, "llm_judge:judge-c") == []  # its reply did not parse: no label, ever
    assert labels_of(trace, PANEL_SOURCE) == [(0, 1, 1.0), (1, -1, 1.0)]  # step 2: −1 vs 0, no majority
    failure = TraceAnnotation.objects.get(trace=trace, source="llm_judge:judge-c")
    assert failure.first_error_step is None
    assert "does not end with" in failure.params["parse_failure"]["reason"]
    assert failure.params["parse_failure"]["excerpt"] == REPLIES["judge-c"]
    assert TraceAnnotation.objects.get(trace=trace, source="llm_judge:judge-a").first_error_step == 1
    assert run.report["parse_failure_count"] == 1
    assert run.report["parse_failures"][0]["judge"] == "judge-c"
    assert run.report["parse_failures"][0]["trace"] == trace.pk
    agreement = run.report["agreement"]
    assert agreement["steps"] == 3 and 0 < agreement["krippendorff_alpha"] < 1
    prompts = [body["messages"][-1]["content"] for body in server.record.chat_requests]
    assert len(prompts) == 3 and all("<paragraph_1>\n7 * 2 = 15.\n</paragraph_1>" in p for p in prompts)


@pytest.mark.django_db(transaction=True)
def test_processbench_style_first_error_judges(project: Project, server: FakeOpenAIServer) -> None:
    trace = store(project)
    judges = [judge(project, server, name, name) for name in ("first-a", "first-b")]
    spec = JudgeSpec(tuple(j.pk for j in judges), mode="first_error")
    run = run_auto_labels(do_start_judge(project, spec, Selection(trace_ids=(trace.pk,))).pk, backend_for)

    assert run is not None and run.status == RunStatus.SUCCEEDED
    assert labels_of(trace, "llm_judge:first-a") == [(0, 1, None), (1, -1, None)]  # later steps unrated
    assert labels_of(trace, "llm_judge:first-b") == labels_of(trace, PANEL_SOURCE) == []  # one parsed: no panel
    assert run.report["parse_failures"][0]["reason"] == "\\boxed{one} is not a paragraph index"
    assert (
        "Please put your final answer (i.e., the index) in \\boxed{}."
        in server.record.chat_requests[0]["messages"][0]["content"]
    )


@pytest.mark.django_db(transaction=True)
def test_a_model_does_not_judge_its_own_traces_unless_allowed(project: Project, server: FakeOpenAIServer) -> None:
    trace = store(project, model="judge-a")
    own = LanguageModel.objects.get(project=project, name="judge-a")
    own.backend, own.endpoint, own.served_model = "openai", "judges", "judge-a"
    own.save()
    served_under_its_name = judge(project, server, "a-served", "judge-a")
    for model in (own, served_under_its_name):
        with pytest.raises(RequestRejected) as refused:
            do_start_judge(project, JudgeSpec((model.pk,), mode="steps"), Selection(trace_ids=(trace.pk,)))
        assert refused.value.field == "judges"
        assert "does not judge its own traces unless self-judging is allowed" in refused.value.message
    assert not Run.objects.filter(kind=RunKind.JUDGE).exists()

    allowed = JudgeSpec((own.pk,), mode="steps", allow_self_judging=True)
    run = run_auto_labels(do_start_judge(project, allowed, Selection(trace_ids=(trace.pk,))).pk, backend_for)
    assert run is not None and run.status == RunStatus.SUCCEEDED
    assert [value for _, value, _ in labels_of(trace, "llm_judge:judge-a")] == [1, -1, -1]


@pytest.mark.django_db(transaction=True)
def test_the_annotate_command_runs_a_judge_job_in_process(project: Project, server: FakeOpenAIServer) -> None:
    trace = store(project)
    judge(project, server, "first-a", "first-a")
    out = StringIO()
    call_command(
        "annotate",
        "--project",
        project.slug,
        "--method",
        "judge",
        "--judge",
        "first-a",
        "--model",
        "generator",
        stdout=out,
        stderr=StringIO(),
    )
    run = Run.objects.get(kind=RunKind.JUDGE)
    assert f"Run {run.pk} succeeded: 1 traces" in out.getvalue()
    assert labels_of(trace, "llm_judge:first-a") == [(0, 1, None), (1, -1, None)]
    for arguments, message in [
        (["--method", "judge"], "needs at least one --judge"),
        (["--method", "mc", "--rollout-model", "nope"], "--rollout-model: no model 'nope'"),
        (["--method", "mc", "--rollout-model", "first-a", "--k", "0"], "--k: K must be between 1 and 64"),
        (["--method", "judge", "--judge", "first-a", "--correct", "yes"], "--traces: no traces selected"),
    ]:
        with pytest.raises(CommandError, match=message):
            call_command("annotate", "--project", project.slug, *arguments, stdout=StringIO(), stderr=StringIO())
