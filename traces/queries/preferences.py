"""A person's pairwise preferences as the compare page reads them (docs/concepts.md §1 Preference).

A preference is stored in canonical order, ``trace_a`` < ``trace_b`` (``traces.actions.preferences``).
"""

from __future__ import annotations

from collections.abc import Collection

from django.contrib.auth.models import User

from traces.models import HUMAN, Preference


def preference_of(user: User, first_id: int, second_id: int) -> Preference | None:
    """The person's own preference between the two traces, whichever order they are named in."""
    pair = {"trace_a_id": min(first_id, second_id), "trace_b_id": max(first_id, second_id)}
    return Preference.objects.filter(**pair, source=HUMAN, user=user).first()


def preferences_among(user: User, trace_ids: Collection[int]) -> dict[tuple[int, int], Preference]:
    """The person's own preferences between any two of the traces, by their canonical (a, b) ids."""
    ids = list(trace_ids)
    rows = Preference.objects.filter(trace_a_id__in=ids, trace_b_id__in=ids, source=HUMAN, user=user)
    return {(preference.trace_a_id, preference.trace_b_id): preference for preference in rows}
