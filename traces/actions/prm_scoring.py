"""PRM step scores as an automatic labeller, as a job (docs/concepts.md §5.3).

Starting: :func:`do_start_scoring` checks the request (a scorer the project may use, a threshold in
(0, 1), traces selected) and writes a Run of kind ``prm_scoring`` whose ``params`` hold the
scorer's name, the threshold and the trace selection; the `gpu` task is queued once the row is
committed. The scorer is resolved again by the worker (``traces.actions.prm_scorers``), so its
folder and device are whatever the operator and the system say at that moment.

Running: :func:`run_prm_scoring` is the task's body. It reads the selected traces in id order, a
batch at a time (the scorer's ``batch_size`` for each forward pass, four of them per database
batch), has the model score every step of the batch, then writes each trace in one transaction
with the run's cursor and progress (``traces.actions.auto_labels.commit_trace``), so a redelivered
task resumes after the last trace written and a cancelled run stops at its next batch. What is
stored, per trace, under the source and method ``prm:<scorer>`` (scores with the model's version):

* a ``Score`` named ``prm`` per scored step (its probability of being right);
* the trace scores ``prm_min``, ``prm_product``, ``prm_mean``, ``prm_last`` and ``prm_sum``
  (``traces.analysis.best_of_n``), only when every step was scored: a trace longer than the
  scorer's ``max_length`` would be judged on its beginning;
* a label per scored step, +1 at a score of at least the threshold and −1 below, with the score as
  its confidence, so the viewer shows it beside people's and Monte Carlo labels and the labeller
  evaluation (ProcessBench F1) reads it like any other source;
* a trace annotation with the first error (the first −1; "no error" only when every step was scored).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from itertools import islice
from typing import Any, Protocol

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from traces import jobs
from traces.actions.auto_labels import (
    Selection,
    TraceResult,
    commit_trace,
    count_selected,
    pending_traces,
    selected_traces,
)
from traces.actions.exports import RequestRejected
from traces.actions.prm_scorers import Scorer, scorer_named
from traces.actions.runs import ACTIVE, DATABASE_GONE, RunCancelled, fail_run, is_stopped, mark_started
from traces.analysis.best_of_n import AGGREGATIONS, aggregate_all
from traces.analysis.prm_inputs import STEP_TAG
from traces.backends import BackendUnavailable
from traces.formats.trl import trl_completion
from traces.models import Label, Project, ProjectScoreName, Run, RunKind, RunStatus, Score, Step, Trace, TraceAnnotation

STEP_SCORE = "prm"
#: The trace score of each aggregation.
TRACE_SCORES = {how: f"prm_{how}" for how in AGGREGATIONS}
DEFAULT_THRESHOLD = 0.5
#: Forward passes per database batch.
BATCHES_PER_READ = 4


@dataclass(frozen=True)
class ScoringSpec:
    """Which scorer, and the score at and above which a step's label is +1."""

    scorer: str
    threshold: float = DEFAULT_THRESHOLD

    def check(self) -> None:
        if not 0 < self.threshold < 1:
            raise RequestRejected("threshold", f"the threshold is a probability strictly between 0 and 1, got {self.threshold}")


def do_start_scoring(
    project: Project,
    spec: ScoringSpec,
    selection: Selection,
    *,
    user: User | None = None,
    queue: bool = True,
) -> Run:
    """Queue PRM scores of every step of the selected traces."""
    spec.check()
    scorer = scorer_named(project, spec.scorer)
    traces = selected_traces(project, selection)
    count = count_selected(traces)
    with transaction.atomic():
        run = Run.objects.create(
            project=project,
            kind=RunKind.PRM_SCORING,
            name=f"PRM scores ({scorer.name}) × {count} trace{'s' if count != 1 else ''}",
            params={**asdict(spec), **selection.as_params(), "max_trace_id": traces.aggregate(top=Max("pk"))["top"]},
            progress_total=count,
            created_by=user if user is not None and user.is_authenticated else None,
        )
        if queue:
            transaction.on_commit(lambda: jobs.enqueue(jobs.SCORE_PRM, run.pk))
    return run


# --- Running --------------------------------------------------------------------------------------


class LoadedPrm(Protocol):
    """What the worker loads for a scorer (``workers.prm.scoring.PrmModel``)."""

    version: str

    def score(
        self, items: Sequence[tuple[str, Sequence[str]]], on_batch: Callable[[int], None] | None = None
    ) -> list[list[float | None]]: ...


