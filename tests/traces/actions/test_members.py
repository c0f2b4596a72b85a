"""Member actions called directly: every rule, and the record each change leaves."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.test import Client

from traces import access
from traces.actions.members import (
    MemberError,
    do_add_member,
    do_change_role,
    do_create_member_account,
    do_remove_member,
    find_account,
)
from traces.models import Membership, MembershipChange, Project, Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", email="Alice@Example.org")


def changes(project: Project) -> list[tuple[str, str, str, str]]:
    """The project's record, oldest first, as (actor, subject, old role, new role)."""
    rows = MembershipChange.objects.filter(project=project).order_by("at", "id")
    return list(rows.values_list("actor_name", "subject_name", "old_role", "new_role"))


def test_an_owner_adds_an_account_by_username_or_email_and_it_is_recorded(project, owner, alice) -> None:
    membership = do_add_member(project, owner, "alice", "annotator")
    assert (membership.user, membership.role) == (alice, Role.ANNOTATOR)
    do_remove_member(project, owner, alice)
    do_add_member(project, owner, " alice@example.ORG ", "reviewer")
    assert project.role_of(alice) == Role.REVIEWER
    assert changes(project) == [
        ("owner", "alice", "", "annotator"),
        ("owner", "alice", "annotator", ""),
        ("owner", "alice", "", "reviewer"),
    ]
    change = MembershipChange.objects.filter(project=project).first()
    assert (change.actor, change.subject, change.account_created) == (owner, alice, False)


def test_adding_names_the_field_at_fault(project, owner, alice, django_user_model) -> None:
    with pytest.raises(MemberError, match="no account has the username or email 'nobody'") as missing:
        do_add_member(project, owner, "nobody", "viewer")
    assert missing.value.field == "user"
    with pytest.raises(MemberError, match="is not a role") as bad_role:
        do_add_member(project, owner, "alice", "admin")
    assert bad_role.value.field == "role"
    do_add_member(project, owner, "alice", "viewer")
    with pytest.raises(MemberError, match="alice is already a member, as Viewer"):
        do_add_member(project, owner, "alice", "owner")
    django_user_model.objects.create_user("alice2", email="alice@example.org")
    with pytest.raises(MemberError, match="several accounts have the email"):
        do_add_member(project, owner, "alice@example.org", "viewer")
    assert len(changes(project)) == 1


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ANNOTATOR, Role.REVIEWER])
def test_only_owners_manage_members(project, alice, make_user, role: Role) -> None:
    member = make_user(f"the-{role}")
    Membership.objects.create(project=project, user=member, role=role)
    Membership.objects.create(project=project, user=alice, role=Role.VIEWER)
    refused = pytest.raises(access.PermissionDenied, match="does not allow manage")
    with refused:
        do_add_member(project, member, "owner-to-be", "owner")
    with refused:
        do_create_member_account(project, member, username="new", email="new@example.org", role="viewer")
    with refused:
        do_change_role(project, member, alice, "owner")
    with refused:
        do_change_role(project, member, member, "owner")  # not themselves either
    with refused:
        do_remove_member(project, member, alice)
    assert project.role_of(member) == role and changes(project) == []


def test_a_non_member_manages_nothing(project, owner, alice) -> None:
    with pytest.raises(access.PermissionDenied):
        do_add_member(project, alice, "alice", "owner")
    assert project.role_of(alice) is None


def test_the_last_owner_is_never_demoted_or_removed(project, owner, alice) -> None:
    with pytest.raises(MemberError, match="owner is the last owner of Test project and cannot be demoted") as demoted:
        do_change_role(project, owner, owner, "reviewer")
    assert demoted.value.field == "role"
    with pytest.raises(MemberError, match="cannot be removed: make another member an owner first"):
        do_remove_member(project, owner, owner)
    with pytest.raises(MemberError, match="cannot be removed"):
        do_remove_member(project, None, owner)  # not by an operator either
    assert project.role_of(owner) == Role.OWNER and changes(project) == []

    do_add_member(project, owner, "alice", "owner")
    do_change_role(project, alice, owner, "viewer")  # two owners: one may step down
    with pytest.raises(MemberError, match="alice is the last owner"):
        do_remove_member(project, alice, alice)
    assert changes(project) == [("owner", "alice", "", "owner"), ("alice", "owner", "owner", "viewer")]


