"""Calibration of a confidence against correctness (docs/concepts.md §3.8 "calibration when a confidence
exists"): expected calibration error and Brier score.

The Brier score comes from scikit-learn (``brier_score_loss``), imported by the function that
computes it (scikit-learn and scipy stay out of a web process that never shows one).  Neither
scikit-learn nor statsmodels has an ECE, so it is the few lines of numpy below.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from traces.analysis.metrics.checks import require_paired


def _require_confidences(confidences: Sequence[float], correct: Sequence[bool]) -> None:
    require_paired(confidences, correct, "confidences and verdicts")
    for position, confidence in enumerate(confidences):
        if not (math.isfinite(confidence) and 0.0 <= confidence <= 1.0):
            raise ValueError(f"confidence[{position}] = {confidence!r} is not a probability in [0, 1]")


def expected_calibration_error(
    confidences: Sequence[float], correct: Sequence[bool], n_bins: int = 10
) -> float:
    """ECE over ``n_bins`` equal-width confidence bins (Guo et al. 2017, "On Calibration of
    Modern Neural Networks"; docs/concepts.md §3.8).

    ECE = Σ_b (|b|/N)·|accuracy(b) − mean confidence(b)|.  Bin b holds confidences in
    [b/n_bins, (b+1)/n_bins); the last bin also holds 1.0.  Empty bins contribute nothing.
    """
    _require_confidences(confidences, correct)
    if n_bins < 1:
        raise ValueError(f"n_bins={n_bins}: ECE needs at least one bin")
    conf = np.asarray(confidences, dtype=float)
    right = np.asarray(correct, dtype=float)
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    # |b|·|accuracy(b) − mean confidence(b)| = |Σ_{i∈b} (correctᵢ − confidenceᵢ)|
    gaps = np.bincount(bins, weights=right - conf, minlength=n_bins)
    return float(np.abs(gaps).sum() / len(conf))


def brier_score(confidences: Sequence[float], correct: Sequence[bool]) -> float:
    """Brier score: mean squared difference between confidence and correctness (docs/concepts.md §3.8)."""
    _require_confidences(confidences, correct)
    from sklearn.metrics import brier_score_loss

    outcomes = np.asarray(correct, dtype=bool)
    return float(brier_score_loss(outcomes, np.asarray(confidences, dtype=float), pos_label=True))
