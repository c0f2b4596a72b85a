"""Creating a project over the API: who may (``THINKSCOPE_PROJECT_CREATORS``) and the owner it gets."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from traces.models import Membership, Project, Role

pytestmark = pytest.mark.django_db


def create(client: APIClient, slug: str = "mine") -> object:
    return client.post("/api/projects/", {"name": "Mine", "slug": slug}, format="json")


def test_a_signed_in_user_may_not_create_a_project_by_default(client_for) -> None:
    response = create(client_for(None, None, "plain"))
    assert response.status_code == 403
    assert "THINKSCOPE_PROJECT_CREATORS" in response.json()["detail"]
    assert not Project.objects.filter(slug="mine").exists()


def test_the_refusal_does_not_tell_whether_a_slug_is_taken(client_for, alpha) -> None:
    assert create(client_for(None, None, "plain"), slug=alpha.slug).status_code == 403


def test_staff_create_a_project_and_own_it(client_for) -> None:
    client = client_for(None, None, "operator")
    client.user.is_staff = True
    client.user.save()
    response = create(client)
    assert response.status_code == 201 and response.json()["role"] == "owner"
    assert Membership.objects.get(project__slug="mine").user == client.user


def test_the_operator_may_let_everyone_create_projects(client_for, settings) -> None:
    settings.THINKSCOPE_PROJECT_CREATORS = "everyone"
    client = client_for(None, None, "plain")
    response = create(client)
    assert response.status_code == 201
    assert Membership.objects.get(project__slug="mine", user=client.user).role == Role.OWNER
