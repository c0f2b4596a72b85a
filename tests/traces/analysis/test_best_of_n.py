"""Best-of-N and PRM-weighted vote curves (docs/concepts.md §5.4) against brute force over every subset."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traces.analysis.best_of_n import (
    AGGREGATIONS,
    BEST_OF_N,
    MAJORITY_VOTE,
    PASS_AT_N,
    WEIGHTED_VOTE,
    Ballots,
    SampleSet,
    aggregate,
    aggregate_all,
    best_of_n,
    selection_curves,
    vote,
)
from traces.analysis.metrics import pass_at_k


def brute_best(scores: list[float], correct: list[bool], size: int) -> float:
    """Mean over every N-subset of the best sample's correctness (ties: their mean)."""
    outcomes = []
    for subset in itertools.combinations(range(len(scores)), size):
        top = max(scores[i] for i in subset)
        outcomes.append(np.mean([correct[i] for i in subset if scores[i] == top]))
    return float(np.mean(outcomes))


def brute_vote(answers: list[int], correct: list[bool], weights: list[float], size: int) -> float:
    """Mean over every N-subset of the weighted vote's correctness (ties: the share right; none: wrong)."""
    right = {a: any(c for b, c in zip(answers, correct, strict=True) if b == a) for a in answers if a >= 0}
    outcomes = []
    for subset in itertools.combinations(range(len(answers)), size):
        totals: dict[int, float] = {}
        for i in subset:
            if answers[i] >= 0:
                totals[answers[i]] = totals.get(answers[i], 0.0) + weights[i]
        if not totals:
            outcomes.append(0.0)
            continue
        top = max(totals.values())
        outcomes.append(float(np.mean([right[a] for a, total in totals.items() if total == top])))
    return float(np.mean(outcomes))


def every_order(n: int) -> np.ndarray:
    """[1, n!, n]: every order of n samples, so the vote's estimate is exact."""
    return np.array(list(itertools.permutations(range(n))))[None]


def test_aggregations_of_one_trace() -> None:
    steps = [0.9, 0.5, 0.8]
    assert aggregate_all(steps) == pytest.approx(
        {"min": 0.5, "product": 0.36, "mean": 2.2 / 3, "last": 0.8, "sum": 2.2}
    )
    with pytest.raises(ValueError, match="at least one step"):
        aggregate([], "min")
    with pytest.raises(ValueError, match="aggregation must be one of"):
        aggregate(steps, "max")


def test_best_of_n_is_exact_with_ties() -> None:
    scores = [0.9, 0.5, 0.9, 0.1, 0.3]
    correct = [True, False, False, True, True]
    exact = best_of_n(np.array([scores]), np.array([correct]), 5)[0]
    assert exact == pytest.approx([brute_best(scores, correct, size) for size in range(1, 6)])
    assert exact[0] == pytest.approx(0.6)  # N = 1: the share of right samples


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-1, 3), st.booleans(), st.sampled_from([0.0, 0.25, 0.5, 1.0])), min_size=1, max_size=6
    )
)
def test_votes_over_every_order_equal_brute_force(samples: list[tuple[int, bool, float]]) -> None:
    answers = [a for a, _, _ in samples]
    correct = [c and a >= 0 for a, c, _ in samples]  # a sample without an answer is never right
    weights = [w for _, _, w in samples]
    n = len(samples)
    ballots = Ballots.of(np.array([answers]), np.array([correct]), every_order(n))
    weighted = vote(ballots, np.array([weights]), n)[0]
    majority = vote(ballots, np.ones((1, n)), n)[0]
    for size in range(1, n + 1):
        assert weighted[size - 1] == pytest.approx(brute_vote(answers, correct, weights, size))
        assert majority[size - 1] == pytest.approx(brute_vote(answers, correct, [1.0] * n, size))


def sample_set(problems: list[list[tuple[int, bool, float]]]) -> SampleSet:
    """A SampleSet whose every aggregation is the given score."""
    flat = [(p, *sample) for p, samples in enumerate(problems) for sample in samples]
    scores = np.array([s for *_, s in flat])
    return SampleSet(
        problem=np.array([p for p, *_ in flat]),
        correct=np.array([c for _, _, c, _ in flat]),
        answer=np.array([a for _, a, _, _ in flat]),
        scores={how: scores for how in AGGREGATIONS},
    )


def test_curves_average_problems_and_run_to_the_fewest_samples() -> None:
    problems = [
        [(1, True, 0.9), (2, False, 0.2), (2, False, 0.3)],
        [(5, False, 0.8), (6, True, 0.1), (6, True, 0.4), (7, False, 0.0)],
    ]
    curves = {(c.method, c.aggregation): c for c in selection_curves(sample_set(problems))}
    assert len(curves) == 2 * len(AGGREGATIONS) + 2
    best = curves[(BEST_OF_N, "min")].points
    assert [p.n for p in best] == [1, 2, 3]  # the first problem has 3 samples
    expected = [
        np.mean([brute_best([s for *_, s in p], [c for _, c, _ in p], size) for p in problems]) for size in (1, 2, 3)
    ]
    assert [p.accuracy for p in best] == pytest.approx(expected)
    ceiling = curves[(PASS_AT_N, None)].points
    assert [p.accuracy for p in ceiling] == pytest.approx(
        [np.mean([pass_at_k(3, 1, k), pass_at_k(4, 2, k)]) for k in (1, 2, 3)]
    )
    for curve in curves.values():
        for point in curve.points:
            assert point.low <= point.accuracy + 1e-9 and point.accuracy <= point.high + 1e-9
    # Weighted by score, problem 1 elects answer 1 (0.9 against 0.5) at N = 3, the whole set.
    assert curves[(WEIGHTED_VOTE, "min")].points[-1].n == 3
    # At N = 1 a vote is exact: the share of each problem's samples whose answer is right.
    assert curves[(MAJORITY_VOTE, None)].points[0].accuracy == pytest.approx(np.mean([1 / 3, 2 / 4]))


def test_a_prm_that_ranks_right_answers_first_lifts_best_of_n_to_the_ceiling() -> None:
    rng = np.random.default_rng(3)
    problems = []
    for _ in range(40):
        samples = [(int(a), bool(a == 0), float(rng.random())) for a in rng.integers(0, 4, 8)]
        problems.append([(a, c, s + (1.0 if c else 0.0)) for a, c, s in samples])  # right samples score higher
    curves = {(c.method, c.aggregation): c for c in selection_curves(sample_set(problems))}
    best = [p.accuracy for p in curves[(BEST_OF_N, "mean")].points]
    ceiling = [p.accuracy for p in curves[(PASS_AT_N, None)].points]
    assert best == pytest.approx(ceiling)
    assert best[-1] > curves[(MAJORITY_VOTE, None)].points[0].accuracy


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="correct has 1 entries for 2 samples"):
        SampleSet(np.array([0, 0]), np.array([True]), np.array([1, 1]), {"min": np.array([0.1, 0.2])})
    with pytest.raises(ValueError, match="unknown aggregation"):
        SampleSet(np.array([0]), np.array([True]), np.array([1]), {"max": np.array([0.1])})
    assert selection_curves(SampleSet(np.array([]), np.array([]), np.array([]), {})) == []
