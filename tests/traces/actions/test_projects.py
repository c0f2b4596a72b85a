"""``do_create_project``: the project and its owner's membership are written together or not at all."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from traces.actions.projects import do_create_project
from traces.models import Membership, Project, Role

pytestmark = pytest.mark.django_db


def test_the_project_gets_its_owner(make_user) -> None:
    owner = make_user("alice")
    project = do_create_project(slug="team", name="Team", owner=owner, description="Our traces")
    assert (project.name, project.description) == ("Team", "Our traces")
    assert Membership.objects.get(project=project).user == owner
    assert project.role_of(owner) == Role.OWNER


def test_a_failed_membership_leaves_no_project(django_user_model) -> None:
    ghost = django_user_model(username="ghost")  # never saved: its membership cannot be written
    with pytest.raises(ValueError):
        do_create_project(slug="orphan", name="Orphan", owner=ghost)
    assert not Project.objects.filter(slug="orphan").exists()


@pytest.mark.parametrize(("slug", "field"), [("not a slug", "slug"), ("taken", "slug"), ("x" * 101, "slug")])
def test_a_bad_or_taken_slug_is_named(make_user, slug: str, field: str) -> None:
    Project.objects.create(slug="taken", name="Taken")
    with pytest.raises(ValidationError) as refused:
        do_create_project(slug=slug, name="N", owner=make_user("alice"))
    assert field in refused.value.message_dict
    assert Project.objects.count() == 1


def test_an_operator_project_may_start_without_an_owner() -> None:
    """``import_traces --create-project``: the operator adds its owner afterwards."""
    project = do_create_project(slug="imported", name="imported", owner=None)
    assert Project.objects.get(slug="imported") == project
    assert not Membership.objects.filter(project=project).exists()
