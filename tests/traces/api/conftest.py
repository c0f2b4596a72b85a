"""API fixtures: two projects with traces, members of every role, token-authenticated clients."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from traces.actions.store import store_traces
from traces.formats.base import ParsedStep, ParsedTrace
from traces.models import Membership, Project, Role, Run, RunKind


def parsed(i: int, text: str = "", correct_answer: str = "4") -> ParsedTrace:
    return ParsedTrace(
        line_no=i,
        prompt=f"Problem {i}: what is 2+2?",
        reference_answer=correct_answer,
        text=text,
        model_name="model-a" if i % 2 else "model-b",
        steps=[ParsedStep(text=f"step one of {i}"), ParsedStep(text="So the answer is 4.", label=1)],
        label_source="import:test",
        finish_reason="stop",
    )


def seed_project(slug: str, count: int) -> Project:
    project = Project.objects.create(name=slug.title(), slug=slug)
    run = Run.objects.create(project=project, kind=RunKind.IMPORT, name=f"{slug}.jsonl")
    store_traces(project, run, [parsed(i) for i in range(count)])
    return project


@pytest.fixture
def alpha(db) -> Project:
    return seed_project("alpha", 7)


@pytest.fixture
def beta(db) -> Project:
    return seed_project("beta", 3)


@pytest.fixture
def client_for(make_user):
    """An APIClient authenticated by token as a new user holding ``role`` in ``project``."""

    def make(project: Project | None, role: Role | None, username: str | None = None) -> APIClient:
        user = make_user(username or f"{role or 'nobody'}-{project.slug if project else 'x'}")
        if project is not None and role is not None:
            Membership.objects.create(project=project, user=user, role=role)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        client.user = user
        return client

    return make
