"""Saving pairwise preferences (issue 6 item 4): canonical order, same problem, roles, update in place."""

from __future__ import annotations

import pytest
from django.db import IntegrityError

from traces import access
from traces.actions.preferences import (
    MAX_REASON_CHARS,
    PreferenceError,
    as_shown,
    canonical_pair,
    do_save_preference,
)
from traces.actions.store import store_traces
from traces.formats.base import ParsedTrace
from traces.models import HUMAN, Membership, Preference, Project, Role, Run, RunKind, Trace

pytestmark = pytest.mark.django_db


def stored(project: Project, *items: tuple[str, str, str]) -> list[Trace]:
    """Traces stored as an import stores them, from ``(prompt, model, completion)``; one prompt is one problem."""
    run, _ = Run.objects.get_or_create(project=project, kind=RunKind.IMPORT, name="preferences.jsonl")
    parsed = [
        ParsedTrace(line_no=i, prompt=prompt, text=text, model_name=model, reference_answer="4")
        for i, (prompt, model, text) in enumerate(items)
    ]
    ids = store_traces(project, run, parsed).trace_ids
    return [Trace.objects.get(pk=pk) for pk in ids]


@pytest.fixture
def pair(project: Project) -> tuple[Trace, Trace]:
    """Two traces of one problem by two models."""
    first, second = stored(project, ("What is 2+2?", "model-a", "2+2 = 4."), ("What is 2+2?", "model-b", "It is 4."))
    assert first.problem_id == second.problem_id
    return first, second


def member(make_user, project: Project, role: Role, name: str):
    user = make_user(name)
    Membership.objects.create(project=project, user=user, role=role)
    return user


def test_canonical_pair_flips_the_choice_when_the_pair_was_shown_the_other_way() -> None:
    assert canonical_pair(3, 7, "a") == (3, 7, "a")
    assert canonical_pair(7, 3, "a") == (3, 7, "b")
    assert canonical_pair(7, 3, "b") == (3, 7, "a")
    assert canonical_pair(7, 3, "tie") == (3, 7, "tie")


@pytest.mark.parametrize("shown", ["in order", "reversed"])
@pytest.mark.parametrize("choice", ["a", "b", "tie"])
def test_the_choice_is_stored_canonically_and_reads_back_as_shown(
    pair: tuple[Trace, Trace], make_user, project: Project, shown: str, choice: str
) -> None:
    user = member(make_user, project, Role.ANNOTATOR, "ann")
    x, y = pair if shown == "in order" else pair[::-1]
    preference = do_save_preference(user, x, y, choice, "clearer steps")
    low, high = sorted(t.pk for t in pair)
    assert (preference.trace_a_id, preference.trace_b_id) == (low, high)
    assert (preference.source, preference.user, preference.reason) == (HUMAN, user, "clearer steps")
    better = {"a": x.pk, "b": y.pk, "tie": None}[choice]
    stored_better = {"a": preference.trace_a_id, "b": preference.trace_b_id, "tie": None}[preference.choice]
    assert stored_better == better
    assert as_shown(preference, x.pk) == choice


def test_judging_the_pair_again_updates_the_same_row(pair: tuple[Trace, Trace], make_user, project: Project) -> None:
    user = member(make_user, project, Role.REVIEWER, "rev")
    other = member(make_user, project, Role.ANNOTATOR, "ann")
    first = do_save_preference(user, pair[0], pair[1], "a", "first")
    second = do_save_preference(user, pair[1], pair[0], "a", "changed my mind")  # shown the other way round
    do_save_preference(other, pair[0], pair[1], "tie")
    assert second.pk == first.pk
    rows = Preference.objects.filter(user=user)
    assert rows.count() == 1
    assert (rows.get().choice, rows.get().reason) == ("b", "changed my mind")
    assert Preference.objects.count() == 2


def test_traces_of_different_problems_are_refused_with_a_clear_error(make_user, project: Project) -> None:
    user = member(make_user, project, Role.OWNER, "own")
    x, y = stored(project, ("What is 2+2?", "model-a", "4"), ("What is 3+1?", "model-a", "4"))
    with pytest.raises(PreferenceError, match=r"answer different problems"):
        do_save_preference(user, x, y, "a")
    assert not Preference.objects.exists()


def test_a_trace_is_not_compared_with_itself(pair: tuple[Trace, Trace], make_user, project: Project) -> None:
    user = member(make_user, project, Role.OWNER, "own")
    with pytest.raises(PreferenceError, match="itself"):
        do_save_preference(user, pair[0], pair[0], "a")


def test_traces_of_different_projects_are_refused(pair: tuple[Trace, Trace], make_user, project: Project) -> None:
    user = member(make_user, project, Role.OWNER, "own")
    other = Project.objects.create(name="Other", slug="other")
    Membership.objects.create(project=other, user=user, role=Role.OWNER)
    (elsewhere,) = stored(other, ("What is 2+2?", "model-a", "2+2 = 4."))
    with pytest.raises(PreferenceError, match="different projects"):
        do_save_preference(user, pair[0], elsewhere, "a")


@pytest.mark.parametrize("role", [Role.VIEWER, None])
def test_viewers_and_outsiders_cannot_judge(pair: tuple[Trace, Trace], make_user, project: Project, role) -> None:
    user = member(make_user, project, role, "who") if role else make_user("outsider")
    with pytest.raises(access.PermissionDenied):
        do_save_preference(user, pair[0], pair[1], "a")
    assert not Preference.objects.exists()


@pytest.mark.parametrize(
    "choice, reason, message",
    [
        ("A", "", "not one of a, b, tie"),
        ("", "", "not one of"),
        ("a", "x" * (MAX_REASON_CHARS + 1), "at most"),
        ("a", "nul \x00 here", "NUL"),
    ],
)
def test_bad_choices_and_reasons_are_refused(pair, make_user, project, choice: str, reason: str, message: str) -> None:
    user = member(make_user, project, Role.ANNOTATOR, "ann")
    with pytest.raises(PreferenceError, match=message):
        do_save_preference(user, pair[0], pair[1], choice, reason)
    assert not Preference.objects.exists()


def test_the_database_refuses_a_pair_out_of_order(pair: tuple[Trace, Trace]) -> None:
    """The model's check constraint backs the action's ordering."""
    low, high = sorted(pair, key=lambda t: t.pk)
    with pytest.raises(IntegrityError):
        Preference.objects.create(trace_a=high, trace_b=low, choice="a")
