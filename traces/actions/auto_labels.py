"""Automatic step labels as jobs: Monte Carlo rollouts (docs/concepts.md §3.6) and LLM
judges (docs/concepts.md §3.7).

Starting: :func:`do_start_mc` and :func:`do_start_judge` check the request (bad input raises
``RequestRejected`` naming the field), write a Run of kind ``mc_rollout`` or ``judge`` whose
``params`` hold the method's parameters and the trace selection (the trace list's filters, or trace
ids, plus the largest trace id selected, so traces added later never join the job), and queue the
`gpu` task once the row is committed. A judge job refuses a judge that generated some of the
selected traces unless ``allow_self_judging`` is set.

Running: :func:`run_auto_labels` is the task's body (and the ``annotate`` command's loop). It takes
the selected traces in id order, one at a time: the backend work happens outside any transaction,
then the trace's labels, its trace annotation and the run's cursor and progress are written in one
transaction. So a redelivered task resumes after the last trace done (``report["last_trace_id"]``)
and re-running a method replaces the trace's labels of that source. The Run's status is re-read
after every engine batch (``LiveProgress``, which also shows the engine's progress on the job page):
a run cancelled meanwhile stops there and stores nothing of the trace in flight, so its progress
counts the traces it labelled.

What is stored, per trace:

* Monte Carlo: labels of source ``mc_rollout``, confidence = the step's MC value v (None for a
  step the binary search inferred), params ``{run_id, K, mode, rollouts, correct, outcomes,
  answers, progress, inferred}`` (``answers``: the answer each rollout reached, so a label can be
  checked against its rollouts); a ``mc_rollout`` trace annotation with the first error.
* Judges: labels of source ``llm_judge:<model name>`` (no confidence: one sample), and with two or
  more judges the panel's strict majority as ``llm_judge:panel`` with confidence = the share of
  judges agreeing; a trace annotation per judge with its first error. A reply that does not parse
  writes no label: its trace annotation's ``params["parse_failure"]`` (and the run's report) keep
  the reason and an excerpt of the reply. The report also holds the panel's agreement over the
  run (Krippendorff's alpha, Fleiss' kappa).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from traces import jobs
from traces.actions.exports import ExportFilters, RequestRejected, select_traces
from traces.actions.models import why_model_cannot_generate
from traces.actions.runs import (
    ACTIVE,
    DATABASE_GONE,
    LiveProgress,
    RunCancelled,
    fail_run,
    is_stopped,
    mark_started,
    without_engine,
)
from traces.analysis.answers import canonical_answer_type
from traces.analysis.judges import (
    JUDGE_MODES,
    JudgeMode,
    ParseFailure,
    Verdicts,
    judge_prompt,
    panel_agreement,
    panel_labels,
    parse_reply,
)
from traces.analysis.metrics.agreement import first_error_index
from traces.analysis.rollouts import (
    MODES,
    PrefixValue,
    evaluate,
    first_error,
    judge_rollout,
    rollout_count,
    step_labels,
)
from traces.backends import BackendUnavailable, ChatPrompt, GenerationBackend, RolloutBackend, SamplingParams
from traces.generation import build_prompt
from traces.models import Label, LanguageModel, Project, Run, RunKind, RunStatus, Score, Step, Trace, TraceAnnotation
from traces.models.trace import TraceQuerySet

MC_SOURCE = "mc_rollout"
JUDGE_SOURCE_PREFIX = "llm_judge:"
PANEL_SOURCE = "llm_judge:panel"

DEFAULT_K = 8
MAX_K = 64
MAX_NEW_TOKENS = 8192
#: Parse failures listed in a run's report (the count is always exact).
MAX_FAILURES_SHOWN = 50
#: Characters of a rollout's extracted answer kept in a label's params.
ANSWER_CHARS = 80


BackendFor = Callable[[LanguageModel], GenerationBackend]


def judge_source(model: LanguageModel) -> str:
    """The label source of a judge model (docs/concepts.md §1 Label sources)."""
    return f"{JUDGE_SOURCE_PREFIX}{model.name}"


# --- Requests -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """The traces a job labels: explicit ids (the viewer's one trace), else the trace list's filters."""

    filters: ExportFilters = field(default_factory=ExportFilters)
    trace_ids: tuple[int, ...] = ()

    def as_params(self) -> dict[str, Any]:
        return {"filters": asdict(self.filters), "trace_ids": list(self.trace_ids)}

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Selection:
        return cls(ExportFilters(**params.get("filters", {})), tuple(params.get("trace_ids", [])))


@dataclass(frozen=True)
class McSpec:
    """Monte Carlo parameters (docs/concepts.md §3.6): K rollouts per prefix, linear or binary search."""

    k: int = DEFAULT_K
    mode: str = "linear"
    max_new_tokens: int = 512
    temperature: float = 0.7
    seed: int | None = 0

    def check(self) -> None:
        if not 1 <= self.k <= MAX_K:
            raise RequestRejected("k", f"K must be between 1 and {MAX_K}, got {self.k}")
        if self.mode not in MODES:
            raise RequestRejected("mode", f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        _check_sampling(self.max_new_tokens, self.temperature)

    def sampling(self) -> SamplingParams:
        return SamplingParams(
            max_new_tokens=self.max_new_tokens, temperature=self.temperature, n=self.k, seed=self.seed
        )


@dataclass(frozen=True)
class JudgeSpec:
    """LLM judge parameters (docs/concepts.md §3.7): the judges (model ids), the prompt, self-judging."""

    judge_ids: tuple[int, ...]
    mode: str = "first_error"
    allow_self_judging: bool = False
    max_new_tokens: int = 2048
    temperature: float = 0.0
    seed: int | None = 0

    def check(self) -> None:
        if not self.judge_ids:
            raise RequestRejected("judges", "choose at least one judge model")
        if len(set(self.judge_ids)) != len(self.judge_ids):
            raise RequestRejected("judges", "a model is named twice among the judges")
        if self.mode not in JUDGE_MODES:
            raise RequestRejected("mode", f"mode must be one of {', '.join(JUDGE_MODES)}, got {self.mode!r}")
        _check_sampling(self.max_new_tokens, self.temperature)

    def sampling(self) -> SamplingParams:
        return SamplingParams(max_new_tokens=self.max_new_tokens, temperature=self.temperature, seed=self.seed)


def _check_sampling(max_new_tokens: int, temperature: float) -> None:
    if not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
        raise RequestRejected("max_new_tokens", f"max_new_tokens must be between 1 and {MAX_NEW_TOKENS}")
    if not 0 <= temperature <= 2:
        raise RequestRejected("temperature", f"temperature must be between 0 and 2, got {temperature}")


def selected_traces(project: Project, selection: Selection) -> TraceQuerySet:
    """The project's traces a selection names; RequestRejected for ids the project lacks."""
    if not selection.trace_ids:
        return select_traces(project, selection.filters)
    traces = Trace.objects.in_project(project).filter(pk__in=selection.trace_ids)
    missing = set(selection.trace_ids) - set(traces.values_list("pk", flat=True))
    if missing:
        raise RequestRejected("traces", f"no trace {sorted(missing)[:5]} in project '{project.slug}'")
    return traces


def count_selected(traces: TraceQuerySet) -> int:
    """How many traces a job will work on; RequestRejected when the selection matches none."""
    count = traces.count()
    if not count:
        raise RequestRejected("traces", "no traces selected: the filters match none")
    return count


def _check_model(project: Project, model: LanguageModel, field_name: str) -> None:
    if model.project_id != project.pk:
        raise RequestRejected(field_name, f"model '{model.name}' is not a model of project '{project.slug}'")
    refusal = why_model_cannot_generate(model)
    if refusal:
        raise RequestRejected(field_name, refusal)


def is_own_trace(judge: LanguageModel, trace_model: LanguageModel) -> bool:
    """Whether ``judge`` is the model that generated a trace of ``trace_model``: the same row, or a
    judge that asks its endpoint for the trace model's name (``served_model``)."""
    return judge.pk == trace_model.pk or trace_model.name.lower() in (judge.name.lower(), judge.served_model.lower())


def _start(
    project: Project,
    kind: str,
    model: LanguageModel,
    name: str,
    params: dict[str, Any],
    traces: TraceQuerySet,
    user: User | None,
    seed: int | None,
    n_samples: int,
    queue: bool,
) -> Run:
    """Create the queued Run and, when ``queue``, queue its `gpu` task once the row is committed."""
    count = count_selected(traces)
    task = jobs.MC_ROLLOUTS if kind == RunKind.MC_ROLLOUT else jobs.JUDGE
    with transaction.atomic():
        run = Run.objects.create(
            project=project,
            model=model,
            kind=kind,
            name=f"{name} × {count} trace{'s' if count != 1 else ''}",
            n_samples=n_samples,
            seed=seed,
            params={**params, "max_trace_id": traces.aggregate(top=Max("pk"))["top"]},
            progress_total=count,
            created_by=user if user is not None and user.is_authenticated else None,
        )
        if queue:
            transaction.on_commit(lambda: jobs.enqueue(task, run.pk))
    return run


def do_start_mc(
    project: Project,
    model: LanguageModel,
    spec: McSpec,
    selection: Selection,
    *,
    user: User | None = None,
    queue: bool = True,
) -> Run:
    """Queue Monte Carlo step labels of the selected traces, rolled out with ``model`` (``queue``
    False: only create the Run, for a caller that runs it in its own process)."""
    _check_model(project, model, "model")
    spec.check()
    traces = selected_traces(project, selection)
    params = {**asdict(spec), **selection.as_params()}
    name = f"MC labels ({model.name}, K={spec.k}, {spec.mode})"
    return _start(project, RunKind.MC_ROLLOUT, model, name, params, traces, user, spec.seed, spec.k, queue)


def do_start_judge(
    project: Project,
    spec: JudgeSpec,
    selection: Selection,
    *,
    user: User | None = None,
    queue: bool = True,
) -> Run:
    """Queue LLM judge labels of the selected traces by the judges of ``spec`` (``queue`` as in
    :func:`do_start_mc`)."""
    spec.check()
    judges = judge_models(project, spec.judge_ids)
    for judge in judges:
        _check_model(project, judge, "judges")
    traces = selected_traces(project, selection)
    if not spec.allow_self_judging:
        trace_models = LanguageModel.objects.filter(pk__in=traces.values("model_id").distinct())
        for judge in judges:
            own = [m for m in trace_models if is_own_trace(judge, m)]
            if own:
                raise RequestRejected(
                    "judges",
                    f"'{judge.name}' would judge traces generated by '{own[0].name}' (itself): a model does "
                    "not judge its own traces unless self-judging is allowed",
                )
    params = {**asdict(spec), "judge_ids": list(spec.judge_ids), **selection.as_params()}
    names = ", ".join(judge.name for judge in judges)
    name = f"Judges ({names}, {spec.mode})"
    return _start(project, RunKind.JUDGE, judges[0], name, params, traces, user, spec.seed, 1, queue)


def judge_models(project: Project, judge_ids: Sequence[int]) -> list[LanguageModel]:
    """The judge models in the given order; RequestRejected for ids the project lacks."""
    found = {model.pk: model for model in LanguageModel.objects.filter(project=project, pk__in=judge_ids)}
    missing = [pk for pk in judge_ids if pk not in found]
    if missing:
        raise RequestRejected("judges", f"no model {missing[:5]} in project '{project.slug}'")
    return [found[pk] for pk in judge_ids]


# --- Running --------------------------------------------------------------------------------------


@dataclass
class TraceResult:
    """What labelling one trace produced, written by :func:`commit_trace` in one transaction."""

    labels: dict[str, list[Label]] = field(default_factory=dict)  # source → its new labels (may be empty)
    annotations: dict[str, TraceAnnotation] = field(default_factory=dict)  # source → its new annotation
    scores: dict[str, list[Score]] = field(default_factory=dict)  # method → its new step and trace scores
    failures: list[dict[str, Any]] = field(default_factory=list)
    skipped: str = ""
    rollouts: int = 0
    tokens: int = 0


Labeler = Callable[[Trace, list[Step]], TraceResult]


def run_auto_labels(
    run_id: int, backend_for: BackendFor, *, on_trace: Callable[[Run], object] | None = None
) -> Run | None:
    """Label the traces of an active Monte Carlo or judge run not yet done (the task's body).

    Returns the run, or None when it is gone or no longer active. BackendUnavailable propagates
    with the run still active (the task retries it); any other error fails the run, then
    propagates. ``on_trace`` is called after each trace (the command's progress bar).
    """
    run = (
        Run.objects.filter(pk=run_id, kind__in=(RunKind.MC_ROLLOUT, RunKind.JUDGE), status__in=ACTIVE)
        .select_related("project", "model")
        .first()
    )
    if run is None:
        return None
    mark_started(run)
    live = LiveProgress(run.pk)
    try:
        make_labeler = _mc_labeler if run.kind == RunKind.MC_ROLLOUT else _judge_labeler
        labeler = make_labeler(run, backend_for, live)
        for trace, steps in pending_traces(run):
            if is_stopped(run.pk):
                raise RunCancelled
            commit_trace(run, trace, labeler(trace, steps))
            if on_trace is not None:
                on_trace(run)
    except RunCancelled:
        run.refresh_from_db()
        return run
    except (BackendUnavailable, *DATABASE_GONE):
        raise
    except Exception as error:
        fail_run(run.pk, error)
        raise
    _finish(run)
    return run


def _finish(run: Run) -> None:
    """Succeed the run; a judge run's report gets the panel's agreement over the run."""
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        report = dict(locked.report)
        if locked.kind == RunKind.JUDGE and len(locked.params.get("judge_ids", [])) > 1:
            report["agreement"] = _run_agreement(locked)
        Run.objects.filter(pk=run.pk, status__in=ACTIVE).update(
            status=RunStatus.SUCCEEDED, finished_at=timezone.now(), report=report
        )
    run.refresh_from_db()


def pending_traces(run: Run) -> Iterator[tuple[Trace, list[Step]]]:
    """The run's traces after its cursor, in id order, each with its current steps."""
    traces = selected_traces(run.project, Selection.from_params(run.params)).filter(
        pk__lte=run.params.get("max_trace_id") or 0
    )
    queryset = traces.select_related("problem", "model").order_by("pk")
    last_id = int(run.report.get("last_trace_id", 0))
    while batch := list(queryset.filter(pk__gt=last_id)[:50]):
        for trace in batch:
            steps = list(Step.objects.filter(segmentation=trace.current_segmentation_id).order_by("index"))
            yield trace, steps
        last_id = batch[-1].pk


@transaction.atomic
def commit_trace(run: Run, trace: Trace, result: TraceResult) -> None:
    """Replace the trace's labels, annotations and scores of each source, advance the run's cursor."""
    for source, labels in result.labels.items():
        Label.objects.filter(trace=trace, source=source, user__isnull=True).delete()
        Label.objects.bulk_create(labels)
    for source, annotation in result.annotations.items():
        TraceAnnotation.objects.filter(trace=trace, source=source, user__isnull=True).delete()
        annotation.save()
    for method, scores in result.scores.items():
        Score.objects.filter(trace=trace, method=method).delete()
        Score.objects.bulk_create(scores)
    Trace.objects.filter(pk=trace.pk).update(has_labels=Label.objects.filter(trace=trace).exists())
    locked = Run.objects.select_for_update().get(pk=run.pk)
    report = without_engine(locked.report)
    report["last_trace_id"] = trace.pk
    report["rollouts"] = int(report.get("rollouts", 0)) + result.rollouts
    if result.skipped:
        report["skipped"] = int(report.get("skipped", 0)) + 1
        report.setdefault("skipped_examples", [])
        if len(report["skipped_examples"]) < MAX_FAILURES_SHOWN:
            report["skipped_examples"] = [*report["skipped_examples"], {"trace": trace.pk, "reason": result.skipped}]
    if result.failures:
        report["parse_failure_count"] = int(report.get("parse_failure_count", 0)) + len(result.failures)
        shown = list(report.get("parse_failures", []))
        report["parse_failures"] = (shown + result.failures)[:MAX_FAILURES_SHOWN]
    Run.objects.filter(pk=run.pk).update(
        report=report, progress_done=F("progress_done") + 1, tokens_generated=F("tokens_generated") + result.tokens
    )


# --- Monte Carlo ----------------------------------------------------------------------------------


def _mc_labeler(run: Run, backend_for: BackendFor, live: LiveProgress) -> Labeler:
    """Per trace: roll out its prefixes as the run's mode plans, and label its steps (docs/concepts.md §3.6)."""
    model = run.model
    if model is None:
        raise ValueError(f"run {run.pk} has no rollout model")
    backend = backend_for(model)
    if not isinstance(backend, RolloutBackend):
        raise ValueError(f"model '{model.name}' ({model.backend}) cannot continue a partial answer")
    spec = McSpec(**{name: run.params[name] for name in McSpec.__dataclass_fields__ if name in run.params})
    sampling = spec.sampling()

    def label(trace: Trace, steps: list[Step]) -> TraceResult:
        reference = trace.problem.answer
        if not reference.strip():
            return TraceResult(skipped="the problem has no reference answer")
        if not steps:
            return TraceResult(skipped="the trace has no steps")
        prompt = build_prompt(trace.problem.prompt, model.system_prompt)
        prefixes = [trace.raw_text[: step.char_end] for step in steps]
        tokens = 0

        def measure(todo: list[int]) -> list[PrefixValue]:
            nonlocal tokens
            progress = live.engine_call(len(todo) * spec.k, units=len(todo) / len(steps))
            samples = backend.continue_from([prompt] * len(todo), [prefixes[s] for s in todo], sampling, progress)
            tokens += sum(c.completion_tokens for completions in samples for c in completions)
            return [
                PrefixValue(
                    step,
                    tuple(
                        judge_rollout(prefixes[step], c.text, reference, canonical_answer_type(trace.problem.answer_type))
                        for c in completions
                    ),
                )
                for step, completions in zip(todo, samples, strict=True)
            ]

        measured = evaluate(len(steps), spec.mode, measure)
        common = {"run_id": run.pk, "K": spec.k, "mode": spec.mode}
        labels = []
        for step_label in step_labels(len(steps), measured):
            prefix_value = measured.get(step_label.step)
            params: dict[str, Any] = {**common, "inferred": step_label.inferred, "progress": step_label.progress}
            if prefix_value is not None:
                params |= {
                    "rollouts": len(prefix_value.rollouts),
                    "correct": prefix_value.correct,
                    "outcomes": [r.correct for r in prefix_value.rollouts],
                    "answers": [r.answer[:ANSWER_CHARS] if r.answer else None for r in prefix_value.rollouts],
                }
            labels.append(
                Label(
                    step=steps[step_label.step],
                    trace=trace,
                    value=step_label.value,
                    source=MC_SOURCE,
                    confidence=step_label.soft,
                    params=params,
                )
            )
        error = first_error({step: pv.value for step, pv in measured.items()})
        annotation = TraceAnnotation(
            trace=trace,
            source=MC_SOURCE,
            first_error_step=error,
            params={**common, "rollouts": rollout_count(measured), "prefixes_evaluated": sorted(measured)},
        )
        return TraceResult(
            labels={MC_SOURCE: labels},
            annotations={MC_SOURCE: annotation},
            rollouts=rollout_count(measured),
            tokens=tokens,
        )

    return label


# --- Judges ---------------------------------------------------------------------------------------


def _judge_labeler(run: Run, backend_for: BackendFor, live: LiveProgress) -> Labeler:
    """Per trace: ask each judge with the fixed prompt, parse strictly, and take the panel's majority."""
    spec = JudgeSpec(
        judge_ids=tuple(run.params["judge_ids"]),
        **{name: run.params[name] for name in ("mode", "allow_self_judging", "max_new_tokens", "temperature", "seed")},
    )
    mode: JudgeMode = spec.mode  # type: ignore[assignment]  # JudgeSpec.check() allowed only JUDGE_MODES
    judges = [(judge, backend_for(judge)) for judge in judge_models(run.project, spec.judge_ids)]
    sampling = spec.sampling()

    def label(trace: Trace, steps: list[Step]) -> TraceResult:
        if not steps:
            return TraceResult(skipped="the trace has no steps")
        texts = [trace.raw_text[step.char_start : step.char_end] for step in steps]
        prompt = ChatPrompt.of(judge_prompt(trace.problem.prompt, texts, mode))
        result = TraceResult()
        parsed: dict[str, Verdicts] = {}
        for judge, backend in judges:
            if not spec.allow_self_judging and is_own_trace(judge, trace.model):
                continue
            ((completion,),) = backend.generate([prompt], sampling, live.engine_call(1, units=1 / len(judges)))
            result.tokens += completion.completion_tokens
            source = judge_source(judge)
            common = {"run_id": run.pk, "mode": mode}
            verdict = parse_reply(completion.text, len(steps), mode)
            if isinstance(verdict, ParseFailure):
                failure = {"reason": verdict.reason, "excerpt": verdict.excerpt}
                result.failures.append({"trace": trace.pk, "judge": judge.name, **failure})
                result.labels[source] = []
                result.annotations[source] = TraceAnnotation(
                    trace=trace, source=source, params={**common, "parse_failure": failure}
                )
                continue
            parsed[source] = verdict
            result.labels[source] = _labels(trace, steps, source, verdict.labels, common)
            result.annotations[source] = TraceAnnotation(
                trace=trace, source=source, first_error_step=verdict.first_error, params=common
            )
        if len(judges) > 1:
            _add_panel(result, trace, steps, parsed, run.pk)
        return result

    return label


def _labels(
    trace: Trace,
    steps: list[Step],
    source: str,
    values: Sequence[int | None],
    params: dict[str, Any],
    confidences: Sequence[float | None] | None = None,
) -> list[Label]:
    return [
        Label(
            step=step,
            trace=trace,
            value=value,
            source=source,
            params=params,
            confidence=confidences[i] if confidences else None,
        )
        for i, (step, value) in enumerate(zip(steps, values, strict=True))
        if value is not None
    ]


def _add_panel(result: TraceResult, trace: Trace, steps: list[Step], parsed: dict[str, Verdicts], run_id: int) -> None:
    """The panel's majority labels when two or more judges' replies parsed; otherwise none."""
    result.labels[PANEL_SOURCE] = []
    if len(parsed) < 2:
        return
    majority = panel_labels([verdict.labels for verdict in parsed.values()])
    values = [p.value if p else None for p in majority]
    params = {"run_id": run_id, "judges": sorted(parsed)}
    result.labels[PANEL_SOURCE] = _labels(
        trace, steps, PANEL_SOURCE, values, params, [p.agreement if p else None for p in majority]
    )
    if all(value is not None for value in values):
        result.annotations[PANEL_SOURCE] = TraceAnnotation(
            trace=trace, source=PANEL_SOURCE, first_error_step=first_error_index(values), params=params
        )


def _run_agreement(run: Run) -> dict[str, Any]:
    """The judges' agreement over every step they rated in this run (docs/concepts.md §3.7, §3.8)."""
    ratings: dict[int, list[int]] = {}
    rows = (
        Label.objects.filter(
            trace__project=run.project,
            source__startswith=JUDGE_SOURCE_PREFIX,
            user__isnull=True,
            params__run_id=run.pk,
            value__isnull=False,
        )
        .exclude(source=PANEL_SOURCE)
        .values_list("step_id", "value")
    )
    for step_id, value in rows:
        ratings.setdefault(step_id, []).append(value)  # type: ignore[arg-type]  # value__isnull=False above; the stubs type the column as nullable
    return asdict(panel_agreement(list(ratings.values()), judges=len(run.params["judge_ids"])))
