"""Store parsed traces: the one writer path for imported and generated traces.

``store_traces`` inserts in bulk, batch by batch, so a 100k-line file streams through in constant
memory (apart from the map of problem hashes to ids). It runs inside the caller's transaction:
callers that need an all-or-nothing import wrap it in ``transaction.atomic``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from django.db.models import OuterRef, Subquery

from traces.formats.base import ParsedTrace
from traces.models import (
    Backend,
    Label,
    LanguageModel,
    Problem,
    Project,
    Run,
    Segmentation,
    Step,
    Trace,
    TraceAnnotation,
)
from traces.trace_builder import BuiltTrace, build_trace_fields, problem_hash, resolve_answer_type, trace_hash

BATCH_SIZE = 500


@dataclass
class StoreReport:
    """What one store pass did, for the import report and the CLI summary."""

    traces_created: int = 0
    duplicates_skipped: int = 0
    problems_created: int = 0
    steps_created: int = 0
    labels_created: int = 0
    trace_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {
            "traces_created": self.traces_created,
            "duplicates_skipped": self.duplicates_skipped,
            "problems_created": self.problems_created,
            "steps_created": self.steps_created,
            "labels_created": self.labels_created,
        }


@dataclass
class _Pending:
    parsed: ParsedTrace
    built: BuiltTrace
    content_hash: str
    trace: Trace | None = None


def batched(items: Iterable[ParsedTrace], size: int) -> Iterator[list[ParsedTrace]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


class _Resolver:
    """Finds or creates the problems and models a batch refers to, remembering them across batches."""

    def __init__(self, project: Project, model: LanguageModel | None, report: StoreReport):
        self.project = project
        self.fixed_model = model
        self.report = report
        self.problem_ids: dict[str, int] = {}
        self.model_ids: dict[str, int] = {}

    def problems(self, batch: list[ParsedTrace]) -> None:
        wanted = {problem_hash(p.prompt, p.reference_answer): p for p in batch}
        missing = [h for h in wanted if h not in self.problem_ids]
        if not missing:
            return
        existing = Problem.objects.filter(project=self.project, content_hash__in=missing).values_list("content_hash", "id")
        self.problem_ids.update(existing)
        new = [
            Problem(
                project=self.project,
                prompt=wanted[h].prompt,
                answer=wanted[h].reference_answer,
                answer_type=resolve_answer_type(wanted[h]),
                source=wanted[h].source,
                split=wanted[h].split,
                external_id=wanted[h].problem_id,
                meta=wanted[h].problem_meta,
                content_hash=h,
            )
            for h in missing
            if h not in self.problem_ids
        ]
        for problem in Problem.objects.bulk_create(new):
            self.problem_ids[problem.content_hash] = problem.pk
        self.report.problems_created += len(new)

    def problem_id(self, parsed: ParsedTrace) -> int:
        return self.problem_ids[problem_hash(parsed.prompt, parsed.reference_answer)]

    def model_id(self, parsed: ParsedTrace) -> int:
        if self.fixed_model is not None:
            return self.fixed_model.pk
        name = parsed.model_name or "unknown"
        if name not in self.model_ids:
            model, _ = LanguageModel.objects.get_or_create(
                project=self.project, name=name, defaults={"backend": Backend.IMPORTED}
            )  # its think format stays "auto": each import decides it anew (traces.actions.think_formats)
            self.model_ids[name] = model.pk
        return self.model_ids[name]


def store_traces(
    project: Project, run: Run, items: Iterable[ParsedTrace], *, model: LanguageModel | None = None
) -> StoreReport:
    """Store parsed traces of one run with their problems, steps, labels and first-error annotations.

    Traces whose content hash the project already holds are skipped (re-imports never duplicate).
    """
    report = StoreReport()
    resolver = _Resolver(project, model, report)
    seen_in_run: set[str] = set()
    for batch in batched(items, BATCH_SIZE):
        _store_batch(project, run, batch, resolver, report, seen_in_run)
    return report


def _new_pending(batch: list[ParsedTrace], project: Project, seen: set[str], report: StoreReport) -> list[_Pending]:
    hashes = [trace_hash(parsed) for parsed in batch]
    existing = set(Trace.objects.filter(project=project, content_hash__in=hashes).values_list("content_hash", flat=True))
    pending = []
    for parsed, content_hash in zip(batch, hashes):
        if content_hash in existing or content_hash in seen:
            report.duplicates_skipped += 1
            continue
        seen.add(content_hash)
        pending.append(_Pending(parsed, build_trace_fields(parsed), content_hash))
    return pending


def _store_batch(
    project: Project, run: Run, batch: list[ParsedTrace], resolver: _Resolver, report: StoreReport, seen: set[str]
) -> None:
    pending = _new_pending(batch, project, seen, report)
    if not pending:
        return
    resolver.problems([p.parsed for p in pending])
    for item in pending:
        item.trace = _trace_row(project, run, item, resolver)
    traces = Trace.objects.bulk_create([item.trace for item in pending if item.trace])
    segmentations = Segmentation.objects.bulk_create(
        [Segmentation(trace=t, version=1, method=p.built.segmenter) for t, p in zip(traces, pending)]
    )
    for trace, segmentation in zip(traces, segmentations):
        trace.current_segmentation = segmentation
    # One UPDATE with a subquery: bulk_update's per-row CASE cost a third of the import's time.
    Trace.objects.filter(pk__in=[t.pk for t in traces]).update(
        current_segmentation=Subquery(Segmentation.objects.filter(trace=OuterRef("pk"), version=1).values("pk")[:1])
    )
    steps_by_trace = _store_steps(pending, traces, segmentations)
    _store_labels(pending, traces, steps_by_trace, report)
    _store_first_errors(pending, traces)
    report.traces_created += len(traces)
    report.steps_created += sum(len(steps) for steps in steps_by_trace)
    report.trace_ids.extend(t.pk for t in traces)


def _trace_row(project: Project, run: Run, item: _Pending, resolver: _Resolver) -> Trace:
    parsed, built = item.parsed, item.built
    return Trace(
        project=project,
        run=run,
        problem_id=resolver.problem_id(parsed),
        model_id=resolver.model_id(parsed),
        sample_index=parsed.sample_index if parsed.sample_index is not None else parsed.line_no,
        raw_text=built.raw_text,
        think_start=built.think_start,
        think_end=built.think_end,
        answer_start=built.answer_start,
        answer_end=built.answer_end,
        think_closed=built.think_closed,
        think_tokens=built.think_tokens,
        answer_tokens=built.answer_tokens,
        tokens_exact=built.tokens_exact,
        finish_reason=parsed.finish_reason if parsed.finish_reason in {"stop", "length", "error"} else "unknown",
        logprobs=parsed.logprobs,
        final_answer=built.final_answer,
        think_answer=built.think_answer,
        is_correct=built.is_correct,
        grading_method=built.grading_method,
        generation_ms=parsed.generation_ms,
        has_labels=any(step.label is not None for step in built.steps),
        content_hash=item.content_hash,
        meta={**parsed.meta, "line_no": parsed.line_no, "segmenter": built.segmenter},
    )


def _store_steps(pending: list[_Pending], traces: list[Trace], segmentations: list[Segmentation]) -> list[list[Step]]:
    rows = [
        Step(
            segmentation=segmentation,
            trace=trace,
            index=step.index,
            char_start=step.char_start,
            char_end=step.char_end,
            token_start=step.token_start,
            token_end=step.token_end,
            part=step.part,
            alternatives=step.alternatives,
            human_written=step.human_written,
        )
        for item, trace, segmentation in zip(pending, traces, segmentations)
        for step in item.built.steps
    ]
    created = Step.objects.bulk_create(rows)
    by_trace: list[list[Step]] = []
    position = 0
    for item in pending:
        by_trace.append(created[position : position + len(item.built.steps)])
        position += len(item.built.steps)
    return by_trace


def _store_labels(pending: list[_Pending], traces: list[Trace], steps_by_trace: list[list[Step]], report: StoreReport) -> None:
    rows = [
        Label(step=step, trace=trace, value=built.label, flagged=built.flagged, source=item.parsed.label_source)
        for item, trace, steps in zip(pending, traces, steps_by_trace)
        for built, step in zip(item.built.steps, steps)
        if built.label is not None and item.parsed.label_source
    ]
    Label.objects.bulk_create(rows)
    report.labels_created += len(rows)


def _store_first_errors(pending: list[_Pending], traces: list[Trace]) -> None:
    TraceAnnotation.objects.bulk_create(
        [
            TraceAnnotation(trace=trace, source=item.parsed.label_source, first_error_step=item.parsed.first_error)
            for item, trace in zip(pending, traces)
            if item.parsed.first_error is not None and item.parsed.label_source
        ]
    )
