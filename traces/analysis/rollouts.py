"""Step values by Monte Carlo rollouts (docs/concepts.md §3.6), as pure functions.

From the prefix of a trace that ends at step k, K continuations are sampled with a model; the
step's value v_k is the share of them that reach the reference answer (Math-Shepherd, MRT).
From the values:

* hard label: +1 if v_k > 0 else −1; soft label: v_k itself (stored as the label's confidence);
* progress: v_k − v_{k−1} (undefined for the first step, whose predecessor is the bare prompt,
  which is never rolled out);
* first error: the first step k with v_k = 0. The problem is taken as solvable before any step, so
  a first step whose prefix is already hopeless is the first error.

Which prefixes to roll out is a planner's choice: :func:`plan_linear` evaluates every prefix
(all in one batch, so the engine shares their common prompt); :func:`plan_binary` searches the
first error in O(log n) prefixes assuming solvability only ever drops along a trace (a prefix
with v = 0 has hopeless extensions, one with v > 0 has solvable predecessors). Its labels follow
that assumption: measured steps keep their own values, unmeasured steps before the first error
are inferred +1 (no confidence: nothing measured them), unmeasured steps after it stay unrated.
:func:`evaluate` runs a planner against any measuring function: the backend in
``traces.actions.auto_labels``, a simulated oracle in ``benchmarks/mc_rollouts.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from traces.analysis.answers import AnswerType, extract_answer, grade

Mode = Literal["linear", "binary"]
MODES: tuple[Mode, ...] = ("linear", "binary")

#: First-error index of a trace whose every prefix stays solvable (ProcessBench's convention).
NO_ERROR = -1

#: A planner: given the trace's step count and the values measured so far (step → v), the
#: prefixes to roll out next, as one batch; an empty list when nothing is left to measure.
Planner = Callable[[int, Mapping[int, float]], list[int]]


@dataclass(frozen=True)
class Rollout:
    """One continuation's verdict: the answer extracted from prefix + continuation, and whether it
    is the reference answer (an unextractable or undetermined answer counts as not reaching it)."""

    answer: str | None
    correct: bool


@dataclass(frozen=True)
class PrefixValue:
    """The rollouts from the prefix ending at ``step`` (0-based) and their value v."""

    step: int
    rollouts: tuple[Rollout, ...]

    def __post_init__(self) -> None:
        if not self.rollouts:
            raise ValueError(f"step {self.step}: a prefix value needs at least one rollout")

    @property
    def correct(self) -> int:
        return sum(rollout.correct for rollout in self.rollouts)

    @property
    def value(self) -> float:
        return self.correct / len(self.rollouts)


@dataclass(frozen=True)
class StepLabel:
    """The label of one step: ``value`` ±1, ``soft`` = v (None when inferred), ``progress``
    v_k − v_{k−1} when both were measured; ``inferred``: set by the binary search's assumption."""

    step: int
    value: int
    soft: float | None
    progress: float | None
    inferred: bool = False


def judge_rollout(prefix: str, continuation: str, reference: str, answer_type: AnswerType = "math") -> Rollout:
    """Whether prefix + continuation reaches ``reference`` (docs/concepts.md §3.2 extraction and equivalence).

    The last answer of the whole text counts, so a prefix that already states the answer and a
    continuation that stops there reach it.
    """
    found = extract_answer(prefix + continuation)
    if found is None:
        return Rollout(answer=None, correct=False)
    return Rollout(answer=found.text, correct=grade(found.text, reference, answer_type).correct is True)


def hard_label(value: float) -> int:
    """+1 if some rollout from the prefix reached the answer, else −1 (docs/concepts.md §3.6)."""
    return 1 if value > 0 else -1


def bracket(n_steps: int, values: Mapping[int, float]) -> tuple[int, int]:
    """``(lo, hi)``: where the first error can still be under the monotone assumption. ``hi`` is the
    first measured hopeless step (``n_steps`` if none), ``lo`` one past the last solvable step
    measured before it; the first error is in ``[lo, hi]``, and known when ``lo == hi``."""
    hi = min((step for step, value in values.items() if value == 0), default=n_steps)
    lo = max((step + 1 for step, value in values.items() if value > 0 and step < hi), default=0)
    return lo, hi


def plan_linear(n_steps: int, values: Mapping[int, float]) -> list[int]:
    """Every prefix not yet measured, in one batch."""
    return [step for step in range(n_steps) if step not in values]


def plan_binary(n_steps: int, values: Mapping[int, float]) -> list[int]:
    """The middle of the open bracket (:func:`bracket`), or nothing once the first error is known."""
    lo, hi = bracket(n_steps, values)
    return [] if lo >= hi else [(lo + hi) // 2]


PLANNERS: dict[Mode, Planner] = {"linear": plan_linear, "binary": plan_binary}


def planner_for(mode: str) -> Planner:
    """The planner of ``mode``; ValueError naming the modes for anything else."""
    if mode not in PLANNERS:
        raise ValueError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
    return PLANNERS[mode]


def evaluate(n_steps: int, mode: str, measure: Callable[[list[int]], Sequence[PrefixValue]]) -> dict[int, PrefixValue]:
    """Measure prefixes as ``mode``'s planner asks until it is done; step → its value."""
    plan = planner_for(mode)
    measured: dict[int, PrefixValue] = {}
    while todo := plan(n_steps, {step: pv.value for step, pv in measured.items()}):
        for prefix_value in measure(todo):
            measured[prefix_value.step] = prefix_value
        if not all(step in measured for step in todo):
            raise ValueError(f"measure() did not return a value for each of steps {todo}")
    return measured


def first_error(values: Mapping[int, float]) -> int:
    """The first measured step with v = 0, or :data:`NO_ERROR` (docs/concepts.md §3.6)."""
    return min((step for step, value in values.items() if value == 0), default=NO_ERROR)


def step_labels(n_steps: int, measured: Mapping[int, PrefixValue]) -> list[StepLabel]:
    """Labels of the steps, in order: measured steps from their value; under a binary search,
    unmeasured steps before the first error inferred +1 and those after it left out."""
    values = {step: pv.value for step, pv in measured.items()}
    error = first_error(values)
    solvable_until = n_steps if error == NO_ERROR else error
    labels = []
    for step in range(n_steps):
        if step in values:
            previous = values.get(step - 1)
            progress = values[step] - previous if previous is not None else None
            labels.append(StepLabel(step, hard_label(values[step]), values[step], progress))
        elif step < solvable_until:
            labels.append(StepLabel(step, 1, None, None, inferred=True))
    return labels


def rollout_count(measured: Mapping[int, PrefixValue]) -> int:
    """How many continuations were sampled."""
    return sum(len(pv.rollouts) for pv in measured.values())
