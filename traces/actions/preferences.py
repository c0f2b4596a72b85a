"""Save a person's pairwise preference between two traces of one problem.

A preference is a label type of its own (``traces.models.Preference``): "A is better", "B is
better" or "tie", with a reason. The row stores the pair in canonical order (``trace_a_id <
trace_b_id``); a page may show the pair either way round, so the choice made on the page is
flipped when the page's A is the stored B. One row per (pair, person): judging the pair again
updates it in place. Both traces must answer the same problem of the same project (a preference
between answers to different questions means nothing), and the person must be allowed to label
there (annotator or above, ``traces.access.Action.LABEL``).
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from traces import access
from traces.actions.annotations import MAX_NOTE_CHARS
from traces.models import HUMAN, Preference, PreferenceChoice, Trace

#: The longest reason kept (the same bound as a trace annotation's note).
MAX_REASON_CHARS = MAX_NOTE_CHARS

#: The choice as stored when the pair is stored the other way round than it was shown.
FLIPPED = {PreferenceChoice.A_BETTER: PreferenceChoice.B_BETTER, PreferenceChoice.B_BETTER: PreferenceChoice.A_BETTER}


class PreferenceError(ValueError):
    """A preference that cannot be saved; the message says what was wrong."""


def canonical_pair(shown_a: int, shown_b: int, choice: str) -> tuple[int, int, str]:
    """``(trace_a_id, trace_b_id, choice)`` as stored, for a choice made with ``shown_a`` shown as A."""
    if shown_a < shown_b:
        return shown_a, shown_b, choice
    return shown_b, shown_a, FLIPPED.get(PreferenceChoice(choice), PreferenceChoice.TIE).value


def as_shown(preference: Preference, shown_a: int) -> str:
    """The stored choice of ``preference`` as a page that shows ``shown_a`` as A reads it."""
    if preference.trace_a_id == shown_a:
        return preference.choice
    return FLIPPED.get(PreferenceChoice(preference.choice), PreferenceChoice.TIE).value


def check_pair(trace_x: Trace, trace_y: Trace) -> None:
    """Raise PreferenceError unless the two traces are distinct answers to one problem of one project."""
    if trace_x.pk == trace_y.pk:
        raise PreferenceError(f"trace #{trace_x.pk} cannot be compared with itself: choose two different traces")
    if trace_x.project_id != trace_y.project_id:
        raise PreferenceError(f"traces #{trace_x.pk} and #{trace_y.pk} belong to different projects")
    if trace_x.problem_id != trace_y.problem_id:
        raise PreferenceError(
            f"traces #{trace_x.pk} (problem #{trace_x.problem_id}) and #{trace_y.pk} (problem #{trace_y.problem_id}) "
            "answer different problems: a preference compares two traces of the same problem"
        )


def check_choice(choice: str, reason: str) -> None:
    """Raise PreferenceError for a choice outside a/b/tie or a reason that cannot be stored."""
    if choice not in PreferenceChoice.values:
        raise PreferenceError(f"choice: '{choice[:20]}' is not one of {', '.join(PreferenceChoice.values)}")
    if len(reason) > MAX_REASON_CHARS:
        raise PreferenceError(f"reason: at most {MAX_REASON_CHARS} characters, got {len(reason)}")
    if "\x00" in reason:
        raise PreferenceError("reason: must not contain NUL characters (\\u0000)")


def do_save_preference(
    user: User, trace_x: Trace, trace_y: Trace, choice_as_shown: str, reason: str = ""
) -> Preference:
    """Create or update ``user``'s preference between ``trace_x`` (shown as A) and ``trace_y`` (shown as B).

    Raises ``access.PermissionDenied`` when the person's role does not allow labeling, and
    PreferenceError for two traces that are not a pair or a choice or reason that is not allowed.
    """
    access.require(trace_x.project, user, access.Action.LABEL)
    check_pair(trace_x, trace_y)
    check_choice(choice_as_shown, reason)
    trace_a, trace_b, choice = canonical_pair(trace_x.pk, trace_y.pk, choice_as_shown)
    with transaction.atomic():
        preference, _ = Preference.objects.update_or_create(
            trace_a_id=trace_a,
            trace_b_id=trace_b,
            source=HUMAN,
            user=user,
            defaults={"choice": choice, "reason": reason},
        )
    return preference
