"""Input checks shared by the metrics (docs/concepts.md §3.8): bad input gets a ValueError naming what was wrong."""

from __future__ import annotations

from collections.abc import Sequence, Sized

STEP_LABELS = (-1, 0, 1)
"""Step-label values of docs/concepts.md §1 (PRM800K semantics: −1 wrong, 0 neutral, +1 correct)."""


def require_nonempty(values: Sized, what: str) -> None:
    """Refuse an empty input: no metric in this package is defined on zero items."""
    if len(values) == 0:
        raise ValueError(f"{what} is empty: the metric needs at least one item")


def require_paired(first: Sized, second: Sized, what: str) -> None:
    """Refuse two inputs that are empty or do not line up item for item."""
    require_nonempty(first, what)
    if len(first) != len(second):
        raise ValueError(f"{what}: the two inputs differ in length ({len(first)} vs {len(second)})")


def require_first_errors(indices: Sequence[int], what: str) -> None:
    """Refuse first-error indices that are not −1 ("no error") or a 0-based step index."""
    for position, index in enumerate(indices):
        if index < -1:
            raise ValueError(f"{what}[{position}] = {index}: a first-error index is −1 or a step index ≥ 0")


def require_step_labels(
    labels: Sequence[int | None], what: str, *, unlabelled_ok: bool = False
) -> None:
    """Refuse step labels outside {−1, 0, +1}; None (an unlabelled step) only if ``unlabelled_ok``."""
    for position, label in enumerate(labels):
        if not (label in STEP_LABELS or (label is None and unlabelled_ok)):
            raise ValueError(f"{what}[{position}] = {label!r}: a step label is −1, 0 or +1")
