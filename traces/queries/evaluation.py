"""Evaluate an automatic labeller against a reference labelling (docs/concepts.md §3.8).

Any label source (``mc_rollout``, ``llm_judge:<model>``, ``heuristic:<name>``, ``import:<format>``,
``human``, ``adjudicated``) is scored against another one taken as the reference — people's
labels, adjudicated labels or an imported ProcessBench set — over a project's traces (optionally
filtered as the trace list filters them):

* **ProcessBench F1** (``traces.analysis.metrics.processbench_f1``) of the first-error indices.
  A labelling's first error in a trace is what the ProcessBench export would write for it
  (``traces.exports.records.first_error_position``): the first step rated −1, or −1 ("no error")
  when every step is rated and none is −1; a step left unrated before any −1 leaves it
  undetermined, and the trace then does not enter the F1. Neutral (0) is not an error.
* **Step accuracy and confusion** (``traces.analysis.metrics.step_confusion``) over the steps
  both labellings rate, values −1/0/+1.

Several labels of one source on one step (people overlapping) count as their majority, a tie
going to the more critical value (``traces.exports.policy.resolve_step``). Traces are read in
chunks with ``traces.exports.query.iter_export_traces`` (two queries per chunk), so memory holds
one chunk of traces plus one small integer per compared step.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from django.db.models import Q, QuerySet

from traces.actions.exports import ExportFilters, RequestRejected, select_traces
from traces.analysis.metrics import ProcessBenchScore, StepConfusion, processbench_f1, step_confusion
from traces.exports.policy import (
    ADJUDICATED_ELSE_HUMAN,
    HUMAN_ELSE_AUTO,
    LabelPolicy,
    Neutral,
    PolicyStep,
    SourcedLabel,
    trace_steps,
)
from traces.exports.query import iter_export_traces
from traces.exports.records import ExportTrace, first_error_position, labels_per_step
from traces.exports.writers import fewer_gc_passes
from traces.models import Label, Project, Trace


@dataclass(frozen=True)
class LabellerEvaluation:
    """How a method's step labels compare with a reference labelling's.

    ``traces_compared`` traces have steps rated by both; ``missing_method`` (``missing_reference``)
    have steps rated by the reference (method) only; ``first_errors_compared`` of the compared
    traces have a determined first error in both labellings and make the ProcessBench figures.
    ``processbench`` is None when no trace has, ``confusion`` when no step is rated by both.
    """

    method: str
    reference: str
    traces_read: int
    traces_compared: int
    missing_method: int
    missing_reference: int
    first_errors_compared: int
    processbench: ProcessBenchScore | None
    confusion: StepConfusion | None

    @property
    def step_accuracy(self) -> float | None:
        return self.confusion.accuracy if self.confusion else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures (the API's response, the command's ``--json``)."""
        figures = {name: value for name, value in asdict(self).items() if name not in ("processbench", "confusion")}
        figures["processbench"] = asdict(self.processbench) if self.processbench else None
        figures["step_accuracy"] = self.step_accuracy
        figures["steps_compared"] = self.confusion.total if self.confusion else 0
        figures["confusion"] = (
            {"labels": list(self.confusion.labels), "counts": [list(row) for row in self.confusion.counts]}
            if self.confusion
            else None
        )
        return figures


def labelling_policy(source: str, field: str) -> LabelPolicy:
    """The policy that reads one source's labels as they are (neutral is not an error)."""
    if source in (HUMAN_ELSE_AUTO, ADJUDICATED_ELSE_HUMAN):
        raise RequestRejected(field, f"name one label source, not {source!r}")
    try:
        return LabelPolicy(sources=source, neutral=Neutral.POSITIVE)
    except ValueError:
        raise RequestRejected(field, f"must be a label source name without spaces, got {source!r}") from None


def labels_of(source: str, labels_per_step: list[tuple[SourcedLabel, ...]]) -> list[tuple[SourcedLabel, ...]]:
    """Each step's labels from ``source`` alone (most steps then hold one label, which the
    policy resolves without counting votes)."""
    return [tuple(label for label in labels if label.source == source) for labels in labels_per_step]


def _rated(steps: list[PolicyStep]) -> bool:
    return any(step.rating is not None for step in steps)


def score_labeller(method: LabelPolicy, reference: LabelPolicy, traces: Iterable[ExportTrace]) -> LabellerEvaluation:
    """Compare two labellings (one source each) over ``traces`` (module docstring). Pure."""
    traces_read = compared = missing_method = missing_reference = 0
    method_values: list[int] = []
    reference_values: list[int] = []
    method_first: list[int] = []
    reference_first: list[int] = []
    for trace in traces:
        traces_read += 1
        labels = labels_per_step(trace)
        ours = trace_steps(method, labels_of(method.sources, labels))
        theirs = trace_steps(reference, labels_of(reference.sources, labels))
        if not _rated(ours) or not _rated(theirs):
            missing_method += _rated(theirs)
            missing_reference += _rated(ours)
            continue
        compared += 1
        for mine, truth in zip(ours, theirs, strict=True):  # neutral is kept: one PolicyStep per step
            if mine.rating is not None and truth.rating is not None:
                method_values.append(mine.rating.value)
                reference_values.append(truth.rating.value)
        first_mine, first_truth = first_error_position(ours), first_error_position(theirs)
        if first_mine is not None and first_truth is not None:
            method_first.append(first_mine)
            reference_first.append(first_truth)
    return LabellerEvaluation(
        method=method.sources,
        reference=reference.sources,
        traces_read=traces_read,
        traces_compared=compared,
        missing_method=missing_method,
        missing_reference=missing_reference,
        first_errors_compared=len(method_first),
        processbench=processbench_f1(method_first, reference_first) if method_first else None,
        confusion=step_confusion(method_values, reference_values) if method_values else None,
    )


def evaluate_labeller(
    project: Project, method: str, reference: str, filters: ExportFilters | None = None, hidden: Q | None = None
) -> LabellerEvaluation:
    """Score source ``method`` against source ``reference`` over the project's (filtered) traces;
    labels ``hidden`` matches do not make a trace labeled for the filter."""
    return evaluate_traces(select_traces(project, filters or ExportFilters(), hidden), method, reference)


def evaluate_traces(traces: QuerySet[Trace], method: str, reference: str) -> LabellerEvaluation:
    """Score source ``method`` against source ``reference`` over ``traces`` (a project's, or a queue's)."""
    method_policy = labelling_policy(method, "method")
    reference_policy = labelling_policy(reference, "reference")
    stream = iter_export_traces(traces, sources={method, reference})
    with fewer_gc_passes():  # millions of small tuples, as in an export
        return score_labeller(method_policy, reference_policy, stream)


def label_sources(project: Project) -> list[str]:
    """The label sources present in a project, sorted (what an evaluation or export can name)."""
    labels = Label.objects.filter(trace__project=project).order_by("source")
    return list(labels.values_list("source", flat=True).distinct())
