"""Password-reset requests are rate-limited per email and per client address (traces/views/auth.py)."""

from __future__ import annotations

import pytest
from django.core.cache import caches
from django.test import Client
from django.urls import reverse

from traces.ratelimit import CACHE

pytestmark = pytest.mark.django_db

MESSAGE = b"Too many password reset requests for this email address. Try again in 60 minutes."


@pytest.fixture(autouse=True)
def fresh_counts(settings):
    settings.PASSWORD_RESET_LIMIT = 3
    settings.PASSWORD_RESET_WINDOW = 3600
    caches[CACHE].clear()
    yield
    caches[CACHE].clear()


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.com", "correct horse battery")


def request_reset(email: str, address: str = "10.0.0.1") -> object:
    return Client(REMOTE_ADDR=address).post(reverse("password_reset"), {"email": email})


def test_requests_for_one_email_are_limited_from_any_address(alice, mailoutbox) -> None:
    for n in range(3):
        assert request_reset("alice@example.com", address=f"10.0.0.{n}").status_code == 302
    refused = request_reset("ALICE@example.com ", address="10.0.0.9")  # the same mailbox, spelled otherwise
    assert refused.status_code == 429
    assert MESSAGE in refused.content
    assert len(mailoutbox) == 3, "a refused request sends no mail"


def test_requests_from_one_address_are_limited_for_any_email(alice, mailoutbox) -> None:
    for n in range(3):
        assert request_reset(f"nobody{n}@example.com").status_code == 302
    refused = request_reset("alice@example.com")
    assert refused.status_code == 429
    assert b"Too many password reset requests from this address. Try again in 60 minutes." in refused.content
    assert mailoutbox == []
    assert request_reset("alice@example.com", address="10.0.0.2").status_code == 302  # elsewhere: not limited
    assert len(mailoutbox) == 1
