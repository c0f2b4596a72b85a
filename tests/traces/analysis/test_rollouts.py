"""Monte Carlo step values (SPEC §3.6): labels, progress, first error, and the two planners —
on hand-made values, on every monotone trace shape, and on the ProcessBench sample's first errors."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from traces.analysis.rollouts import (
    NO_ERROR,
    PrefixValue,
    Rollout,
    bracket,
    evaluate,
    first_error,
    hard_label,
    judge_rollout,
    plan_binary,
    plan_linear,
    planner_for,
    rollout_count,
    step_labels,
)


def prefix_value(step: int, correct: int, k: int = 4) -> PrefixValue:
    return PrefixValue(step, tuple(Rollout("5" if i < correct else "4", i < correct) for i in range(k)))


def oracle(first_err: int, k: int = 4) -> Callable[[list[int]], list[PrefixValue]]:
    """A monotone trace: prefixes before ``first_err`` solvable (half the rollouts), the rest not."""
    return lambda steps: [prefix_value(s, k // 2 if first_err == NO_ERROR or s < first_err else 0, k) for s in steps]


def test_a_rollout_counts_the_last_answer_of_prefix_and_continuation() -> None:
    assert judge_rollout("2 + 3 = 5.\n", "So the answer is 5.", "5") == Rollout("5", True)
    assert judge_rollout("So the answer is 5.", "", "5").correct  # the prefix already states it
    assert judge_rollout("2 + 3 = 5.\n", "The answer is 6.", "5") == Rollout("6", False)
    assert judge_rollout("2 + 3", " is a sum", "5") == Rollout(None, False)  # no answer: not reached
    assert judge_rollout("", "\\boxed{\\frac{1}{2}}", "0.5").correct


def test_values_labels_progress_and_first_error() -> None:
    measured = {0: prefix_value(0, 4), 1: prefix_value(1, 1), 2: prefix_value(2, 0), 3: prefix_value(3, 2)}
    assert [measured[s].value for s in range(4)] == [1.0, 0.25, 0.0, 0.5]
    labels = step_labels(4, measured)
    assert [label.value for label in labels] == [1, 1, -1, 1]
    assert [label.soft for label in labels] == [1.0, 0.25, 0.0, 0.5]
    assert [label.progress for label in labels] == [None, -0.75, -0.25, 0.5]
    assert not any(label.inferred for label in labels)
    assert first_error({s: pv.value for s, pv in measured.items()}) == 2
    assert rollout_count(measured) == 16
    assert (hard_label(0.0), hard_label(0.125)) == (-1, 1)


def test_a_hopeless_first_prefix_is_the_first_error_and_none_hopeless_is_no_error() -> None:
    assert first_error({0: 0.0, 1: 0.5}) == 0
    assert first_error({0: 0.5, 1: 1.0}) == NO_ERROR


def test_binary_labels_infer_before_the_error_and_leave_after_it_unrated() -> None:
    measured = evaluate(8, "binary", oracle(5))
    labels = {label.step: label for label in step_labels(8, measured)}
    assert first_error({s: pv.value for s, pv in measured.items()}) == 5
    assert labels[5].value == -1 and labels[5].soft == 0.0 and not labels[5].inferred
    for step in range(5):
        assert labels[step].value == 1
        assert labels[step].inferred == (step not in measured)
        assert (labels[step].soft is None) == (step not in measured)
    assert set(labels) - set(range(6)) <= set(measured)  # after the error: measured steps only


def test_linear_plans_every_prefix_at_once() -> None:
    assert plan_linear(4, {}) == [0, 1, 2, 3]
    assert plan_linear(4, {1: 0.5}) == [0, 2, 3]
    measured = evaluate(6, "linear", oracle(3))
    assert sorted(measured) == list(range(6))


def test_binary_bracket_and_next_prefix() -> None:
    assert bracket(8, {}) == (0, 8)
    assert plan_binary(8, {}) == [4]
    assert bracket(8, {4: 0.5}) == (5, 8)
    assert plan_binary(8, {4: 0.0}) == [2]
    assert plan_binary(8, {2: 0.5, 3: 0.0}) == []  # 3 is the first error
    assert plan_binary(8, {7: 1.0}) == []  # the last prefix solvable: no error


@given(n_steps=st.integers(1, 60), data=st.data())
def test_binary_search_finds_the_monotone_first_error_in_logarithmic_prefixes(n_steps: int, data: Any) -> None:
    error = data.draw(st.sampled_from([NO_ERROR, *range(n_steps)]))
    linear = evaluate(n_steps, "linear", oracle(error))
    binary = evaluate(n_steps, "binary", oracle(error))
    value = {s: pv.value for s, pv in binary.items()}
    assert first_error(value) == first_error({s: pv.value for s, pv in linear.items()}) == error
    assert len(binary) <= math.ceil(math.log2(n_steps + 1))
    assert len(linear) == n_steps


def test_binary_search_on_the_processbench_first_errors(sample_records: Any) -> None:
    """Every erroneous trace of the sample, with ProcessBench's label as the monotone oracle."""
    records = [r for r in sample_records("processbench/gsm8k.jsonl") if r["label"] != NO_ERROR]
    assert records
    for record in records:
        n_steps = len(record["steps"])
        binary = evaluate(n_steps, "binary", oracle(record["label"]))
        assert first_error({s: pv.value for s, pv in binary.items()}) == record["label"]


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown mode 'fast'"):
        planner_for("fast")
    with pytest.raises(ValueError, match="at least one rollout"):
        PrefixValue(0, ())
    with pytest.raises(ValueError, match="did not return a value"):
        evaluate(3, "linear", lambda steps: [])
