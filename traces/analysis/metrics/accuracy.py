"""Accuracy of traces (docs/concepts.md §3.8): accuracy with a 95% CI, pass@k, maj@k, accuracy by length
bucket and per-problem difficulty.

The confidence interval is Wilson's score interval (Wilson 1927): unlike the textbook Wald
interval it stays inside [0, 1] and keeps close to its nominal coverage at the small n and the
accuracies near 0 or 1 that per-bucket and per-model figures have (Agresti & Coull 1998; Brown,
Cai & DasGupta 2001). It is statsmodels' formula (``proportion_confint(method="wilson")``, which
the tests hold it to) with the normal quantile from the standard library: the model dashboard
computes it in the web process on every load, and statsmodels would bring scipy and pandas into
every web worker (~150 MB each) for four lines of arithmetic.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import TypeVar

from traces.analysis.metrics.checks import require_nonempty, require_paired

ProblemKey = TypeVar("ProblemKey", bound=Hashable)


@dataclass(frozen=True)
class Accuracy:
    """``correct`` of ``total`` traces right: ``value`` = correct/total and its Wilson interval."""

    correct: int
    total: int
    value: float
    low: float
    high: float


def accuracy_with_ci(correct: int, total: int, confidence: float = 0.95) -> Accuracy:
    """Accuracy ``correct/total`` with its Wilson score interval (docs/concepts.md §3.8 "accuracy with 95% CI")."""
    if total < 1:
        raise ValueError(f"accuracy needs at least one trace, got total={total}")
    if not 0 <= correct <= total:
        raise ValueError(f"correct={correct} is outside 0..total={total}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence} is not strictly between 0 and 1")
    low, high = wilson_interval(correct, total, confidence)
    return Accuracy(correct, total, correct / total, low, high)


def wilson_interval(correct: int, total: int, confidence: float) -> tuple[float, float]:
    """Wilson's score interval of ``correct/total`` at ``confidence`` (Wilson 1927; Brown, Cai &
    DasGupta 2001, eq. 4). It ends at exactly 0 when no trace is right and 1 when every one is, as
    it does mathematically (the floating-point formula leaves ~1e-17 there)."""
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    share = correct / total
    shrink = 1 + z * z / total
    centre = (share + z * z / (2 * total)) / shrink
    half = z * math.sqrt(share * (1 - share) / total + z * z / (4 * total * total)) / shrink
    low = 0.0 if correct == 0 else max(0.0, centre - half)
    high = 1.0 if correct == total else min(1.0, centre + half)
    return low, high


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one problem with ``c`` of ``n`` samples correct (docs/concepts.md §3.8).

    pass@k = 1 − C(n−c, k)/C(n, k), the chance that k samples drawn without replacement from the
    n include a correct one (Chen et al. 2021, "Evaluating Large Language Models Trained on
    Code", §2.1).  Computed as in that paper in product form, 1 − ∏_{i=n−c+1..n} (1 − k/i), so
    no huge binomial coefficient is ever formed.  k > n is refused: k samples cannot be drawn.
    """
    if n < 1:
        raise ValueError(f"pass@k needs at least one sample, got n={n}")
    if not 0 <= c <= n:
        raise ValueError(f"c={c} correct samples is outside 0..n={n}")
    if not 1 <= k <= n:
        raise ValueError(f"k={k} is outside 1..n={n}: pass@k draws k of the n samples")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def mean_pass_at_k(counts: Sequence[tuple[int, int]], k: int) -> float:
    """pass@k averaged over problems, each given as (n samples, c correct) (docs/concepts.md §3.8)."""
    require_nonempty(counts, "pass@k problems")
    return sum(pass_at_k(n, c, k) for n, c in counts) / len(counts)


@dataclass(frozen=True)
class Sample:
    """One sampled completion: its extracted answer (None if none was found) and its verdict."""

    answer: str | None
    correct: bool


