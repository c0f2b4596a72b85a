"""Agreement between step labellings (docs/concepts.md §3.8): between people, and between people and automatic
methods — Cohen's kappa, Fleiss' kappa, Krippendorff's alpha (ordinal), first-error agreement,
ProcessBench F1, and step-level accuracy with a confusion matrix.

Krippendorff's alpha comes from the ``krippendorff`` package (missing values, any level of
measurement). Cohen's and Fleiss' kappa are their textbook formulas (Cohen 1960; Fleiss 1971), a
few lines each over counts, which the tests hold to scikit-learn's ``cohen_kappa_score`` and
statsmodels' ``fleiss_kappa``: those libraries bring scipy and pandas, ~130 MB in every web process
that draws an agreement figure (the annotation dashboard, a queue's agreement page). The step
confusion matrix is a count of (reference, method) pairs over three labels, for the same reason.

A chance-corrected coefficient is undefined when only one category occurs: expected agreement is
then 1 and the coefficient 0/0.  Those functions return None in that case (all raters gave every
item the same label), so the type makes callers show "undefined" instead of a number.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import krippendorff
import numpy as np

from traces.analysis.metrics.checks import (
    STEP_LABELS,
    require_first_errors,
    require_nonempty,
    require_paired,
    require_step_labels,
)

NO_ERROR = -1
"""First-error index of a trace without an erroneous step (ProcessBench convention, docs/concepts.md §2)."""


def first_error_index(labels: Sequence[int | None]) -> int:
    """0-based index of the first step labelled −1, or −1 if there is none (docs/concepts.md §1, §2 ProcessBench).

    None marks an unlabelled step and is skipped, as PRM800K's null ratings are.
    """
    require_step_labels(labels, "step labels", unlabelled_ok=True)
    return next((index for index, label in enumerate(labels) if label == -1), NO_ERROR)


def cohen_kappa(rater_a: Sequence[int], rater_b: Sequence[int]) -> float | None:
    """Cohen's kappa of two raters over the same items (docs/concepts.md §3.8); None if one category only."""
    require_paired(rater_a, rater_b, "Cohen's kappa ratings")
    categories = set(rater_a) | set(rater_b)
    if len(categories) < 2:
        return None
    total = len(rater_a)
    observed = sum(a == b for a, b in zip(rater_a, rater_b, strict=True)) / total
    count_a, count_b = Counter(rater_a), Counter(rater_b)
    chance = sum(count_a[category] * count_b[category] for category in categories) / (total * total)
    return (observed - chance) / (1 - chance)


def fleiss_kappa(ratings_per_item: Sequence[Sequence[int]]) -> float | None:
    """Fleiss' kappa of many raters (Fleiss 1971; docs/concepts.md §3.8); None if one category only.

    ``ratings_per_item[i]`` holds the categories item i got, one per rater; which rater gave which
    does not matter.  Fleiss' kappa assumes the same number (≥ 2) of ratings on every item: items
    with differing counts are refused — use ``krippendorff_alpha_ordinal``, which allows them.
    """
    require_nonempty(ratings_per_item, "Fleiss' kappa ratings")
    counts = {len(ratings) for ratings in ratings_per_item}
    if len(counts) > 1:
        raise ValueError(
            f"Fleiss' kappa needs the same number of ratings on every item, got {sorted(counts)}; "
            "Krippendorff's alpha handles varying rater counts"
        )
    raters = counts.pop()
    if raters < 2:
        raise ValueError("Fleiss' kappa needs at least two ratings per item")
    per_item = [Counter(ratings) for ratings in ratings_per_item]
    per_category = Counter(rating for ratings in ratings_per_item for rating in ratings)
    if len(per_category) < 2:
        return None
    pairs = raters * (raters - 1)
    observed = sum((sum(n * n for n in item.values()) - raters) / pairs for item in per_item) / len(per_item)
    ratings = raters * len(per_item)
    chance = sum((n / ratings) ** 2 for n in per_category.values())
    return (observed - chance) / (1 - chance)


@dataclass(frozen=True)
class ModalFleiss:
    """Fleiss' kappa over the items with the most common number of ratings (:func:`modal_fleiss_kappa`)."""

    kappa: float | None
    raters: int  # ratings per item it was computed over; 0 when no item had two or more
    items: int


def modal_fleiss_kappa(ratings_per_item: Sequence[Sequence[int]]) -> ModalFleiss:
    """Fleiss' kappa where people rated items unevenly (docs/concepts.md §3.8): computed over the items
    with the most common number of ratings, a tie between two counts going to the larger one.

    Items with fewer than two ratings are left out. The figure depends neither on the order of the
    items nor on the order of an item's ratings (they are sorted before they are summed), so every
    page that shows agreement shows the same number for the same ratings.
    """
    rated = sorted(sorted(ratings) for ratings in ratings_per_item if len(ratings) >= 2)
    if not rated:
        return ModalFleiss(kappa=None, raters=0, items=0)
    counts = Counter(len(ratings) for ratings in rated)
    raters = max(counts, key=lambda count: (counts[count], count))
    same_count = [ratings for ratings in rated if len(ratings) == raters]
    return ModalFleiss(kappa=fleiss_kappa(same_count), raters=raters, items=len(same_count))


