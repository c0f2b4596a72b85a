"""The label policy (SPEC §2 exports) as pure functions: no database."""

from __future__ import annotations

import hashlib
import re
from collections import Counter

import pytest

from traces.exports.policy import (
    LabelPolicy,
    Rating,
    SourcedLabel,
    combine_values,
    resolve_step,
    split_of,
    trace_ratings,
    trace_steps,
)

AUTO = "mc_rollout"


def auto(value: int | None, flagged: bool | None = None) -> SourcedLabel:
    return SourcedLabel(AUTO, value, flagged)


def person(value: int | None, user_id: int, flagged: bool | None = None) -> SourcedLabel:
    return SourcedLabel("human", value, flagged, user_id)


def labels_of(values: list[int | None]) -> list[list[SourcedLabel]]:
    """One auto label per step (None: the step has no label)."""
    return [[] if value is None else [auto(value)] for value in values]


def bools(policy: LabelPolicy, values: list[int | None]) -> list[tuple[int, bool | None]]:
    return [(step.position, step.label) for step in trace_steps(policy, labels_of(values))]


@pytest.mark.parametrize(
    ("neutral", "expected"),
    [
        ("positive", [(0, True), (1, True), (2, False), (3, True)]),
        ("negative", [(0, True), (1, False), (2, False), (3, True)]),
        ("drop", [(0, True), (2, False), (3, True)]),
    ],
)
def test_each_neutral_mapping(neutral: str, expected: list[tuple[int, bool]]) -> None:
    policy = LabelPolicy(sources=AUTO, neutral=neutral, after_error="keep")
    assert bools(policy, [1, 0, -1, 1]) == expected


def test_cut_ends_the_example_at_the_first_error() -> None:
    values = [1, 1, -1, 1, -1]
    assert bools(LabelPolicy(sources=AUTO, after_error="cut"), values) == [(0, True), (1, True), (2, False)]
    assert len(bools(LabelPolicy(sources=AUTO, after_error="keep"), values)) == len(values)


def test_cut_counts_a_neutral_mapped_negative_as_the_first_error() -> None:
    policy = LabelPolicy(sources=AUTO, neutral="negative", after_error="cut")
    assert bools(policy, [1, 0, 1, -1]) == [(0, True), (1, False)]
    dropped = LabelPolicy(sources=AUTO, neutral="drop", after_error="cut")
    assert bools(dropped, [1, 0, 1, -1, 1]) == [(0, True), (2, True), (3, False)]


def test_unlabelled_steps_stay_unlabelled() -> None:
    assert bools(LabelPolicy(sources=AUTO), [1, None, -1]) == [(0, True), (1, None), (2, False)]


def test_native_ratings_ignore_the_neutral_mapping_and_cut_at_minus_one() -> None:
    policy = LabelPolicy(sources=AUTO, neutral="drop", after_error="cut")
    ratings = trace_ratings(policy, labels_of([1, 0, None, -1, 1]))
    assert [r.value if r else None for r in ratings] == [1, 0, None, -1]


def test_human_else_auto_prefers_adjudicated_then_people_then_the_method() -> None:
    policy = LabelPolicy(sources="human-else-auto", auto_method=AUTO)
    adjudicated = SourcedLabel("adjudicated", -1, None, 9)
    assert resolve_step(policy, [auto(1), person(1, 1), adjudicated]) == Rating(-1, None)
    assert resolve_step(policy, [auto(-1), person(1, 1)]) == Rating(1, None)
    assert resolve_step(policy, [auto(0, True)]) == Rating(0, True)
    assert resolve_step(policy, [SourcedLabel("llm_judge:x", 1)]) is None  # another method is ignored
    # a person's label without a value (e.g. only a flag) does not hide the method's label
    assert resolve_step(policy, [person(None, 1, True), auto(-1)]) == Rating(-1, None)


def test_single_source_policies_read_only_their_source() -> None:
    labels = [auto(-1), person(1, 1), SourcedLabel("adjudicated", 0)]
    assert resolve_step(LabelPolicy(sources="human"), labels) == Rating(1, None)
    assert resolve_step(LabelPolicy(sources="adjudicated"), labels) == Rating(0, None)
    assert resolve_step(LabelPolicy(sources=AUTO), labels) == Rating(-1, None)
    assert resolve_step(LabelPolicy(sources="import:prm800k"), labels) is None


def test_several_people_majority_and_critical_tie_break() -> None:
    policy = LabelPolicy(sources="human")
    assert resolve_step(policy, [person(1, 1), person(1, 2), person(-1, 3)]) == Rating(1, None)
    assert resolve_step(policy, [person(1, 1), person(0, 2, False), person(-1, 3, True)]) == Rating(-1, True)
    assert resolve_step(policy, [person(1, 1, False), person(0, 2, False)]) == Rating(0, False)
    assert combine_values([1, 1, 0, 0, -1]) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sources": "human-else-auto"}, "needs the automatic method"),
        ({"sources": "human-else-auto", "auto_method": "human"}, "must be an automatic method"),
        ({"sources": "human", "auto_method": AUTO}, "only for sources 'human-else-auto'"),
        ({"sources": ""}, "source name"),
        ({"sources": "llm judge"}, "source name"),
        ({"sources": AUTO, "neutral": "maybe"}, "neutral must be one of positive, negative, drop"),
        ({"sources": AUTO, "after_error": "truncate"}, "after_error must be one of keep, cut"),
        ({"sources": AUTO, "test_fraction": 1.0}, "test_fraction must be in [0, 1)"),
        ({"sources": AUTO, "test_fraction": -0.1}, "test_fraction"),
        ({"sources": AUTO, "seed": "7"}, "seed must be an integer"),
    ],
)
def test_bad_policies_say_what_is_wrong(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        LabelPolicy(**kwargs)


def test_policy_is_recorded_explicitly() -> None:
    policy = LabelPolicy(sources="human-else-auto", auto_method="llm_judge:qwen", neutral="drop", after_error="cut",
                         test_fraction=0.2, seed=3)
    assert policy.as_dict() == {
        "sources": "human-else-auto",
        "auto_method": "llm_judge:qwen",
        "precedence": ["adjudicated", "human", "llm_judge:qwen"],
        "neutral": "drop",
        "after_error": "cut",
        "test_fraction": 0.2,
        "seed": 3,
        "split_by": "problem",
        "human_completion": "correct",
    }


def test_split_depends_on_the_problem_and_seed_only() -> None:
    hashes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(4000)]
    policy = LabelPolicy(sources=AUTO, test_fraction=0.25, seed=1)
    splits = [split_of(policy, h) for h in hashes]
    assert splits == [split_of(LabelPolicy(sources="human", test_fraction=0.25, seed=1), h) for h in hashes]
    share = Counter(splits)["test"] / len(hashes)
    assert 0.22 < share < 0.28
    reseeded = [split_of(LabelPolicy(sources=AUTO, test_fraction=0.25, seed=2), h) for h in hashes]
    assert reseeded != splits
    assert {split_of(LabelPolicy(sources=AUTO), h) for h in hashes} == {"train"}
