"""The label policy of an export (docs/concepts.md §2, "Exports"): which labels become training labels, and how.

Pure: plain values in, plain values out (no ORM). An export states its policy explicitly and
records it in its manifest (``LabelPolicy.as_dict``); the same policy over the same traces gives
the same labels and the same split.

Decisions where docs/concepts.md §2 is silent:

* **Sources.** ``human`` (people's labels, source ``human``), ``adjudicated``, one named automatic
  method (``mc_rollout``, ``llm_judge:<model>``, ``heuristic:<name>``, ``import:<format>``), or
  ``human-else-auto`` with ``auto_method`` named: per step, an adjudicated label wins, else the
  people's, else the named method's; ``adjudicated-else-human``: per step, an adjudicated label
  wins, else the people's (what a queue gives after its disagreements were adjudicated).
  Other sources are ignored.
* **Several labels of one source on one step** (overlapping annotators): the majority value;
  a tie goes to the lowest value (the more critical rating). ``flagged`` is true when any of them
  is flagged, else false when any says false, else null.
* **Neutral (0)** maps to ``positive``, ``negative`` or ``drop`` (the step leaves the example) in
  the formats with boolean or ± labels (TRL, Math-Shepherd, ProcessBench, flat counts). PRM800K
  keeps its native −1/0/+1 ratings, so there the mapping does not apply.
* **After the first error** (the first step whose exported label is negative; in PRM800K the
  first −1): ``keep`` every later step, or ``cut`` them (TRL convention: the example ends at the
  first error).
* **Unlabelled steps** (no label from the chosen sources) stay in the sequence as unlabelled; each
  format says what it does with them (its module in ``traces/formats/``).
* **Human-written steps** (PRM800K's ``human_completion``: the labeller wrote the step instead of
  rating the model's; it carries no rating) follow ``human_completion``: ``correct`` (the default)
  counts such a step as +1 when none of the sources rated it, as TRL's own PRM800K converter does
  (the labeller wrote it as the right next step); ``unlabelled`` leaves it unlabelled (formats that
  keep the labelled prefix then end before it); ``skip`` leaves every trace with a human-written
  step out of the export (its steps are not all the model's). PRM800K-shaped exports keep the
  human completion in its own field, so there only ``skip`` applies.
* **Split by problem**, never by trace: ``sha256("<seed>:<problem content hash>")`` read as a
  fraction in [0, 1) puts the problem (and so every trace of it) in ``test`` when it is below
  ``test_fraction``, else in ``train``.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any, NamedTuple

HUMAN = "human"
ADJUDICATED = "adjudicated"
HUMAN_ELSE_AUTO = "human-else-auto"
ADJUDICATED_ELSE_HUMAN = "adjudicated-else-human"
TRAIN = "train"
TEST = "test"

_HASH_SPACE = 2**64


class Neutral(StrEnum):
    """What a neutral (0) rating becomes in a format with boolean labels."""

    POSITIVE = "positive"
    NEGATIVE = "negative"
    DROP = "drop"


class HumanCompletion(StrEnum):
    """What a human-written step without a rating becomes (module docstring)."""

    CORRECT = "correct"
    UNLABELLED = "unlabelled"
    SKIP = "skip"


class AfterError(StrEnum):
    """What happens to the steps after the first error."""

    KEEP = "keep"
    CUT = "cut"


class SkipTrace(Exception):
    """A trace that has no record in the format; the message is the reason counted in the manifest."""


#: Why ``human_completion: skip`` leaves a trace out (a manifest's skip reason).
HUMAN_WRITTEN_SKIPPED = "a step was written by a person (human_completion: skip)"


class SourcedLabel(NamedTuple):
    """One stored label of one step: its source, value (−1/0/+1 or None) and flag.

    Named tuples (here and below): an export builds one per step, millions for a large export.
    """

    source: str
    value: int | None
    flagged: bool | None = None
    user_id: int | None = None


class Rating(NamedTuple):
    """A step's rating after the sources are resolved: −1, 0 or +1, and its flag."""

    value: int
    flagged: bool | None = None


