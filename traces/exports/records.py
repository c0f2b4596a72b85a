"""What every export format works with (docs/concepts.md §2, "Exports"): the trace it reads, the
options it takes, the record it returns, and how it declares itself.

Pure: an ``ExportTrace`` (plain data read by ``traces.exports.query``) and a ``LabelPolicy`` in,
a JSON-ready dict out, or ``SkipTrace`` naming why the trace has no record in that format.

Each format lives in one module of ``traces/formats/`` holding both directions: its reader
(``parse_record``) and its writers, declared as ``EXPORTS``, a tuple of ``ExportFormat`` (a name,
a renderer, a container, the options it takes). ``traces.formats`` collects them;
``traces.exports.writers`` only iterates. The helpers here are the rules several formats share:
the steps under the policy (``policy_steps``), the labelled prefix, the first error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from traces.exports.policy import (
    LabelPolicy,
    PolicyStep,
    Rating,
    SkipTrace,
    SourcedLabel,
    trace_ratings,
    trace_steps,
)

NO_LABELLED_STEP = "no labelled step"
FIRST_STEP_UNLABELLED = "first step unlabelled (the labelled prefix is empty)"
FIRST_ERROR_UNDETERMINED = "first error undetermined"
#: ``first_error`` of a trace with no wrong step (ProcessBench's ``label`` −1).
NO_ERROR = -1


class ExportStep(NamedTuple):
    """One step of the trace's current segmentation, with its labels from every source
    (a named tuple: an export builds one per step)."""

    step_index: int
    text: str
    labels: tuple[SourcedLabel, ...] = ()
    alternatives: dict[str, Any] | list[Any] | None = None  # PRM800K: the step's stored record
    human_written: bool = False  # the text is a person's (PRM800K's human_completion), not the model's


@dataclass(frozen=True)
class ExportTrace:
    """Everything an export reads of one trace: plain data, no ORM objects."""

    id: int
    prompt: str
    reference_answer: str
    problem_id: int
    problem_hash: str
    model: str
    run_id: int
    steps: tuple[ExportStep, ...]
    source_format: str = ""  # the format of the import it came from; "" for generated traces
    source_id: str = ""  # the record's own id in that file (its format's ``source_id``); "" if none
    problem_source: str = ""
    problem_external_id: str = ""
    problem_meta: dict[str, Any] = field(default_factory=dict)
    sample_index: int = 0
    finish_reason: str = "unknown"
    is_correct: bool | None = None
    final_answer: str = ""
    think_tokens: int = 0
    answer_tokens: int = 0
    generation_ms: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)  # score column → value


@dataclass(frozen=True)
class FormatOption:
    """A text option of an export format (TRL's step separator, OpenRLHF's placeholder token)."""

    name: str
    default: str
    help: str
    blank_ok: bool = True  # whether the empty or all-blank text is a value


@dataclass(frozen=True)
class RenderSettings:
    """Options of the renderers beyond the label policy: the format's option values (those not
    given take the option's default) and the flat format's score columns."""

    options: Mapping[str, str] = field(default_factory=dict)
    score_columns: tuple[str, ...] = ()

    def value(self, option: FormatOption) -> str:
        """The value of ``option`` in this export."""
        return self.options.get(option.name, option.default)


Renderer = Callable[[ExportTrace, LabelPolicy, RenderSettings], dict[str, Any]]
Container = Literal["jsonl", "parquet", "csv"]


@dataclass(frozen=True)
class ExportFormat:
    """An export format: how a trace becomes a record, and which container holds the records.

    ``column_types`` names the columns of a columnar container (Parquet, CSV) and their Arrow types
    by name (``"string"``, ``"int64"``, ``"list<bool>"``; ``traces.exports.columnar`` builds the
    schema, so no format imports pyarrow); a format that reads scores gets one float64 column per
    score after them. ``fields`` lists a JSONL record's top-level
    fields for the manifest.
    """

    name: str
    renderer: Renderer
    container: Container
    description: str
    column_types: tuple[tuple[str, str], ...] = ()
    fields: tuple[str, ...] = ()
    options: tuple[FormatOption, ...] = ()
    alternatives: bool = False  # reads the steps' alternatives (PRM800K)
    scores: bool = False  # reads trace-level scores (flat)

    @property
    def extension(self) -> str:
        return self.container

    @property
    def option_names(self) -> tuple[str, ...]:
        return tuple(option.name for option in self.options)

    @property
    def takes_step_separator(self) -> bool:
        """Whether the format's records depend on the TRL step separator."""
        return "step_separator" in self.option_names


def score_column(name: str, method: str) -> str:
    """The flat column of a trace-level score."""
    return f"score:{name}:{method}"


def labels_per_step(trace: ExportTrace) -> list[tuple[SourcedLabel, ...]]:
    """The labels of each step of the trace, in step order."""
    return [step.labels for step in trace.steps]


def human_written_positions(trace: ExportTrace) -> frozenset[int]:
    """Positions of the steps a person wrote (the policy's ``human_completion`` rule applies to them)."""
    return frozenset(position for position, step in enumerate(trace.steps) if step.human_written)


def policy_steps(trace: ExportTrace, policy: LabelPolicy) -> list[PolicyStep]:
    """The trace's steps with boolean labels under the policy (``policy.trace_steps``, its
    human-written steps included); SkipTrace when the policy leaves the trace out."""
    return trace_steps(policy, labels_per_step(trace), human_written_positions(trace))


def policy_ratings(trace: ExportTrace, policy: LabelPolicy) -> list[Rating | None]:
    """The trace's native −1/0/+1 ratings under the policy (``policy.trace_ratings``); SkipTrace
    when the policy leaves the trace out."""
    return trace_ratings(policy, labels_per_step(trace), human_written_positions(trace))


def labelled_prefix(steps: Sequence[PolicyStep]) -> list[PolicyStep]:
    """The steps before the first unlabelled one."""
    prefix = []
    for step in steps:
        if step.label is None:
            break
        prefix.append(step)
    return prefix


def labelled_prefix_or_skip(trace: ExportTrace, policy: LabelPolicy) -> list[PolicyStep]:
    """The labelled prefix, or a skip that says whether any step is labelled at all (a trace
    labelled only on its last step has none to give, and its author should know why)."""
    steps = policy_steps(trace, policy)
    prefix = labelled_prefix(steps)
    if not prefix:
        raise SkipTrace(FIRST_STEP_UNLABELLED if any(step.label is not None for step in steps) else NO_LABELLED_STEP)
    return prefix


def signs(steps: Sequence[PolicyStep]) -> list[int | None]:
    """+1 / −1 per labelled step."""
    return [1 if step.label else -1 for step in steps]


def first_error_position(steps: Sequence[PolicyStep]) -> int | None:
    """Position of the first step labelled false; −1 when none is and every step is labelled;
    None when an unlabelled step comes before any false one (the first error is undetermined)."""
    for position, step in enumerate(steps):
        if step.label is None:
            return None
        if step.label is False:
            return position
    return NO_ERROR
