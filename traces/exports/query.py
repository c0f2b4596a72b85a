"""Read the traces of an export from the database as ``ExportTrace`` objects (docs/concepts.md §2, "Exports").

The ORM side of an export: ``iter_export_traces`` walks a Trace queryset in id order with a
server-side cursor (``QuerySet.iterator``) and, per chunk of traces, reads the steps with their
labels in one query (and the trace-level scores in one more when asked), so an export of N traces
runs ``1 + 2 × ceil(N / chunk_size)`` queries at most and holds one chunk in memory at a time.
Steps are those of each trace's current segmentation (labels always point at the steps of one
segmentation version), each saying whether a person wrote it. A trace's ``source_id`` is read from
its stored ``meta`` by its import format's module (``traces.formats.source_id``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator
from itertools import islice
from typing import Any

from django.db.models import FilteredRelation, Q, QuerySet

from traces.exports.policy import SourcedLabel
from traces.exports.records import ExportStep, ExportTrace, score_column
from traces.formats import source_id
from traces.models import Score, Step, Trace

DEFAULT_CHUNK_SIZE = 1000

#: The trace columns an export reads (``values()``: no model instances are built).
TRACE_FIELDS = (
    "id",
    "problem_id",
    "run_id",
    "current_segmentation_id",
    "raw_text",
    "sample_index",
    "finish_reason",
    "is_correct",
    "final_answer",
    "think_tokens",
    "answer_tokens",
    "generation_ms",
    "meta",
    "problem__prompt",
    "problem__answer",
    "problem__content_hash",
    "problem__source",
    "problem__external_id",
    "problem__meta",
    "model__name",
    "run__source_format",
)


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _steps_by_trace(
    raw_texts: dict[int, str], segmentation_ids: list[int], sources: Collection[str] | None, alternatives: bool
) -> dict[int, list[ExportStep]]:
    """``trace id → steps`` of the current segmentations in index order, each with its labels
    (only of ``sources`` when given). One query: steps left-joined to their labels, one row per
    label and one row for a step without any. The join also filters the labels by trace, so the
    planner reads them through the (trace, source) index instead of scanning the table."""
    condition = Q(labels__trace_id__in=list(raw_texts))
    if sources is not None:
        condition &= Q(labels__source__in=list(sources))
    steps = (
        Step.objects.filter(segmentation_id__in=segmentation_ids)
        .annotate(chosen=FilteredRelation("labels", condition=condition))
        .order_by("trace_id", "index", "chosen__id")
    )
    fields = ["id", "trace_id", "index", "char_start", "char_end"]
    fields += [f"chosen__{name}" for name in ("source", "value", "flagged", "user_id")]
    rows = steps.values_list(*fields, "human_written", *(["alternatives"] if alternatives else []))
    by_trace: dict[int, list[ExportStep]] = defaultdict(list)
    previous = None
    for row in rows:
        step_id, trace_id = row[0], row[1]
        found = () if row[5] is None else (SourcedLabel._make(row[5:9]),)
        steps_of_trace = by_trace[trace_id]
        if step_id == previous:  # another label of the same step
            steps_of_trace[-1] = steps_of_trace[-1]._replace(labels=steps_of_trace[-1].labels + found)
            continue
        previous = step_id
        text = raw_texts[trace_id][row[3] : row[4]]
        steps_of_trace.append(ExportStep(row[2], text, found, row[10] if alternatives else None, row[9]))
    return by_trace


def _scores_by_trace(trace_ids: list[int]) -> dict[int, dict[str, float]]:
    """``trace id → {score column: value}`` of trace-level scores."""
    by_trace: dict[int, dict[str, float]] = defaultdict(dict)
    rows = Score.objects.filter(trace_id__in=trace_ids, step__isnull=True)
    for trace_id, name, method, value in rows.values_list("trace_id", "name", "method", "value"):
        by_trace[trace_id][score_column(name, method)] = value
    return by_trace


def score_columns(traces: QuerySet[Trace]) -> tuple[str, ...]:
    """The trace-level score columns of a selection, sorted (one query)."""
    pairs = (
        Score.objects.filter(trace__in=traces.order_by().values("id"), step__isnull=True)
        .order_by()
        .values_list("name", "method")
        .distinct()
    )
    return tuple(sorted(score_column(name, method) for name, method in pairs))


def _export_trace(row: dict[str, Any], steps: list[ExportStep], scores: dict[str, float]) -> ExportTrace:
    return ExportTrace(
        id=row["id"],
        prompt=row["problem__prompt"],
        reference_answer=row["problem__answer"],
        problem_id=row["problem_id"],
        problem_hash=row["problem__content_hash"],
        model=row["model__name"],
        run_id=row["run_id"],
        steps=tuple(steps),
        source_format=row["run__source_format"],
        source_id=source_id(row["run__source_format"], row["meta"] or {}),
        problem_source=row["problem__source"],
        problem_external_id=row["problem__external_id"],
        problem_meta=row["problem__meta"] or {},
        sample_index=row["sample_index"],
        finish_reason=row["finish_reason"],
        is_correct=row["is_correct"],
        final_answer=row["final_answer"],
        think_tokens=row["think_tokens"],
        answer_tokens=row["answer_tokens"],
        generation_ms=row["generation_ms"],
        meta=row["meta"] or {},
        scores=scores,
    )


def iter_export_traces(
    traces: QuerySet[Trace],
    *,
    sources: Collection[str] | None = None,
    alternatives: bool = False,
    scores: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Iterator[ExportTrace]:
    """Stream the traces of a queryset in id order, with steps and labels (module docstring).

    ``sources`` restricts the labels read to those sources; ``alternatives`` reads the steps'
    alternatives (PRM800K); ``scores`` reads trace-level scores.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    rows = traces.order_by("id").values(*TRACE_FIELDS).iterator(chunk_size=chunk_size)
    for chunk in _chunks(rows, chunk_size):
        trace_ids = [row["id"] for row in chunk]
        segmentation_ids = [row["current_segmentation_id"] for row in chunk if row["current_segmentation_id"]]
        steps = _steps_by_trace({row["id"]: row["raw_text"] for row in chunk}, segmentation_ids, sources, alternatives)
        trace_scores = _scores_by_trace(trace_ids) if scores else {}
        for row in chunk:
            yield _export_trace(row, steps.get(row["id"], []), trace_scores.get(row["id"], {}))