class PolicyStep(NamedTuple):
    """One step of a trace under the policy.

    ``position`` is the step's position in the trace's steps; ``rating`` is None for an
    unlabelled step; ``label`` is the rating under the neutral mapping (None when unlabelled).
    """

    position: int
    rating: Rating | None
    label: bool | None


@dataclass(frozen=True)
class LabelPolicy:
    """Which labels an export takes and how it maps them (module docstring)."""

    sources: str
    auto_method: str = ""
    neutral: Neutral = Neutral.NEGATIVE
    after_error: AfterError = AfterError.KEEP
    test_fraction: float = 0.0
    seed: int = 0
    human_completion: HumanCompletion = HumanCompletion.CORRECT

    def __post_init__(self) -> None:
        _check_source_name(self.sources, "sources")
        if self.sources == HUMAN_ELSE_AUTO:
            if not self.auto_method:
                raise ValueError("sources 'human-else-auto' needs the automatic method named (auto_method)")
            _check_source_name(self.auto_method, "auto_method")
            if self.auto_method in (HUMAN, ADJUDICATED, HUMAN_ELSE_AUTO, ADJUDICATED_ELSE_HUMAN):
                raise ValueError(f"auto_method must be an automatic method, not {self.auto_method!r}")
        elif self.auto_method:
            raise ValueError(f"auto_method is only for sources 'human-else-auto', not {self.sources!r}")
        object.__setattr__(self, "neutral", _choice(Neutral, self.neutral, "neutral"))
        object.__setattr__(self, "after_error", _choice(AfterError, self.after_error, "after_error"))
        object.__setattr__(
            self, "human_completion", _choice(HumanCompletion, self.human_completion, "human_completion")
        )
        fraction = self.test_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 <= fraction < 1.0:
            raise ValueError(f"test_fraction must be in [0, 1), got {self.test_fraction!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")

    @cached_property
    def precedence(self) -> tuple[str, ...]:
        """The sources consulted for each step, the first one with a label winning."""
        if self.sources == HUMAN_ELSE_AUTO:
            return (ADJUDICATED, HUMAN, self.auto_method)
        if self.sources == ADJUDICATED_ELSE_HUMAN:
            return (ADJUDICATED, HUMAN)
        return (self.sources,)

    @cached_property
    def boolean_labels(self) -> dict[int, bool | None]:
        """Each rating as a boolean label under the neutral mapping (None: a dropped neutral)."""
        neutral = None if self.neutral == Neutral.DROP else self.neutral == Neutral.POSITIVE
        return {-1: False, 0: neutral, 1: True}

    @property
    def splits(self) -> tuple[str, ...]:
        """The splits this policy produces, in file order."""
        return (TRAIN, TEST) if self.test_fraction > 0 else (TRAIN,)

    def as_dict(self) -> dict[str, Any]:
        """The policy as recorded in a manifest."""
        return {
            "sources": self.sources,
            "auto_method": self.auto_method or None,
            "precedence": list(self.precedence),
            "neutral": self.neutral.value,
            "after_error": self.after_error.value,
            "test_fraction": self.test_fraction,
            "seed": self.seed,
            "split_by": "problem",
            "human_completion": self.human_completion.value,
        }


def _check_source_name(name: str, field: str) -> None:
    if not isinstance(name, str) or not name.strip() or name != name.strip() or any(c.isspace() for c in name):
        raise ValueError(f"{field} must be a source name without spaces, got {name!r}")


def _choice(enum: type[StrEnum], value: object, field: str) -> Any:
    try:
        return enum(str(value))
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise ValueError(f"{field} must be one of {allowed}, got {value!r}") from None


def combine_values(values: Sequence[int]) -> int:
    """The majority of several ratings of one step; a tie goes to the lowest (most critical) value."""
    if not values:
        raise ValueError("no ratings to combine")
    counts = Counter(values)
    top = max(counts.values())
    return min(value for value, count in counts.items() if count == top)


def combine_flags(flags: Sequence[bool | None]) -> bool | None:
    """True when any label is flagged, else False when any says False, else None."""
    if any(flag is True for flag in flags):
        return True
    return False if any(flag is False for flag in flags) else None


