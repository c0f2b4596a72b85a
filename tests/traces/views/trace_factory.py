"""Traces for the browser-UI view tests, built row by row with exactly the fields a test names.

The factory writes the models directly (not through an importer) so that each test controls the
values its filters select on (correctness, finish reason, labels) independently of the segmenter
and the grader, and computes its expected result from the specs it wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from traces.models import (
    Label,
    LanguageModel,
    Part,
    Problem,
    Project,
    Run,
    RunKind,
    Segmentation,
    Step,
    Trace,
    TraceAnnotation,
)

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
STEP_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class LabelSpec:
    step: int
    value: int | None
    source: str = "import:test"
    flagged: bool | None = None
    note: str = ""
    confidence: float | None = None
    user: object | None = None


@dataclass
class TraceSpec:
    """What one test trace holds; ``key`` is a unique word placed in its prompt."""

    key: str
    model: str = "model-a"
    run: str = "run-1"
    prompt: str = ""
    answer: str = "4"
    think: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=lambda: ["Add the numbers.", "So the answer is 4."])
    think_closed: bool = True
    is_correct: bool | None = True
    final_answer: str = "4"
    finish_reason: str = "stop"
    labels: list[LabelSpec] = field(default_factory=list)
    first_error: int | None = None
    annotation_note: str = ""
    alternatives: dict[int, dict] = field(default_factory=dict)


def raw_text_and_spans(spec: TraceSpec) -> tuple[str, list[tuple[int, int, str]], tuple[int, int], tuple[int, int]]:
    """The raw text, each step's (start, end, part), and the think and answer spans."""
    spans: list[tuple[int, int, str]] = []
    text = ""
    think_span = (0, 0)
    if spec.think:
        text = THINK_OPEN
        start = len(text)
        for i, step in enumerate(spec.think):
            if i:
                text += STEP_SEPARATOR
            spans.append((len(text), len(text) + len(step), Part.THINK))
            text += step
        think_span = (start, len(text))
        if spec.think_closed:
            text += THINK_CLOSE + STEP_SEPARATOR
    answer_start = len(text)
    for i, step in enumerate(spec.steps):
        if i:
            text += STEP_SEPARATOR
        spans.append((len(text), len(text) + len(step), Part.ANSWER))
        text += step
    return text, spans, think_span, (answer_start, len(text))


def build_trace(project: Project, spec: TraceSpec, index: int) -> Trace:
    """Write one trace with its problem, model, run, segmentation, steps, labels and annotation."""
    model, _ = LanguageModel.objects.get_or_create(project=project, name=spec.model)
    run, _ = Run.objects.get_or_create(project=project, name=spec.run, defaults={"kind": RunKind.IMPORT})
    problem = Problem.objects.create(
        project=project,
        prompt=spec.prompt or f"Problem {spec.key}: what is $2+2$?",
        answer=spec.answer,
        content_hash=f"p-{spec.key}",
    )
    raw_text, spans, think, answer = raw_text_and_spans(spec)
    trace = Trace.objects.create(
        project=project,
        run=run,
        problem=problem,
        model=model,
        sample_index=index,
        raw_text=raw_text,
        think_start=think[0],
        think_end=think[1],
        answer_start=answer[0],
        answer_end=answer[1],
        think_closed=spec.think_closed,
        think_tokens=len(" ".join(spec.think).split()),
        answer_tokens=len(" ".join(spec.steps).split()),
        finish_reason=spec.finish_reason,
        final_answer=spec.final_answer,
        is_correct=spec.is_correct,
        grading_method="test",
        has_labels=bool(spec.labels),
        content_hash=f"t-{spec.key}",
    )
    segmentation = Segmentation.objects.create(trace=trace, version=1, method="test")
    trace.current_segmentation = segmentation
    trace.save(update_fields=["current_segmentation"])
    steps = Step.objects.bulk_create(
        Step(
            segmentation=segmentation,
            trace=trace,
            index=i,
            char_start=start,
            char_end=end,
            part=part,
            alternatives=spec.alternatives.get(i, []),
        )
        for i, (start, end, part) in enumerate(spans)
    )
    Label.objects.bulk_create(
        Label(
            step=steps[label.step],
            trace=trace,
            value=label.value,
            source=label.source,
            flagged=label.flagged,
            note=label.note,
            confidence=label.confidence,
            user=label.user,
        )
        for label in spec.labels
    )
    if spec.first_error is not None or spec.annotation_note:
        TraceAnnotation.objects.create(
            trace=trace, source="import:test", first_error_step=spec.first_error, note=spec.annotation_note
        )
    return trace