def test_an_owner_may_leave_when_another_owner_stays(project, owner, alice) -> None:
    do_add_member(project, owner, "alice", "owner")
    do_remove_member(project, owner, owner)
    assert project.role_of(owner) is None and project.role_of(alice) == Role.OWNER


def test_changing_a_role_records_old_and_new_and_the_same_role_records_nothing(project, owner, alice) -> None:
    do_add_member(project, owner, "alice", "viewer")
    do_change_role(project, owner, alice, "annotator")
    do_change_role(project, owner, alice, "annotator")
    do_change_role(project, None, alice, "owner")  # an operator: no actor
    assert changes(project)[1:] == [("owner", "alice", "viewer", "annotator"), ("", "alice", "annotator", "owner")]
    assert MembershipChange.objects.filter(project=project).newest_first().first().actor is None


def test_changing_or_removing_someone_who_is_not_a_member_is_refused(project, owner, alice) -> None:
    with pytest.raises(MemberError, match="alice is not a member of Test project"):
        do_change_role(project, owner, alice, "viewer")
    with pytest.raises(MemberError, match="alice is not a member"):
        do_remove_member(project, owner, alice)


def test_no_role_above_owner_and_no_staff_flag(project, owner, alice) -> None:
    for role in ("superuser", "staff", "admin", "", None):
        with pytest.raises(MemberError, match="is not a role"):
            do_add_member(project, owner, "alice", role)
    do_add_member(project, owner, "alice", "owner")
    alice.refresh_from_db()
    assert not alice.is_staff and not alice.is_superuser


def test_a_new_teammates_account_has_no_password_and_a_one_time_link(project, owner) -> None:
    created = do_create_member_account(project, owner, username="bob", email="bob@example.org", role="annotator")
    bob = get_user_model().objects.get(username="bob")
    assert (created.membership.user, created.membership.role) == (bob, Role.ANNOTATOR)
    assert bob.email == "bob@example.org" and not bob.has_usable_password() and not bob.is_staff
    assert created.link_days == 3
    change = MembershipChange.objects.get(project=project)
    assert (change.subject, change.new_role, change.account_created) == (bob, "annotator", True)

    token = created.set_password_path.rstrip("/").rsplit("/", 1)[-1]
    assert default_token_generator.check_token(bob, token)
    client = Client()
    form = client.get(created.set_password_path, follow=True)
    assert form.status_code == 200 and b"new_password1" in form.content and b"Choose a password" in form.content
    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": "a long new secret 42", "new_password2": "a long new secret 42"}
    )
    assert done.status_code == 302
    bob.refresh_from_db()
    assert bob.check_password("a long new secret 42")
    assert not default_token_generator.check_token(bob, token)  # the link works once
    used = Client().get(created.set_password_path, follow=True)
    assert used.context["validlink"] is False and b"has been used already or has expired" in used.content


@pytest.mark.parametrize(
    ("username", "email", "field", "message"),
    [
        ("ALICE", "new@example.org", "username", "the username 'ALICE' is taken"),
        ("newbie", "alice@example.org", "email", "an account with this email exists already"),
        ("bad name!", "new@example.org", "username", "Enter a valid username"),
        ("newbie", "not-an-email", "email", "Enter a valid email address"),
        ("newbie", "", "email", "give the teammate's email"),
        ("", "new@example.org", "username", "This field cannot be blank"),
    ],
)
def test_a_new_account_names_what_is_wrong_and_writes_nothing(
    project, owner, alice, username: str, email: str, field: str, message: str
) -> None:
    users = get_user_model().objects.count()
    with pytest.raises(MemberError, match=message) as refused:
        do_create_member_account(project, owner, username=username, email=email, role="viewer")
    assert refused.value.field == field
    assert get_user_model().objects.count() == users and changes(project) == []


def test_find_account_prefers_the_username(alice, django_user_model) -> None:
    named_like_an_email = django_user_model.objects.create_user("alice@example.org")
    assert find_account("alice@example.org") == named_like_an_email
    assert find_account("ALICE@example.org") == alice


def test_members_are_listed_owners_first_then_by_username(project, owner, make_user) -> None:
    for name, role in (("zoe", Role.OWNER), ("amy", Role.VIEWER), ("bea", Role.REVIEWER), ("cat", Role.ANNOTATOR)):
        Membership.objects.create(project=project, user=make_user(name), role=role)
    listed = Membership.objects.filter(project=project).listed()
    assert [m.user.username for m in listed] == ["owner", "zoe", "bea", "cat", "amy"]