#: The nine possible ratings, shared: an export resolves one per step, millions in a large export.
_RATINGS = {(value, flagged): Rating(value, flagged) for value in (-1, 0, 1) for flagged in (None, False, True)}


def rating_of(value: int, flagged: bool | None) -> Rating:
    """The Rating of ``value`` and ``flagged`` (ValueError for a value outside −1/0/+1)."""
    found = _RATINGS.get((value, flagged))
    if found is None:
        raise ValueError(f"a step rating is -1, 0 or 1, got {value!r}")
    return found


def resolve_step(policy: LabelPolicy, labels: Sequence[SourcedLabel]) -> Rating | None:
    """One step's rating from the labels of every source: the first source in the policy's
    precedence that rated the step wins (labels without a value do not count)."""
    if len(labels) == 1:  # the common case: a single label, which wins if its source is wanted
        source, value, flagged, _ = labels[0]
        return rating_of(value, flagged) if value is not None and source in policy.precedence else None
    for source in policy.precedence:
        rated = [label for label in labels if label.source == source and label.value is not None]
        if rated:
            value = combine_values([label.value for label in rated if label.value is not None])
            return rating_of(value, combine_flags([label.flagged for label in rated]))
    return None


#: The rating a human-written step gets under ``human_completion: correct``.
HUMAN_COMPLETION_RATING = Rating(1)


def _check_human_written(policy: LabelPolicy, human_written: Collection[int]) -> None:
    """SkipTrace when the policy leaves out traces with a human-written step and this one has one."""
    if human_written and policy.human_completion == HumanCompletion.SKIP:
        raise SkipTrace(HUMAN_WRITTEN_SKIPPED)


def trace_steps(
    policy: LabelPolicy,
    labels_per_step: Sequence[Sequence[SourcedLabel]],
    human_written: Collection[int] = frozenset(),
) -> list[PolicyStep]:
    """A trace's steps with boolean labels under the policy, in order.

    ``human_written`` holds the positions of the steps a person wrote; an unrated one counts as +1
    under ``human_completion: correct``, and under ``skip`` the trace raises SkipTrace. Neutral
    steps are left out when the policy drops them; with ``after_error`` ``cut`` the sequence ends
    at the first step labelled false. Unlabelled steps stay, with ``label`` None.
    """
    _check_human_written(policy, human_written)
    fill_human = policy.human_completion == HumanCompletion.CORRECT
    steps: list[PolicyStep] = []
    cut = policy.after_error == AfterError.CUT
    boolean_labels = policy.boolean_labels
    for position, labels in enumerate(labels_per_step):
        resolved = resolve_step(policy, labels) if labels else None
        if resolved is None and fill_human and position in human_written:
            resolved = HUMAN_COMPLETION_RATING
        if resolved is None:
            steps.append(PolicyStep(position, None, None))
            continue
        label = boolean_labels[resolved.value]
        if label is None:
            continue  # a dropped neutral step
        steps.append(PolicyStep(position, resolved, label))
        if cut and not label:
            break
    return steps


def trace_ratings(
    policy: LabelPolicy,
    labels_per_step: Sequence[Sequence[SourcedLabel]],
    human_written: Collection[int] = frozenset(),
) -> list[Rating | None]:
    """A trace's native −1/0/+1 ratings (PRM800K), one per step: no neutral mapping and no rating
    for a human-written step (PRM800K keeps it in its own field; under ``human_completion: skip``
    the trace raises SkipTrace); with ``after_error`` ``cut`` the sequence ends at the first −1.
    None marks an unlabelled step."""
    _check_human_written(policy, human_written)
    ratings: list[Rating | None] = []
    for labels in labels_per_step:
        rating = resolve_step(policy, labels)
        ratings.append(rating)
        if rating is not None and rating.value == -1 and policy.after_error == AfterError.CUT:
            break
    return ratings


def split_of(policy: LabelPolicy, problem_hash: str) -> str:
    """``train`` or ``test`` for a problem, from its content hash and the policy's seed alone."""
    if policy.test_fraction <= 0:
        return TRAIN
    digest = hashlib.sha256(f"{policy.seed}:{problem_hash}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / _HASH_SPACE
    return TEST if position < policy.test_fraction else TRAIN
