"""Best-of-N selection by a process reward model's scores (docs/concepts.md §5.4).

Pure numpy: arrays in, curves out, no ORM.

A PRM scores every step of a trace; a **trace score** aggregates them (:data:`AGGREGATIONS`):
``min`` (the weakest step: Cheng et al. 2025, "Stop Summation: Min-Form Credit Assignment Is All
Process Reward Model Needs for Reasoning", argue this is the form that credits a chain by its worst
link), ``product`` (the chance that every step is right, read as independent), ``mean``, ``last``
(the step that states the answer) and ``sum`` (which favours long traces).

For the samples of each problem, :func:`selection_curves` gives the accuracy of picking one answer
out of N samples, for N = 1 … the fewest samples any problem has, averaged over problems with a
bootstrap 95 % interval (problems resampled with replacement):

* **best-of-N** per aggregation: the answer of the sample with the highest trace score among N
  drawn without replacement. Exact, not sampled: the sample ranked r-th (0-based, by score) of n is
  the best of a random N-subset with probability C(n−1−r, N−1) / C(n, N); tied scores share their
  chance, each tie group counting its mean correctness (a random tie-break).
* **PRM-weighted majority vote** per aggregation: each drawn sample votes for its answer with its
  trace score; the answer with the most weight wins. Estimated over random N-subsets (the same
  subsets for every method; exact at N = 1, where a sample elects its own answer, and at N = n,
  where every subset is the whole set).
* **majority vote**: the same with one vote per sample.
* **pass@N** (the ceiling: some sample of the N is right), the unbiased estimator of §3.8.

In a vote, a sample without an answer abstains, answers are compared by the ids given (the caller
normalises them), an answer counts as right if a right sample gave it, and a tie between answers
counts the share of the tied answers that are right (a random tie-break), so no curve depends on
the order of the samples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from traces.analysis.metrics import pass_at_k

AGGREGATIONS: tuple[str, ...] = ("min", "product", "mean", "last", "sum")

BEST_OF_N = "best_of_n"
WEIGHTED_VOTE = "weighted_vote"
MAJORITY_VOTE = "majority_vote"
PASS_AT_N = "pass_at_n"

#: Bootstrap resamples of the problems for the 95 % intervals.
RESAMPLES = 200
#: Random N-subsets drawn per problem for the votes: about this many over all problems, between
#: the two bounds below (many problems average out the chance of few subsets each).
VOTE_SUBSETS = 50_000
MIN_VOTE_DRAWS, MAX_VOTE_DRAWS = 8, 1024


def aggregate(step_scores: Sequence[float], how: str) -> float:
    """One trace score from its step scores (module docstring); ValueError for no steps or an
    unknown aggregation."""
    if how not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {', '.join(AGGREGATIONS)}, got {how!r}")
    if len(step_scores) == 0:
        raise ValueError("a trace score needs at least one step score")
    values = np.asarray(step_scores, dtype=np.float64)
    if how == "min":
        return float(values.min())
    if how == "product":
        return float(values.prod())
    if how == "mean":
        return float(values.mean())
    if how == "last":
        return float(values[-1])
    return float(values.sum())


def aggregate_all(step_scores: Sequence[float]) -> dict[str, float]:
    """Every aggregation of one trace's step scores, by name."""
    return {how: aggregate(step_scores, how) for how in AGGREGATIONS}


@dataclass(frozen=True)
class SampleSet:
    """Graded, scored samples of many problems, one entry per sample (trace).

    ``problem`` groups them; ``correct`` is each sample's verdict; ``answer`` an id of its final
    answer (equal ids are equal answers; −1: no answer); ``scores`` a trace score per aggregation.
    """

    problem: np.ndarray
    correct: np.ndarray
    answer: np.ndarray
    scores: Mapping[str, np.ndarray]

    def __post_init__(self) -> None:
        size = len(self.problem)
        for name, array in [("correct", self.correct), ("answer", self.answer), *self.scores.items()]:
            if len(array) != size:
                raise ValueError(f"{name} has {len(array)} entries for {size} samples")
        unknown = sorted(set(self.scores) - set(AGGREGATIONS))
        if unknown:
            raise ValueError(f"unknown aggregation(s) {unknown}; known: {', '.join(AGGREGATIONS)}")


@dataclass(frozen=True)
class CurvePoint:
    """Mean accuracy at N samples over the problems, with its bootstrap 95 % interval."""

    n: int
    accuracy: float
    low: float
    high: float


@dataclass(frozen=True)
class Curve:
    """Accuracy against N of one selection method (``aggregation`` None for majority vote and pass@N)."""

    method: str
    aggregation: str | None
    points: tuple[CurvePoint, ...]


