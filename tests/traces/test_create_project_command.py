"""``manage.py create_project``: the operator's way to create a project with an owner."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from traces.management.commands.create_project import Command
from traces.models import Project, Role

pytestmark = pytest.mark.django_db


def test_creates_the_project_with_its_owner(make_user) -> None:
    alice = make_user("alice")
    out = StringIO()
    call_command("create_project", "team", "--name", "Team", "--owner", "alice", "--description", "Ours", stdout=out)
    project = Project.objects.get(slug="team")
    assert (project.name, project.description, project.role_of(alice)) == ("Team", "Ours", Role.OWNER)
    assert "Created project 'team' (Team) owned by alice." in out.getvalue()


def test_the_name_defaults_to_the_slug(make_user) -> None:
    make_user("alice")
    call_command("create_project", "team", "--owner", "alice", stdout=StringIO())
    assert Project.objects.get(slug="team").name == "team"


def test_an_unknown_owner_is_named_and_nothing_is_created() -> None:
    with pytest.raises(CommandError, match="No user 'nobody'"):
        call_command("create_project", "team", "--owner", "nobody")
    assert not Project.objects.exists()


def test_a_taken_or_bad_slug_is_named(make_user) -> None:
    make_user("alice")
    Project.objects.create(slug="team", name="Team")
    with pytest.raises(CommandError, match="slug: Project with this Slug already exists"):
        call_command("create_project", "team", "--owner", "alice")
    with pytest.raises(CommandError, match="slug: Enter a valid “slug”"):
        call_command("create_project", "no spaces", "--owner", "alice")


def test_help_says_what_it_does() -> None:
    text = Command().create_parser("manage.py", "create_project").format_help()
    assert "THINKSCOPE_PROJECT_CREATORS" in text and "--owner" in text
