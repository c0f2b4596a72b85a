"""Plain data the trace viewer renders: steps sliced from the raw text, label chips, alternatives.

SPEC §1 (Step, Label, Trace annotation) and §4 (trace viewer). Everything here is text for
Django's autoescaping: nothing is marked safe.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model

from traces.models import Label, Part, Step, Trace, TraceAnnotation, is_auto_source

#: The think part starts collapsed when it is longer than this many characters (about two screens).
COLLAPSE_THINK_OVER_CHARS = 4000


@dataclass(frozen=True)
class LabelChip:
    """One label of one step from one source."""

    source: str
    who: str  # the person for human labels, "" for automatic ones
    value: int | None
    flagged: bool
    confidence: float | None
    note: str
    auto: bool


@dataclass(frozen=True)
class Alternative:
    """Another completion offered at a PRM800K step, with its rating."""

    text: str
    rating: int | None
    flagged: bool
    human: bool
    chosen: bool


@dataclass
class StepRow:
    """One step of the current segmentation as the viewer shows it."""

    index: int  # 0-based, as stored and as ProcessBench counts
    text: str
    part: str
    labels: list[LabelChip] = field(default_factory=list)
    alternatives: list[Alternative] = field(default_factory=list)
    first_error: bool = False

    @property
    def number(self) -> int:
        """The 1-based number shown to people."""
        return self.index + 1


@dataclass(frozen=True)
class FirstError:
    """The first-error verdict of one trace annotation (SPEC §1 Trace annotation)."""

    step_index: int  # 0-based; -1 = "no error"
    source: str

    @property
    def step_number(self) -> int | None:
        """The 1-based step number shown to people, None for "no error"."""
        return self.step_index + 1 if self.step_index >= 0 else None


@dataclass
class ViewerParts:
    """The steps of a trace split into its think part and its answer part."""

    think: list[StepRow]
    answer: list[StepRow]
    first_error: FirstError | None
    think_collapsed: bool

    @property
    def step_count(self) -> int:
        return len(self.think) + len(self.answer)


#: The columns of a step the viewer reads (plain rows: no model instances for hundreds of steps).
STEP_COLUMNS = ("id", "index", "char_start", "char_end", "part", "alternatives")


def step_rows(trace: Trace) -> list[dict[str, Any]]:
    """The current segmentation's steps in order, as plain rows (one query)."""
    steps = Step.objects.filter(segmentation_id=trace.current_segmentation_id).order_by("index")
    return list(steps.values(*STEP_COLUMNS))


def label_chips_by_step(trace: Trace) -> dict[int, list[LabelChip]]:
    """Every label of the current segmentation's steps, by step id, sorted by source (one query)."""
    username = f"user__{get_user_model().USERNAME_FIELD}"
    rows = (
        Label.objects.filter(trace_id=trace.pk, step__segmentation_id=trace.current_segmentation_id)
        .order_by("source", "user_id", "id")
        .values_list("step_id", "source", username, "value", "flagged", "confidence", "note")
    )
    chips: dict[int, list[LabelChip]] = defaultdict(list)
    for step_id, source, who, value, flagged, confidence, note in rows:
        auto = is_auto_source(source)
        chips[step_id].append(
            LabelChip(
                source=source,
                who="" if auto or who is None else str(who),
                value=value,
                flagged=bool(flagged),
                confidence=confidence,
                note=note,
                auto=auto,
            )
        )
    return chips


def alternatives_of(raw: Any, step_text: str) -> list[Alternative]:
    """The completions of a PRM800K step record other than the one the step's text took."""
    record = raw if isinstance(raw, dict) else {"completions": raw or []}
    chosen = record.get("chosen_completion")
    options = [
        (completion, index == chosen, False) for index, completion in enumerate(record.get("completions") or [])
    ]
    if isinstance(record.get("human_completion"), dict):
        options.append((record["human_completion"], False, True))
    alternatives = [
        Alternative(
            text=str(option.get("text") or ""),
            rating=option.get("rating"),
            flagged=bool(option.get("flagged")),
            human=human,
            chosen=chosen_flag,
        )
        for option, chosen_flag, human in options
        if isinstance(option, dict)
    ]
    return [alt for alt in alternatives if alt.text.strip() != step_text.strip()]


def first_error_of(annotations: list[TraceAnnotation]) -> FirstError | None:
    """The first-error verdict of the first annotation that sets one."""
    return next(
        (FirstError(a.first_error_step, a.source) for a in annotations if a.first_error_step is not None), None
    )


def think_is_long(trace: Trace) -> bool:
    """Whether the think part is long enough to start collapsed."""
    return trace.think_end - trace.think_start > COLLAPSE_THINK_OVER_CHARS


def viewer_parts(
    trace: Trace,
    steps: list[dict[str, Any]],
    labels: dict[int, list[LabelChip]],
    annotations: list[TraceAnnotation],
) -> ViewerParts:
    """Slice each step's text from the raw text and split the steps into think and answer."""
    first_error = first_error_of(annotations)
    rows = []
    for step in steps:
        text = trace.raw_text[step["char_start"] : step["char_end"]]
        rows.append(
            StepRow(
                index=step["index"],
                text=text.strip(),  # the blank lines around a step separate steps; shown, they only add gaps
                part=step["part"],
                labels=labels.get(step["id"], []),
                alternatives=alternatives_of(step["alternatives"], text),
                first_error=first_error is not None and step["index"] == first_error.step_index,
            )
        )
    return ViewerParts(
        think=[row for row in rows if row.part == Part.THINK],
        answer=[row for row in rows if row.part != Part.THINK],
        first_error=first_error,
        think_collapsed=think_is_long(trace),
    )
