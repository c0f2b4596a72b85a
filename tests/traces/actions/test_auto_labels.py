"""Monte Carlo label jobs (issue 5 item 4, SPEC §3.6) with a deterministic in-process backend:
what is stored, batching, binary search, replacement, cancellation, resumption, bad requests."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from rollout_backend import RolloutScript

from traces.actions.auto_labels import (
    MC_SOURCE,
    JudgeSpec,
    McSpec,
    Selection,
    do_start_judge,
    do_start_mc,
    run_auto_labels,
)
from traces.actions.exports import ExportFilters, RequestRejected
from traces.actions.store import store_traces
from traces.backends import BackendUnavailable, RolloutBackend
from traces.formats.base import ParsedStep, ParsedTrace
from traces.models import HUMAN, Label, LanguageModel, Project, Run, RunKind, RunStatus, Trace, TraceAnnotation

STEPS = ["Two plus two.", "MAYBE it is 4.", "WRONG: it is 5.", "So 5."]


def store(project: Project, steps: Sequence[str], *, key: str = "a", answer: str = "4", model: str = "gen") -> Trace:
    """One imported trace with the given steps (the writer path every import takes)."""
    run, _ = Run.objects.get_or_create(project=project, kind=RunKind.IMPORT, name="import")
    parsed = ParsedTrace(
        line_no=1,
        prompt=f"Problem {key}: what is 2 + 2?",
        text="\n\n".join(steps),
        model_name=model,
        reference_answer=answer,
        steps=[ParsedStep(step) for step in steps],
    )
    report = store_traces(project, run, [parsed])
    return Trace.objects.get(pk=report.trace_ids[0])


@pytest.fixture
def roller(project: Project) -> LanguageModel:
    return LanguageModel.objects.create(project=project, name="roller", backend="transformers", endpoint="embedded")


def start(project: Project, model: LanguageModel, traces: Sequence[Trace], **spec: object) -> Run:
    with_defaults = {"k": 4, "max_new_tokens": 16, **spec}
    return do_start_mc(project, model, McSpec(**with_defaults), Selection(trace_ids=tuple(t.pk for t in traces)))


def mc_labels(trace: Trace) -> list[Label]:
    return list(Label.objects.filter(trace=trace, source=MC_SOURCE).select_related("step").order_by("step__index"))


def test_the_script_is_a_rollout_backend() -> None:
    assert isinstance(RolloutScript(), RolloutBackend)


@pytest.mark.django_db(transaction=True)
def test_linear_labels_every_step_from_one_batched_call(project: Project, roller: LanguageModel) -> None:
    trace = store(project, STEPS)
    run = start(project, roller, [trace], mode="linear")
    backend = RolloutScript()

    run = run_auto_labels(run.pk, lambda model: backend)

    assert backend.calls == [(4, 4)]  # every prefix and its K rollouts in one call
    assert (run.status, run.progress_done, run.progress_total) == (RunStatus.SUCCEEDED, 1, 1)
    assert run.report["rollouts"] == 16 and run.report["last_trace_id"] == trace.pk
    assert run.tokens_generated == 16 * 5
    labels = mc_labels(trace)
    assert [label.value for label in labels] == [1, 1, -1, -1]
    assert [label.confidence for label in labels] == [1.0, 0.5, 0.0, 0.0]
    assert [label.params["progress"] for label in labels] == [None, -0.5, -0.5, 0.0]
    for label in labels:
        assert label.user is None
        assert label.params["rollouts"] == 4 and label.params["run_id"] == run.pk
        assert label.params["correct"] == sum(label.params["outcomes"]) == label.confidence * 4
        assert [answer == "4" for answer in label.params["answers"]] == label.params["outcomes"]
    annotation = TraceAnnotation.objects.get(trace=trace, source=MC_SOURCE)
    assert annotation.first_error_step == 2 and annotation.params["rollouts"] == 16
    trace.refresh_from_db()
    assert trace.has_labels


@pytest.mark.django_db(transaction=True)
def test_binary_search_rolls_out_fewer_prefixes_and_infers_the_rest(project: Project, roller: LanguageModel) -> None:
    trace = store(project, STEPS)
    backend = RolloutScript()
    run = run_auto_labels(start(project, roller, [trace], mode="binary").pk, lambda model: backend)

    assert backend.calls == [(1, 4), (1, 4)]  # prefixes 2 (hopeless), then 1 (solvable)
    assert run is not None and run.report["rollouts"] == 8
    labels = {label.step.index: label for label in mc_labels(trace)}
    assert sorted(labels) == [0, 1, 2]  # after the first error: unrated
    assert (labels[0].value, labels[0].confidence, labels[0].params["inferred"]) == (1, None, True)
    assert (labels[1].value, labels[1].confidence, labels[1].params["correct"]) == (1, 0.5, 2)
    assert (labels[2].value, labels[2].confidence) == (-1, 0.0)
    assert TraceAnnotation.objects.get(trace=trace, source=MC_SOURCE).params["prefixes_evaluated"] == [1, 2]


@pytest.mark.django_db(transaction=True)
def test_rerunning_replaces_the_method_s_labels_and_keeps_people_s(
    project: Project, roller: LanguageModel, owner: object
) -> None:
    trace = store(project, STEPS)
    step = trace.steps.get(index=3)
    Label.objects.create(step=step, trace=trace, value=1, source=HUMAN, user=owner)
    for _ in range(2):
        run_auto_labels(start(project, roller, [trace], mode="linear").pk, lambda model: RolloutScript())
    assert Label.objects.filter(trace=trace, source=MC_SOURCE).count() == 4
    assert Label.objects.get(trace=trace, source=HUMAN).value == 1


@pytest.mark.django_db(transaction=True)
def test_a_cancelled_run_stops_between_traces(project: Project, roller: LanguageModel) -> None:
    first, second = store(project, STEPS, key="a"), store(project, STEPS, key="b")
    run = start(project, roller, [first, second])

    def cancel_during_first(call: int) -> None:
        Run.objects.filter(pk=run.pk).update(status=RunStatus.CANCELLED)

    run_auto_labels(run.pk, lambda model: RolloutScript(before_call=cancel_during_first))
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED and run.progress_done == 1
    assert mc_labels(first) and not mc_labels(second)


@pytest.mark.django_db(transaction=True)
def test_a_redelivered_task_skips_the_traces_already_done(project: Project, roller: LanguageModel) -> None:
    first, second = store(project, STEPS, key="a"), store(project, STEPS, key="b")
    run = start(project, roller, [first, second])
    Run.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, report={"last_trace_id": first.pk}, progress_done=1)
    backend = RolloutScript()
    run = run_auto_labels(run.pk, lambda model: backend)
    assert backend.calls == [(4, 4)] and run.progress_done == 2 and run.status == RunStatus.SUCCEEDED
    assert not mc_labels(first) and mc_labels(second)
    assert run_auto_labels(run.pk, lambda model: backend) is None  # finished: nothing to do


@pytest.mark.django_db(transaction=True)
def test_a_trace_without_reference_answer_is_skipped_and_reported(project: Project, roller: LanguageModel) -> None:
    trace = store(project, STEPS, answer="")
    run = run_auto_labels(start(project, roller, [trace]).pk, lambda model: RolloutScript())
    assert run is not None and run.status == RunStatus.SUCCEEDED and run.report["skipped"] == 1
    assert run.report["skipped_examples"] == [{"trace": trace.pk, "reason": "the problem has no reference answer"}]
    assert not mc_labels(trace)


@pytest.mark.django_db(transaction=True)
def test_backend_failures(project: Project, roller: LanguageModel) -> None:
    trace = store(project, STEPS)
    run = start(project, roller, [trace])

    def unavailable(model: LanguageModel) -> RolloutScript:
        raise BackendUnavailable("the server is starting")

    with pytest.raises(BackendUnavailable):
        run_auto_labels(run.pk, unavailable)
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING  # the task retries it

    def crash(call: int) -> None:
        raise RuntimeError("engine crashed")

    with pytest.raises(RuntimeError):
        run_auto_labels(run.pk, lambda model: RolloutScript(before_call=crash))
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.error == "RuntimeError: engine crashed"
    assert not mc_labels(trace)


@pytest.mark.django_db
def test_starting_queues_one_task_after_commit(
    project: Project, roller: LanguageModel, django_capture_on_commit_callbacks
) -> None:
    traces = [store(project, STEPS, key="a"), store(project, STEPS, key="b")]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = do_start_mc(project, roller, McSpec(k=2, mode="binary"), Selection(ExportFilters(model="gen")))
    assert len(callbacks) == 1
    assert (run.kind, run.status, run.progress_total, run.model) == (RunKind.MC_ROLLOUT, RunStatus.QUEUED, 2, roller)
    assert run.params["k"] == 2 and run.params["mode"] == "binary"
    assert run.params["max_trace_id"] == max(t.pk for t in traces)
    assert run.params["filters"]["model"] == "gen"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        (McSpec(k=0), "k", "K must be between 1 and 64"),
        (McSpec(mode="fast"), "mode", "mode must be one of linear, binary"),
        (McSpec(max_new_tokens=0), "max_new_tokens", "between 1 and"),
        (McSpec(temperature=-1), "temperature", "between 0 and 2"),
    ],
)
def test_bad_parameters_are_refused(
    project: Project, roller: LanguageModel, spec: McSpec, field: str, message: str
) -> None:
    trace = store(project, STEPS)
    with pytest.raises(RequestRejected) as refused:
        do_start_mc(project, roller, spec, Selection(trace_ids=(trace.pk,)))
    assert refused.value.field == field and message in refused.value.message
    assert not Run.objects.filter(kind=RunKind.MC_ROLLOUT).exists()


@pytest.mark.django_db
def test_bad_selections_and_models_are_refused(project: Project, roller: LanguageModel) -> None:
    store(project, STEPS)
    imported = LanguageModel.objects.get(project=project, name="gen")
    other = Project.objects.create(name="Other", slug="other")
    foreign = LanguageModel.objects.create(project=other, name="x", backend="transformers", endpoint="embedded")
    cases = [
        (lambda: do_start_mc(project, imported, McSpec(), Selection()), "model", "no endpoint chosen"),
        (lambda: do_start_mc(project, foreign, McSpec(), Selection()), "model", "not a model of project 'test'"),
        (lambda: do_start_mc(project, roller, McSpec(), Selection(trace_ids=(999999,))), "traces", "no trace [999999]"),
        (
            lambda: do_start_mc(project, roller, McSpec(), Selection(ExportFilters(correct="yes"))),
            "traces",
            "no traces",
        ),
        (lambda: do_start_judge(project, JudgeSpec(()), Selection()), "judges", "at least one judge"),
        (lambda: do_start_judge(project, JudgeSpec((foreign.pk,)), Selection()), "judges", f"no model [{foreign.pk}]"),
        (
            lambda: do_start_judge(project, JudgeSpec((roller.pk,), mode="vibes"), Selection()),
            "mode",
            "steps, first_error",
        ),
    ]
    for call, field, message in cases:
        with pytest.raises(RequestRejected) as refused:
            call()
        assert refused.value.field == field and message in refused.value.message, refused.value
