"""Metrics of docs/concepts.md §3.8 as pure functions: plain numbers and sequences in, floats and frozen
dataclasses out.

Modules:
    accuracy     -- accuracy with Wilson CI, pass@k, maj@k, accuracy by length, solve rates.
    calibration  -- expected calibration error and Brier score of a confidence.
    agreement    -- Cohen's/Fleiss' kappa (also over the modal rater count), Krippendorff's alpha,
                    first-error agreement, ProcessBench F1, step-label confusion matrix.

Conventions: an input with no items (or two inputs that do not line up) raises ValueError naming
what was wrong, as does a value outside its domain (k > n for pass@k, a step label outside
{−1, 0, +1}).  A statistic that is undefined on valid data — kappa or alpha when only one
category occurs, an accuracy over an empty bucket or subset — is None, never NaN.
"""

from traces.analysis.metrics.accuracy import (
    Accuracy,
    LengthBucket,
    Sample,
    accuracy_by_length,
    accuracy_with_ci,
    maj_at_k,
    majority_vote,
    mean_pass_at_k,
    pass_at_k,
    problem_solve_rates,
)
from traces.analysis.metrics.agreement import (
    NO_ERROR,
    ModalFleiss,
    ProcessBenchScore,
    StepConfusion,
    cohen_kappa,
    first_error_agreement,
    first_error_index,
    fleiss_kappa,
    krippendorff_alpha_ordinal,
    modal_fleiss_kappa,
    processbench_f1,
    step_confusion,
)
from traces.analysis.metrics.calibration import brier_score, expected_calibration_error

__all__ = [
    "NO_ERROR",
    "Accuracy",
    "LengthBucket",
    "ModalFleiss",
    "ProcessBenchScore",
    "Sample",
    "StepConfusion",
    "accuracy_by_length",
    "accuracy_with_ci",
    "brier_score",
    "cohen_kappa",
    "expected_calibration_error",
    "first_error_agreement",
    "first_error_index",
    "fleiss_kappa",
    "krippendorff_alpha_ordinal",
    "maj_at_k",
    "majority_vote",
    "mean_pass_at_k",
    "modal_fleiss_kappa",
    "pass_at_k",
    "problem_solve_rates",
    "processbench_f1",
    "step_confusion",
]
