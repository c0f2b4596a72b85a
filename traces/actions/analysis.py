"""Run the analysis engine on stored traces and store its results (issue: analysis engine, item 5).

Numbers become ``Score`` rows (method ``analysis``), verdicts and markers one ``TraceAnalysis``
row per trace. Re-running replaces a trace's previous results in one transaction per batch, so
the pass is idempotent and a crash leaves each trace with either its old or its new results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict

from django.db import transaction
from django.db.models import Q, QuerySet

from traces.analysis.answers import canonical_answer_type
from traces.analysis.engine import ANALYSIS_VERSION, METHOD, TraceInput, TraceReport, analyze_trace
from traces.analysis.segmentation import Span
from traces.models import ProjectScoreName, Score, Step, Trace, TraceAnalysis
from traces.models.analysis import SUMMARY_SCORES

BATCH_SIZE = 200

Progress = Callable[[int], object]  # what it returns is ignored


def trace_input(trace: Trace, steps: list[Step]) -> TraceInput:
    """The engine's view of one stored trace (its problem must be loaded)."""
    return TraceInput(
        text=trace.raw_text,
        split=trace.think_split,
        steps=[Span(step.char_start, step.char_end) for step in steps],
        finish_reason=trace.finish_reason,
        reference=trace.problem.answer or None,
        answer_type=canonical_answer_type(trace.problem.answer_type),
        problem=trace.problem.prompt,
    )


def needing_analysis(traces: QuerySet[Trace]) -> QuerySet[Trace]:
    """Traces never analysed, or analysed by an older engine version."""
    return traces.filter(Q(analysis__isnull=True) | ~Q(analysis__version=ANALYSIS_VERSION))


def analyze_traces(traces: QuerySet[Trace], *, progress: Progress | None = None) -> int:
    """Analyse every trace of ``traces`` in batches; returns how many were analysed."""
    done = 0
    for batch in _batches(traces):
        steps = _steps_by_trace(batch)
        reports = [analyze_trace(trace_input(trace, steps.get(trace.pk, []))) for trace in batch]
        _store(batch, reports)
        done += len(batch)
        if progress:
            progress(len(batch))
    return done


def _batches(traces: QuerySet[Trace]) -> Iterator[list[Trace]]:
    """Keyset batches by id: constant memory, and stable while earlier batches are rewritten."""
    queryset = traces.select_related("problem").order_by("id")
    last_id = 0
    while batch := list(queryset.filter(id__gt=last_id)[:BATCH_SIZE]):
        yield batch
        last_id = batch[-1].pk


def _steps_by_trace(batch: list[Trace]) -> dict[int, list[Step]]:
    segmentation_ids = [t.current_segmentation_id for t in batch if t.current_segmentation_id]
    steps: dict[int, list[Step]] = {}
    for step in Step.objects.filter(segmentation_id__in=segmentation_ids).only(
        "trace_id", "index", "char_start", "char_end"
    ).order_by("trace_id", "index"):
        steps.setdefault(step.trace_id, []).append(step)
    return steps


def store_trace_scores(scores: Iterable[Score]) -> None:
    """Insert trace-level scores (``trace`` set as an instance, so no query per score; no ``step``)
    and register their names in their projects (``ProjectScoreName``, what the trace list offers to
    filter and sort by). The one writer of trace-level scores."""
    rows = Score.objects.bulk_create(scores)
    names = sorted({(score.trace.project_id, score.method, score.name) for score in rows})
    ProjectScoreName.objects.bulk_create(
        (ProjectScoreName(project_id=project_id, method=method, name=name) for project_id, method, name in names),
        ignore_conflicts=True,  # most calls only repeat names the project already has
    )


@transaction.atomic
def _store(batch: list[Trace], reports: list[TraceReport]) -> None:
    Score.objects.filter(trace__in=batch, step__isnull=True, method=METHOD).delete()
    TraceAnalysis.objects.filter(trace__in=batch).delete()
    store_trace_scores(
        Score(trace=trace, name=name, value=value, method=METHOD, version=ANALYSIS_VERSION)
        for trace, report in zip(batch, reports)
        for name, value in sorted(report.scores.items())
    )
    TraceAnalysis.objects.bulk_create(
        TraceAnalysis(
            trace=trace,
            version=ANALYSIS_VERSION,
            verdicts=report.verdicts,
            markers=[asdict(marker) for marker in report.markers],
            **{name: report.scores.get(name) for name in SUMMARY_SCORES},
        )
        for trace, report in zip(batch, reports)
    )