def majority_vote(samples: Sequence[Sample], key: Callable[[str], Hashable]) -> Sample | None:
    """The sample whose answer wins a majority vote (docs/concepts.md §3.8 majority-vote accuracy).

    Answers are grouped by ``key(answer)`` (an equivalence key such as
    ``traces.analysis.answers.normalize_answer``); samples without an answer abstain, and if all
    abstain there is no winner (None).  The largest group wins.  Ties are broken by sample
    order: of the tied groups, the one whose first sample comes earliest in ``samples`` wins, so
    the result never depends on hashing.  The winner returned is that group's first sample; its
    ``correct`` is the vote's verdict.
    """
    groups: dict[Hashable, list[Sample]] = {}
    for sample in samples:
        if sample.answer is not None:
            groups.setdefault(key(sample.answer), []).append(sample)
    if not groups:
        return None
    return max(groups.values(), key=len)[0]  # max keeps the first of equals: earliest group


def maj_at_k(
    problems: Sequence[Sequence[Sample]], k: int, key: Callable[[str], Hashable]
) -> Accuracy:
    """maj@k: share of problems whose majority vote over their first ``k`` samples is correct.

    docs/concepts.md §3.8 majority-vote accuracy; a problem where every sample abstains counts as wrong.
    Every problem needs at least ``k`` samples.
    """
    require_nonempty(problems, "maj@k problems")
    if k < 1:
        raise ValueError(f"k={k}: maj@k votes over at least one sample")
    correct = 0
    for position, samples in enumerate(problems):
        if len(samples) < k:
            raise ValueError(f"problem {position} has {len(samples)} samples, fewer than k={k}")
        winner = majority_vote(samples[:k], key)
        if winner is not None and winner.correct:
            correct += 1
    return accuracy_with_ci(correct, len(problems))


@dataclass(frozen=True)
class LengthBucket:
    """Traces with ``low`` ≤ tokens < ``high`` (``high`` None: unbounded); ``accuracy`` None if empty."""

    low: int
    high: int | None
    n: int
    accuracy: Accuracy | None


def accuracy_by_length(
    token_counts: Sequence[int], correct: Sequence[bool], edges: Sequence[int]
) -> list[LengthBucket]:
    """Accuracy with CI per token-count bucket (docs/concepts.md §3.8 "accuracy vs length bucket").

    ``edges`` e₁ < e₂ < … < eₘ (positive) cut the counts into [0, e₁), [e₁, e₂), …, [eₘ, ∞), so
    every trace lands in exactly one of the m + 1 buckets.
    """
    require_paired(token_counts, correct, "token counts and verdicts")
    if any(edge <= 0 for edge in edges) or any(a >= b for a, b in zip(edges, edges[1:])):
        raise ValueError(f"bucket edges {list(edges)} are not positive and strictly increasing")
    if any(count < 0 for count in token_counts):
        raise ValueError("a token count is negative")
    totals = [0] * (len(edges) + 1)
    rights = [0] * (len(edges) + 1)
    for count, right in zip(token_counts, correct):
        bucket = bisect_right(edges, count)
        totals[bucket] += 1
        rights[bucket] += right
    lows = [0, *edges]
    highs: list[int | None] = [*edges, None]
    return [
        LengthBucket(low, high, n, accuracy_with_ci(k, n) if n else None)
        for low, high, n, k in zip(lows, highs, totals, rights)
    ]


def problem_solve_rates(outcomes: Mapping[ProblemKey, Sequence[bool]]) -> dict[ProblemKey, float]:
    """Per-problem difficulty as the share of its samples (or models) that got it right (docs/concepts.md §3.8).

    1.0 means every sample solved the problem, 0.0 that none did.
    """
    require_nonempty(outcomes, "problem outcomes")
    rates = {}
    for problem, verdicts in outcomes.items():
        require_nonempty(verdicts, f"outcomes of problem {problem!r}")
        rates[problem] = sum(verdicts) / len(verdicts)
    return rates
