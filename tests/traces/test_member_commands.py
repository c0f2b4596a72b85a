"""``manage.py add_member`` and ``remove_member``, and Django's admin for a staff user's accounts."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.management import CommandError, call_command
from django.test import Client

from traces.models import MembershipChange, Role

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_add_member_adds_changes_and_leaves_alone(project, owner, make_user) -> None:
    alice = make_user("alice")
    alice.email = "alice@example.org"
    alice.save()
    added = run("add_member", "test", "alice@example.org", "--role", "annotator")
    assert "Added alice to 'test' as annotator." in added
    changed = run("add_member", "test", "alice", "--role", "reviewer")
    assert "alice is now reviewer in 'test' (was annotator)." in changed
    assert "nothing changed" in run("add_member", "test", "alice", "--role", "reviewer")
    assert project.role_of(alice) == Role.REVIEWER
    rows = MembershipChange.objects.filter(project=project).order_by("id")
    assert [(c.actor, c.actor_name, c.old_role, c.new_role) for c in rows] == [
        (None, "", "", "annotator"),
        (None, "", "annotator", "reviewer"),
    ]


def test_add_member_creates_an_account_and_prints_its_set_password_path(project, owner) -> None:
    out = run("add_member", "test", "bob", "--role", "viewer", "--create", "--email", "bob@example.org")
    bob = get_user_model().objects.get(username="bob")
    path = out.strip().splitlines()[-1]
    assert "Created account 'bob'" in out and "no mail is sent" in out
    assert path.startswith("/accounts/reset/")
    assert default_token_generator.check_token(bob, path.strip("/").split("/")[-1])
    assert not bob.has_usable_password() and project.role_of(bob) == Role.VIEWER
    assert MembershipChange.objects.get(subject=bob).account_created


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "owner", "--role", "viewer"], "No project 'nope' (projects: test)."),
        (["test", "ghost", "--role", "viewer"], "no account has the username or email 'ghost'"),
        (["test", "owner", "--role", "viewer"], "owner is the last owner of Test project and cannot be demoted"),
        (["test", "carol", "--role", "viewer", "--create"], "--create needs --email"),
        (["test", "carol", "--role", "viewer", "--email", "c@example.org"], "--email is for a new account"),
        (["test", "owner", "--role", "viewer", "--create", "--email", "o@x.org"], "the username 'owner' is taken"),
    ],
)
def test_add_member_says_what_is_wrong(project, owner, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("add_member", *args)


def test_a_role_outside_the_four_is_refused_by_the_parser(project, owner) -> None:
    with pytest.raises(CommandError, match="invalid choice: 'superuser'"):
        call_command("add_member", "test", "owner", "--role", "superuser")


def test_remove_member(project, owner, make_user) -> None:
    alice = make_user("alice")
    run("add_member", "test", "alice", "--role", "owner")
    assert "Removed owner from 'test'." in run("remove_member", "test", "owner")
    with pytest.raises(CommandError, match="alice is the last owner of Test project and cannot be removed"):
        call_command("remove_member", "test", "alice")
    with pytest.raises(CommandError, match="owner is not a member of Test project"):
        call_command("remove_member", "test", "owner")
    assert project.role_of(alice) == Role.OWNER and get_user_model().objects.filter(username="owner").exists()


def test_the_help_says_how(capsys) -> None:
    for command in ("add_member", "remove_member"):
        with pytest.raises(SystemExit):
            call_command(command, "--help")
    text = " ".join(capsys.readouterr().out.split())
    assert "--role {owner,reviewer,annotator,viewer}" in text and "no mail is sent" in text
    assert "a project's last owner cannot be removed" in text


SECRET = "a long secret 99x"


def test_a_staff_user_manages_accounts_in_the_admin(make_user, django_user_model) -> None:
    admin = django_user_model.objects.create_superuser("root", "root@example.org", "a long admin secret")
    client = Client()
    client.force_login(admin)
    assert client.get("/admin/auth/user/").status_code == 200
    added = client.post(
        "/admin/auth/user/add/",
        {"username": "dana", "password1": SECRET, "password2": SECRET, "usable_password": "true"},
    )
    assert added.status_code == 302 and django_user_model.objects.get(username="dana").check_password(SECRET)
    someone = Client()
    someone.force_login(make_user("not-staff"))
    assert someone.get("/admin/auth/user/").status_code == 302  # to the login page: staff only