def selection_curves(samples: SampleSet, *, resamples: int = RESAMPLES, seed: int = 0) -> list[Curve]:
    """Best-of-N and PRM-weighted vote per aggregation, majority vote and pass@N, for N = 1 … the
    fewest samples any problem has (module docstring). No samples: no curves."""
    if len(samples.problem) == 0:
        return []
    groups = _problem_groups(np.asarray(samples.problem))
    largest = min(indices.shape[1] for indices in groups)
    draws = _vote_draws(sum(len(indices) for indices in groups))
    rng = np.random.default_rng(seed)
    methods: list[tuple[str, str | None]] = [(BEST_OF_N, how) for how in samples.scores]
    methods += [(WEIGHTED_VOTE, how) for how in samples.scores] + [(MAJORITY_VOTE, None), (PASS_AT_N, None)]
    per_problem = [np.empty((0, largest))] * len(methods)
    for indices in groups:
        correct = np.asarray(samples.correct, dtype=bool)[indices]
        answers = np.asarray(samples.answer)[indices]
        scores = {how: np.asarray(array, dtype=np.float64)[indices] for how, array in samples.scores.items()}
        order = np.broadcast_to(np.arange(indices.shape[1]), (len(indices), draws, indices.shape[1]))
        ballots = Ballots.of(answers, correct, rng.permuted(order, axis=-1))
        rows = [best_of_n(scores[how], correct, largest) for how in samples.scores]
        rows += [vote(ballots, scores[how], largest) for how in samples.scores]
        rows += [vote(ballots, np.ones(indices.shape), largest), pass_at(correct, largest)]
        per_problem = [np.vstack([done, new]) for done, new in zip(per_problem, rows, strict=True)]
    return _with_intervals(methods, per_problem, resamples, rng)


def _problem_groups(problem: np.ndarray) -> list[np.ndarray]:
    """The sample indices of each problem, as one [problems, samples] matrix per sample count."""
    order = np.argsort(problem, kind="stable")
    _, starts, counts = np.unique(problem[order], return_index=True, return_counts=True)
    groups = []
    for count in np.unique(counts):
        first = starts[counts == count]
        groups.append(order[first[:, None] + np.arange(count)[None, :]])
    return groups


