"""Fixtures of the browser-UI view tests: a factory of traces, a member's and an outsider's client."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from trace_factory import TraceSpec, build_trace

from traces.models import Membership, Project, Role, Trace


@pytest.fixture
def make_traces(project: Project) -> Callable[..., dict[str, Trace]]:
    """Build traces in ``project`` (or another one) from specs; returns them by key."""

    def make(specs: list[TraceSpec], in_project: Project | None = None) -> dict[str, Trace]:
        target = in_project or project
        return {spec.key: build_trace(target, spec, index) for index, spec in enumerate(specs)}

    return make


@pytest.fixture
def member_client(owner) -> Client:
    """A test client logged in as the project's owner."""
    client = Client()
    client.force_login(owner)
    return client


@pytest.fixture
def outsider_client(make_user) -> Client:
    """A logged-in user who is a member of another project only."""
    user = make_user("mallory")
    other = Project.objects.create(name="Other", slug="other")
    Membership.objects.create(project=other, user=user, role=Role.OWNER)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def member(make_user, project) -> Callable[[str, Role], tuple[object, Client]]:
    """``member(name, role)``: a user of that role in the project and a client logged in as them."""

    def make(name: str, role: Role = Role.ANNOTATOR) -> tuple[object, Client]:
        user = make_user(name)
        Membership.objects.create(project=project, user=user, role=role)
        client = Client()
        client.force_login(user)
        return user, client

    return make