LoadPrm = Callable[[Scorer], LoadedPrm]


def step_texts(trace: Trace, steps: Sequence[Step], scorer: Scorer) -> list[str]:
    """The steps as the scorer reads them: trimmed as the TRL export trims them for a
    token-classification PRM (what a PRM trained here learnt from), stripped for a step-tag one."""
    texts = [trace.raw_text[step.char_start : step.char_end] for step in steps]
    if scorer.layout.convention == STEP_TAG:
        return [text.strip() for text in texts]
    return [trl_completion(text, scorer.layout.marker) for text in texts]


def run_prm_scoring(run_id: int, load: LoadPrm) -> Run | None:
    """Score the steps of an active scoring run's traces not yet done (the task's body); None when
    the run is gone or no longer active. BackendUnavailable and a lost database propagate with the
    run still active (the task retries); any other error fails the run, then propagates."""
    run = Run.objects.filter(pk=run_id, kind=RunKind.PRM_SCORING, status__in=ACTIVE).select_related("project").first()
    if run is None:
        return None
    mark_started(run)
    try:
        scorer = scorer_named(run.project, run.params["scorer"])
        model = load(scorer)
        spec = ScoringSpec(run.params["scorer"], run.params.get("threshold", DEFAULT_THRESHOLD))
        for batch in _batches(pending_traces(run), scorer.batch_size * BATCHES_PER_READ):
            if is_stopped(run.pk):
                raise RunCancelled
            items = [(trace.problem.prompt, step_texts(trace, steps, scorer)) for trace, steps in batch]
            for (trace, steps), values in zip(batch, model.score(items), strict=True):
                commit_trace(run, trace, trace_result(run.pk, trace, steps, values, scorer.source, model.version, spec))
    except RunCancelled:
        run.refresh_from_db()
        return run
    except (BackendUnavailable, *DATABASE_GONE):
        raise
    except Exception as error:
        fail_run(run.pk, error)
        raise
    _finish(run, scorer.source, model.version)
    return run


def _batches(traces: Iterator[tuple[Trace, list[Step]]], size: int) -> Iterator[list[tuple[Trace, list[Step]]]]:
    while batch := list(islice(traces, size)):
        yield batch


def trace_result(
    run_id: int,
    trace: Trace,
    steps: Sequence[Step],
    values: Sequence[float | None],
    source: str,
    version: str,
    spec: ScoringSpec,
) -> TraceResult:
    """The labels, annotation and scores of one scored trace (module docstring)."""
    params: dict[str, Any] = {"run_id": run_id, "version": version, "threshold": spec.threshold}
    labels, scores = [], []
    first_error: int | None = None
    for step, value in zip(steps, values, strict=True):
        if value is None:
            continue
        rating = 1 if value >= spec.threshold else -1
        if rating == -1 and first_error is None:
            first_error = step.index
        labels.append(Label(step=step, trace=trace, value=rating, source=source, confidence=value, params=params))
        scores.append(Score(trace=trace, step=step, name=STEP_SCORE, value=value, method=source, version=version))
    whole = bool(steps) and all(value is not None for value in values)
    if whole:
        for how, value in aggregate_all([v for v in values if v is not None]).items():
            scores.append(Score(trace=trace, name=TRACE_SCORES[how], value=value, method=source, version=version))
    if first_error is None and whole:
        first_error = -1
    annotation = TraceAnnotation(trace=trace, source=source, first_error_step=first_error, params=params)
    return TraceResult(
        labels={source: labels},
        annotations={source: annotation},
        scores={source: scores},
        skipped="" if whole else _why_partial(steps, values),
    )


def _why_partial(steps: Sequence[Step], values: Sequence[float | None]) -> str:
    if not steps:
        return "the trace has no steps"
    cut = sum(value is None for value in values)
    return f"{cut} of its {len(steps)} steps lie past the scorer's max_length: no trace score"


def _finish(run: Run, source: str, version: str) -> None:
    """Register the trace scores' names for the trace list and succeed the run with the version."""
    ProjectScoreName.objects.bulk_create(
        (ProjectScoreName(project=run.project, method=source, name=name) for name in TRACE_SCORES.values()),
        ignore_conflicts=True,
    )
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        Run.objects.filter(pk=run.pk, status__in=ACTIVE).update(
            status=RunStatus.SUCCEEDED, finished_at=timezone.now(), report={**locked.report, "version": version}
        )
    run.refresh_from_db()
