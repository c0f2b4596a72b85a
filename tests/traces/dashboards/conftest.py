"""Fixtures of the dashboard tests: a member's client and the seeded demo-like data."""

from __future__ import annotations

import pytest
from dashboard_seed import Record, seed_models
from django.test import Client

from traces.models import Project


@pytest.fixture
def member_client(owner) -> Client:
    client = Client()
    client.force_login(owner)
    return client


@pytest.fixture
def records(project: Project) -> list[Record]:
    return seed_models(project)