def _vote_draws(problems: int) -> int:
    """Random N-subsets per problem for the votes (``VOTE_SUBSETS``)."""
    return int(np.clip(VOTE_SUBSETS // max(problems, 1), MIN_VOTE_DRAWS, MAX_VOTE_DRAWS))


def best_of_n(scores: np.ndarray, correct: np.ndarray, largest: int) -> np.ndarray:
    """[problems, N] exact best-of-N accuracy for N = 1 … ``largest`` (module docstring)."""
    problems, n = scores.shape
    order = np.argsort(-scores, axis=1, kind="stable")
    ranked = np.take_along_axis(scores, order, axis=1)
    hits = np.take_along_axis(correct, order, axis=1).astype(np.float64)
    # Tie groups along each row, numbered over the whole matrix; each rank takes its group's mean.
    starts = np.ones((problems, n), dtype=bool)
    starts[:, 1:] = ranked[:, 1:] != ranked[:, :-1]
    group = np.cumsum(starts.ravel()) - 1
    means = np.bincount(group, hits.ravel()) / np.bincount(group)
    shared = means[group].reshape(problems, n)
    return shared @ _best_rank_chances(n, largest)


def _best_rank_chances(n: int, largest: int) -> np.ndarray:
    """[rank, N]: the chance that the sample of that rank is the best of a random N-subset of n."""
    from math import comb

    return np.array(
        [[comb(n - 1 - rank, size - 1) / comb(n, size) for size in range(1, largest + 1)] for rank in range(n)]
    )


@dataclass(frozen=True)
class Ballots:
    """The random N-subsets of a [problems, n] group as votes, shared by every vote over them.

    ``slot`` [problems, draws, n] is the answer of each drawn sample, known by the position of its
    first sample in the problem (n: no answer, a slot that never leads); ``right`` whether that
    answer is right; ``cell`` its place in a flat array of vote totals.
    """

    samples: np.ndarray  # [problems, draws, n] sample indices, in the order they are drawn
    slot: np.ndarray
    right: np.ndarray
    cell: np.ndarray
    alone: np.ndarray  # [problems]: the exact N = 1 vote, the share of samples whose answer is right

    @classmethod
    def of(cls, answers: np.ndarray, correct: np.ndarray, subsets: np.ndarray) -> Ballots:
        """Ballots of ``answers`` and ``correct`` ([problems, n]) over ``subsets`` ([problems, draws, n]
        orders of the samples: a subset of N is the first N)."""
        problems, draws, n = subsets.shape
        same = (answers[:, :, None] == answers[:, None, :]) & (answers[:, :, None] >= 0)
        first = np.where(answers >= 0, same.argmax(axis=2), n)
        right = np.zeros((problems, n + 1), dtype=bool)
        right[:, :n] = (same & correct[:, None, :]).any(axis=2)  # the answer first given at that position
        rows = np.arange(problems)[:, None, None]
        slot = first[rows, subsets]
        cell = slot + (np.arange(problems * draws) * (n + 1)).reshape(problems, draws, 1)
        alone = np.take_along_axis(right, first, axis=1).mean(axis=1)
        return cls(subsets, slot, right[rows, slot], cell, alone)


def vote(ballots: Ballots, weights: np.ndarray, largest: int) -> np.ndarray:
    """[problems, N] accuracy of the vote weighted by ``weights`` ([problems, n], not negative) over
    the ballots' N-subsets, N = 1 … ``largest``.

    The vote is counted as the samples arrive: only the drawn sample's answer changes its total, so
    the leading answers (how many, how many right) are kept up to date per subset without scanning
    every answer again. An answer is among the leaders when its ``mark`` equals the subset's
    ``lead`` number, which a new sole leader increments.
    """
    problems, draws, n = ballots.slot.shape
    # Size-major, one row per subset: the arrays one size reads are contiguous.
    voting = _by_size(ballots.slot < n)
    weight = _by_size(np.where(ballots.slot < n, weights[np.arange(problems)[:, None, None], ballots.samples], 0.0))
    cells, hits = _by_size(ballots.cell), _by_size(ballots.right)
    subsets = problems * draws
    totals = np.zeros(subsets * (n + 1))
    marks = np.full(subsets * (n + 1), -1)
    best = np.full(subsets, -np.inf)
    lead = np.zeros(subsets, dtype=np.int64)
    leaders = np.zeros(subsets)
    wins = np.zeros(subsets)
    accuracy = np.empty((problems, largest))
    for size in range(largest):
        here, hit, votes = cells[size], hits[size], voting[size]
        totals[here] += weight[size]
        total = totals[here]
        ahead = votes & (total > best)
        joins = votes & (total == best) & (marks[here] != lead)
        lead += ahead
        best = np.where(ahead, total, best)
        leaders = np.where(ahead, 1.0, leaders + joins)
        wins = np.where(ahead, hit, wins + (joins & hit))
        changed = ahead | joins
        marks[here[changed]] = lead[changed]
        shares = np.divide(wins, leaders, out=np.zeros(subsets), where=leaders > 0)
        accuracy[:, size] = shares.reshape(problems, draws).mean(axis=1)
    accuracy[:, 0] = ballots.alone  # one sample elects its own answer: exact, whatever was drawn
    return accuracy


def _by_size(array: np.ndarray) -> np.ndarray:
    """[problems, draws, n] as a contiguous [n, problems × draws]."""
    return np.ascontiguousarray(np.moveaxis(array, 2, 0).reshape(array.shape[2], -1))


def pass_at(correct: np.ndarray, largest: int) -> np.ndarray:
    """[problems, N] unbiased pass@N (docs/concepts.md §3.8) for N = 1 … ``largest``."""
    n = correct.shape[1]
    table = np.array([[pass_at_k(n, c, size) for size in range(1, largest + 1)] for c in range(n + 1)])
    return table[correct.sum(axis=1)]


def _with_intervals(
    methods: list[tuple[str, str | None]], per_problem: list[np.ndarray], resamples: int, rng: np.random.Generator
) -> list[Curve]:
    """Mean over problems with a bootstrap 95 % interval, every method resampled with the same problems."""
    stacked = np.hstack(per_problem)  # [problems, methods × N]
    problems, largest = stacked.shape[0], per_problem[0].shape[1]
    draws = rng.integers(0, problems, size=(resamples, problems))
    weights = np.stack([np.bincount(row, minlength=problems) for row in draws]).astype(np.float64)
    means = weights @ stacked / problems
    low, high = np.percentile(means, [2.5, 97.5], axis=0)
    point = stacked.mean(axis=0)
    curves = []
    for m, (method, aggregation) in enumerate(methods):
        columns = range(m * largest, (m + 1) * largest)
        points = tuple(
            CurvePoint(size, float(point[c]), float(low[c]), float(high[c])) for size, c in enumerate(columns, start=1)
        )
        curves.append(Curve(method, aggregation, points))
    return curves
