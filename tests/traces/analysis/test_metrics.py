"""Metrics of SPEC §3.8 against hand-computed values, properties and the real ProcessBench/PRM800K
samples in ../shared/data."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from traces.analysis.answers import normalize_answer
from traces.analysis.metrics import (
    NO_ERROR,
    ModalFleiss,
    Sample,
    accuracy_by_length,
    accuracy_with_ci,
    brier_score,
    cohen_kappa,
    expected_calibration_error,
    first_error_agreement,
    first_error_index,
    fleiss_kappa,
    krippendorff_alpha_ordinal,
    maj_at_k,
    majority_vote,
    mean_pass_at_k,
    modal_fleiss_kappa,
    pass_at_k,
    problem_solve_rates,
    processbench_f1,
    step_confusion,
)

# ------------------------------------------------------------------------------------- accuracy


def test_wilson_interval_of_8_of_10_matches_the_textbook_formula() -> None:
    z = 1.959963984540054  # standard normal 97.5% quantile
    n, p = 10, 0.8
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    result = accuracy_with_ci(8, 10)
    assert (result.correct, result.total, result.value) == (8, 10, 0.8)
    assert result.low == pytest.approx(centre - half, abs=1e-12)
    assert result.high == pytest.approx(centre + half, abs=1e-12)
    assert (round(result.low, 4), round(result.high, 4)) == (0.4902, 0.9433)


def test_wilson_interval_is_statsmodels_proportion_confint() -> None:
    from statsmodels.stats.proportion import proportion_confint

    for total in (1, 2, 3, 5, 10, 37, 60, 1000):
        for correct in range(total + 1):
            for confidence in (0.8, 0.95, 0.99):
                result = accuracy_with_ci(correct, total, confidence)
                low, high = proportion_confint(correct, total, alpha=1 - confidence, method="wilson")
                assert (result.low, result.high) == (pytest.approx(low, abs=1e-12), pytest.approx(high, abs=1e-12))


def test_wilson_interval_stays_inside_0_1_at_the_extremes() -> None:
    assert accuracy_with_ci(0, 5).low == 0.0
    assert accuracy_with_ci(5, 5).high == pytest.approx(1.0)
    assert 0 < accuracy_with_ci(0, 5).high < 1


@pytest.mark.parametrize(("correct", "total"), [(0, 0), (3, 2), (-1, 4)])
def test_accuracy_refuses_impossible_counts(correct: int, total: int) -> None:
    with pytest.raises(ValueError, match="total"):
        accuracy_with_ci(correct, total)


def _pass_at_k_by_enumeration(n: int, c: int, k: int) -> float:
    samples = [True] * c + [False] * (n - c)
    draws = list(itertools.combinations(samples, k))
    return sum(any(draw) for draw in draws) / len(draws)


def test_pass_at_k_equals_enumeration_of_all_k_subsets() -> None:
    for n in range(1, 9):
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert pass_at_k(n, c, k) == pytest.approx(_pass_at_k_by_enumeration(n, c, k), abs=1e-12)


def test_pass_at_k_is_stable_for_large_n() -> None:
    # C(1000, 500) overflows a float; the product form never forms it.  pass@1 is c/n exactly.
    assert pass_at_k(1000, 1, 500) == pytest.approx(0.5)
    assert pass_at_k(1000, 37, 1) == pytest.approx(0.037)


def test_mean_pass_at_k_averages_problems() -> None:
    assert mean_pass_at_k([(4, 0), (4, 4), (4, 1)], 2) == pytest.approx((0 + 1 + 0.5) / 3)


@pytest.mark.parametrize(("n", "c", "k", "message"), [(3, 1, 4, "k=4"), (3, 4, 1, "c=4"), (3, 1, 0, "k=0")])
def test_pass_at_k_refuses_impossible_arguments(n: int, c: int, k: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pass_at_k(n, c, k)


@st.composite
def _pass_at_k_args(draw: st.DrawFn) -> tuple[int, int, int]:
    n = draw(st.integers(1, 300))
    return n, draw(st.integers(0, n)), draw(st.integers(1, n))


@given(_pass_at_k_args())
def test_pass_at_k_is_a_probability_monotone_in_k_and_c(args: tuple[int, int, int]) -> None:
    n, c, k = args
    value = pass_at_k(n, c, k)
    assert 0.0 <= value <= 1.0
    if k < n:
        assert pass_at_k(n, c, k + 1) >= value - 1e-12
    if c < n:
        assert pass_at_k(n, c + 1, k) >= value - 1e-12


def test_majority_vote_groups_by_key_and_breaks_ties_by_first_occurrence() -> None:
    samples = [
        Sample("\\frac12", False),  # group "\frac{1}{2}", 2 votes, first at 0
        Sample(None, False),
        Sample("3", True),  # group "3", 2 votes, first at 2
        Sample("$\\frac{1}{2}$", False),
        Sample("3.", True),
    ]
    assert majority_vote(samples, normalize_answer) == samples[0]
    assert majority_vote(samples[1:], normalize_answer) == samples[2]
    assert majority_vote([Sample(None, False)], normalize_answer) is None


def test_maj_at_k_votes_over_the_first_k_samples() -> None:
    problems = [
        [Sample("5", True), Sample("6", False), Sample("6", False)],
        [Sample("x", False), Sample("y", True), Sample("y", True)],
        [Sample(None, False), Sample(None, False), Sample("1", True)],
    ]
    assert maj_at_k(problems, 3, normalize_answer).correct == 2  # 6 wrong, y right, 1 right
    assert maj_at_k(problems, 1, normalize_answer).correct == 1  # 5 right, x wrong, abstain
    with pytest.raises(ValueError, match="fewer than k=4"):
        maj_at_k(problems, 4, normalize_answer)


def test_accuracy_by_length_buckets_by_edges() -> None:
    buckets = accuracy_by_length([10, 99, 100, 250, 5000], [True, False, True, True, False], [100, 1000])
    assert [(b.low, b.high, b.n) for b in buckets] == [(0, 100, 2), (100, 1000, 2), (1000, None, 1)]
    assert [b.accuracy.correct for b in buckets if b.accuracy] == [1, 2, 0]
    assert accuracy_by_length([10], [True], [5, 20, 30])[3].accuracy is None  # empty bucket
    with pytest.raises(ValueError, match="strictly increasing"):
        accuracy_by_length([10], [True], [20, 20])


def test_problem_solve_rates_are_shares_correct() -> None:
    assert problem_solve_rates({"a": [True, False, True, True], "b": [False]}) == {"a": 0.75, "b": 0.0}
    with pytest.raises(ValueError, match="'b'"):
        problem_solve_rates({"a": [True], "b": []})


# ---------------------------------------------------------------------------------- calibration


def test_ece_and_brier_by_hand() -> None:
    confidences, correct = [0.9, 0.9, 0.2, 0.2], [True, False, False, False]
    # bin 9: accuracy 0.5 vs confidence 0.9, weight 2/4; bin 2: 0 vs 0.2, weight 2/4
    assert expected_calibration_error(confidences, correct) == pytest.approx(0.5 * 0.4 + 0.5 * 0.2)
    # one bin: accuracy 0.25 vs mean confidence 0.55
    assert expected_calibration_error(confidences, correct, n_bins=1) == pytest.approx(0.3)
    assert brier_score(confidences, correct) == pytest.approx((0.01 + 0.81 + 0.04 + 0.04) / 4)
    assert expected_calibration_error([1.0, 0.0], [True, False]) == 0.0


def test_calibration_refuses_non_probabilities_and_empty_input() -> None:
    with pytest.raises(ValueError, match=r"confidence\[1\]"):
        brier_score([0.5, 1.5], [True, False])
    with pytest.raises(ValueError, match="empty"):
        expected_calibration_error([], [])


# ------------------------------------------------------------------------------------ agreement


def test_cohen_kappa_on_the_textbook_2x2_table() -> None:
    # Wikipedia "Cohen's kappa": 50 proposals, yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> 0.4
    pairs = [(1, 1)] * 20 + [(1, 0)] * 5 + [(0, 1)] * 10 + [(0, 0)] * 15
    a, b = zip(*pairs)
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_fleiss_kappa_on_the_wikipedia_example() -> None:
    # Wikipedia "Fleiss' kappa": 10 subjects, 14 raters, 5 categories; counts per category
    table = [
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
    ]  # fmt: skip
    ratings = [[category for category, count in enumerate(row) for _ in range(count)] for row in table]
    assert fleiss_kappa(ratings) == pytest.approx(0.210, abs=5e-4)


LABELS = st.sampled_from((-1, 0, 1))


@given(st.lists(st.tuples(LABELS, LABELS), min_size=1, max_size=80))
def test_cohen_kappa_is_scikit_learns(pairs: list[tuple[int, int]]) -> None:
    from sklearn.metrics import cohen_kappa_score

    a, b = [first for first, _ in pairs], [second for _, second in pairs]
    if len(set(a) | set(b)) > 1:
        assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)


#: Items each rated −1, 0 or +1 by the same number (2 to 6) of raters.
EVENLY_RATED = st.integers(2, 6).flatmap(
    lambda raters: st.lists(st.lists(LABELS, min_size=raters, max_size=raters), min_size=1, max_size=40)
)


@given(EVENLY_RATED)
def test_fleiss_kappa_is_statsmodels(items: list[list[int]]) -> None:
    import numpy as np
    from statsmodels.stats.inter_rater import aggregate_raters
    from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss_kappa

    table, categories = aggregate_raters(np.asarray(items))
    if len(categories) > 1:
        assert fleiss_kappa(items) == pytest.approx(statsmodels_fleiss_kappa(table, method="fleiss"), abs=1e-12)


def test_fleiss_kappa_refuses_varying_rater_counts() -> None:
    with pytest.raises(ValueError, match="same number of ratings"):
        fleiss_kappa([[1, 0, 1], [1, 1]])


def test_modal_fleiss_kappa_takes_the_most_common_rater_count() -> None:
    three = [[1, 1, 0], [0, 0, 0], [1, 1, 1]]
    two = [[1, 0], [1, 1]]
    result = modal_fleiss_kappa([[1], *two, *three])  # one rating: left out
    assert (result.raters, result.items) == (3, 3)
    assert result.kappa == pytest.approx(fleiss_kappa(three))


def test_modal_fleiss_kappa_breaks_a_tie_by_the_larger_count() -> None:
    """Two counts as common as each other: the larger one, wherever its items stand."""
    two = [[1, 0], [1, 1]]
    three = [[1, 1, 0], [0, 0, 1]]
    for items in (two + three, three + two):
        result = modal_fleiss_kappa(items)
        assert (result.raters, result.items) == (3, 2)
        assert result.kappa == pytest.approx(fleiss_kappa(three))


def test_modal_fleiss_kappa_without_two_ratings_on_any_item_is_undefined() -> None:
    assert modal_fleiss_kappa([[1], [0]]) == modal_fleiss_kappa([]) == ModalFleiss(kappa=None, raters=0, items=0)


@given(st.lists(st.lists(st.sampled_from([-1, 0, 1]), min_size=1, max_size=4), min_size=1, max_size=30), st.randoms())
def test_modal_fleiss_kappa_does_not_depend_on_row_order(items: list[list[int]], random: Any) -> None:
    shuffled = [random.sample(ratings, len(ratings)) for ratings in items]
    random.shuffle(shuffled)
    assert modal_fleiss_kappa(shuffled) == modal_fleiss_kappa(items)  # the same float, not just close


def test_krippendorff_alpha_on_krippendorffs_example_with_missing_values() -> None:
    # Krippendorff (2011) "Computing Krippendorff's alpha-reliability", 4 coders x 12 units,
    # None = not coded; published ordinal alpha 0.815
    coders = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    ]
    per_unit = [[value for value in unit if value is not None] for unit in zip(*coders)]
    assert krippendorff_alpha_ordinal(per_unit) == pytest.approx(0.815, abs=5e-4)


def test_agreement_with_a_single_category_is_undefined() -> None:
    assert cohen_kappa([1, 1, 1], [1, 1, 1]) is None
    assert fleiss_kappa([[0, 0], [0, 0]]) is None
    assert krippendorff_alpha_ordinal([[1, 1], [1, 1], [0]]) is None  # the 0 is not pairable


_labellings = st.lists(st.sampled_from([-1, 0, 1]), min_size=2, max_size=60).filter(lambda xs: len(set(xs)) > 1)


@given(_labellings)
def test_identical_raters_agree_perfectly(labels: list[int]) -> None:
    assert cohen_kappa(labels, labels) == pytest.approx(1.0)
    assert fleiss_kappa([[label] * 3 for label in labels]) == pytest.approx(1.0)
    assert krippendorff_alpha_ordinal([[label, label] for label in labels]) == pytest.approx(1.0)


def test_first_error_index_follows_processbench() -> None:
    assert first_error_index([1, 0, None, -1, 1, -1]) == 3
    assert first_error_index([1, 0, None]) == NO_ERROR == -1
    assert first_error_index([]) == -1
    with pytest.raises(ValueError, match=r"step labels\[1\] = 2"):
        first_error_index([1, 2])


def test_processbench_f1_by_hand() -> None:
    reference = [-1, 2, 0, -1, 4]
    predicted = [-1, 2, 1, 0, -1]  # erroneous: 1 of 3 exact; error-free: 1 of 2
    score = processbench_f1(predicted, reference)
    assert (score.n_erroneous, score.n_error_free) == (3, 2)
    assert score.erroneous_accuracy == pytest.approx(1 / 3)
    assert score.error_free_accuracy == pytest.approx(1 / 2)
    assert score.f1 == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    assert processbench_f1([0], [-1]).f1 is None  # no erroneous reference trace
    assert processbench_f1([0, -1], [-1, 1]).f1 == 0.0


def test_step_confusion_counts_reference_rows_against_method_columns() -> None:
    reference = [1, 1, 0, -1, -1, 1]
    method = [1, -1, 0, -1, 1, 1]
    confusion = step_confusion(method, reference)
    assert confusion.counts == ((1, 0, 1), (0, 1, 0), (1, 0, 2))
    assert confusion.total == 6
    assert confusion.accuracy == pytest.approx(4 / 6)
    with pytest.raises(ValueError, match="differ in length"):
        step_confusion([1], [1, 0])


@given(st.lists(st.tuples(st.sampled_from((-1, 0, 1)), st.sampled_from((-1, 0, 1))), min_size=1, max_size=60))
def test_step_confusion_is_scikit_learns_confusion_matrix(pairs: list[tuple[int, int]]) -> None:
    from sklearn.metrics import confusion_matrix

    reference, method = [truth for truth, _ in pairs], [given for _, given in pairs]
    expected = confusion_matrix(reference, method, labels=[-1, 0, 1]).tolist()
    assert step_confusion(method, reference).counts == tuple(map(tuple, expected))


# ------------------------------------------------------------------------------------ real data


def _processbench_records(shared_data: Path) -> list[dict[str, Any]]:
    paths = sorted((shared_data / "processbench").glob("*.jsonl"))
    assert len(paths) == 4
    return [json.loads(line) for path in paths for line in path.read_text().splitlines()]


def test_processbench_f1_of_the_real_labels_against_themselves_is_1(shared_data: Path) -> None:
    labels = [record["label"] for record in _processbench_records(shared_data)]
    score = processbench_f1(labels, labels)
    assert (score.erroneous_accuracy, score.error_free_accuracy, score.f1) == (1.0, 1.0, 1.0)
    assert first_error_agreement(labels, labels) == 1.0


def test_processbench_f1_of_a_shifted_labelling(shared_data: Path) -> None:
    records = _processbench_records(shared_data)
    reference = [record["label"] for record in records]
    # shift every error one step later where a later step exists; error-free stays error-free
    shifted = [
        label + 1 if label != -1 and label + 1 < len(record["steps"]) else label
        for label, record in zip(reference, records)
    ]
    # by hand: only errors already on the last step keep their index
    n_erroneous = n_error_free = n_on_last_step = 0
    for record in records:
        if record["label"] == -1:
            n_error_free += 1
        else:
            n_erroneous += 1
            n_on_last_step += record["label"] == len(record["steps"]) - 1
    erroneous_accuracy = n_on_last_step / n_erroneous
    expected_f1 = 2 * erroneous_accuracy * 1.0 / (erroneous_accuracy + 1.0)

    score = processbench_f1(shifted, reference)
    print(f"ProcessBench sample: {n_erroneous} erroneous, {n_error_free} error-free, "
          f"{n_on_last_step} with the error on the last step; shifted F1 = {score.f1:.4f}")
    assert (score.n_erroneous, score.n_error_free) == (n_erroneous, n_error_free)
    assert score.erroneous_accuracy == pytest.approx(erroneous_accuracy)
    assert score.error_free_accuracy == 1.0
    assert score.f1 == pytest.approx(expected_f1)
    assert first_error_agreement(shifted, reference) == pytest.approx(
        (n_error_free + n_on_last_step) / len(records)
    )


def test_first_error_index_of_prm800k_phase2_ratings(shared_data: Path) -> None:
    # PRM800K phase 2: labellers rate the pre-generated steps (completion 0 of each step) and stop
    # at the first wrong one, so a found_error record's first error is its last labelled step.
    path = shared_data / "prm800k" / "phase2_train.examples.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records and all(record["label"]["finish_reason"] == "found_error" for record in records)
    for record in records:
        steps = record["label"]["steps"]
        ratings = [step["completions"][0]["rating"] for step in steps]
        assert first_error_index(ratings) == len(steps) - 1