def krippendorff_alpha_ordinal(ratings_per_item: Sequence[Sequence[int]]) -> float | None:
    """Krippendorff's alpha, ordinal metric (Krippendorff 2011; docs/concepts.md §3.8); None if one category.

    ``ratings_per_item[i]`` holds the values item i got from whoever rated it: items may have any
    number of ratings (a rater who skipped an item is simply absent) and alpha does not depend on
    which rater gave which value.  Items with fewer than two ratings cannot be paired and do not
    count; at least one item needs two.
    """
    require_nonempty(ratings_per_item, "Krippendorff's alpha ratings")
    pairable = [ratings for ratings in ratings_per_item if len(ratings) >= 2]
    if not pairable:
        raise ValueError("Krippendorff's alpha needs at least one item with two or more ratings")
    if len({value for ratings in pairable for value in ratings}) < 2:
        return None
    width = max(len(ratings) for ratings in pairable)
    units = np.full((len(pairable), width), np.nan)
    for row, ratings in enumerate(pairable):
        units[row, : len(ratings)] = ratings
    # the package wants raters × units with NaN for missing values
    return float(krippendorff.alpha(reliability_data=units.T, level_of_measurement="ordinal"))


def first_error_agreement(first_errors_a: Sequence[int], first_errors_b: Sequence[int]) -> float:
    """Share of traces whose two labellings put the first error at the same step (docs/concepts.md §3.8).

    Indices are 0-based; −1 means "no error", so two error-free verdicts agree.
    """
    require_paired(first_errors_a, first_errors_b, "first-error indices")
    require_first_errors(first_errors_a, "first labelling's first-error indices")
    require_first_errors(first_errors_b, "second labelling's first-error indices")
    return sum(a == b for a, b in zip(first_errors_a, first_errors_b)) / len(first_errors_a)


@dataclass(frozen=True)
class ProcessBenchScore:
    """ProcessBench's figures (Zheng et al. 2024, "ProcessBench"), as fractions in [0, 1].

    An accuracy over an empty subset (no erroneous, or no error-free, reference trace) is None,
    and so is the F1 built on it.
    """

    erroneous_accuracy: float | None
    error_free_accuracy: float | None
    f1: float | None
    n_erroneous: int
    n_error_free: int


def processbench_f1(predicted: Sequence[int], reference: Sequence[int]) -> ProcessBenchScore:
    """ProcessBench F1 of a method's first-error indices against a reference labelling (docs/concepts.md §3.8).

    erroneous accuracy = share of reference-erroneous traces whose predicted first-error index is
    exactly the reference one; error-free accuracy = share of reference-error-free traces predicted
    −1; F1 = their harmonic mean, 0.0 when both are 0.  ProcessBench reports the same in percent.
    """
    require_paired(predicted, reference, "first-error indices (predicted, reference)")
    require_first_errors(predicted, "predicted first-error indices")
    require_first_errors(reference, "reference first-error indices")
    erroneous = [p == r for p, r in zip(predicted, reference) if r != NO_ERROR]
    error_free = [p == NO_ERROR for p, r in zip(predicted, reference) if r == NO_ERROR]
    erroneous_accuracy = sum(erroneous) / len(erroneous) if erroneous else None
    error_free_accuracy = sum(error_free) / len(error_free) if error_free else None
    f1 = None
    if erroneous_accuracy is not None and error_free_accuracy is not None:
        f1 = _harmonic_mean(erroneous_accuracy, error_free_accuracy)
    return ProcessBenchScore(
        erroneous_accuracy, error_free_accuracy, f1, len(erroneous), len(error_free)
    )


def _harmonic_mean(a: float, b: float) -> float:
    return 0.0 if a + b == 0 else 2 * a * b / (a + b)


@dataclass(frozen=True)
class StepConfusion:
    """Step-label confusion matrix: ``counts[i][j]`` steps with reference label ``labels[i]`` that
    the method labelled ``labels[j]`` (labels −1, 0, +1)."""

    counts: tuple[tuple[int, ...], ...]
    labels: tuple[int, ...] = STEP_LABELS

    @property
    def total(self) -> int:
        """Number of steps compared."""
        return sum(map(sum, self.counts))

    @property
    def accuracy(self) -> float:
        """Step-level accuracy: share of steps where the method gives the reference label."""
        return sum(self.counts[i][i] for i in range(len(self.labels))) / self.total


def step_confusion(method: Sequence[int], reference: Sequence[int]) -> StepConfusion:
    """Confusion matrix over {−1, 0, +1} of a method's step labels against a reference (docs/concepts.md §3.8).

    The two sequences are the same steps in the same order (concatenate traces to compare many).
    """
    require_paired(method, reference, "step labels (method, reference)")
    require_step_labels(method, "method step labels")
    require_step_labels(reference, "reference step labels")
    pairs = Counter(zip(reference, method, strict=True))
    return StepConfusion(tuple(tuple(pairs[(truth, given)] for given in STEP_LABELS) for truth in STEP_LABELS))
