"""The login is rate-limited per username and client address (traces/views/auth.py)."""

from __future__ import annotations

import time

import pytest
from django.core.cache import caches
from django.test import Client
from django.urls import reverse

from traces.ratelimit import CACHE

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def fresh_counts(settings):
    settings.LOGIN_FAILURE_LIMIT = 5
    caches[CACHE].clear()
    yield
    caches[CACHE].clear()


def attempt(password: str, username: str = "alice", address: str = "10.0.0.1") -> object:
    return Client(REMOTE_ADDR=address).post(reverse("login"), {"username": username, "password": password})


def test_five_failures_lock_the_username_from_that_address(make_user) -> None:
    make_user("alice", PASSWORD)
    for _ in range(5):
        assert attempt("wrong").status_code == 200  # the form again, with its error
    locked = attempt(PASSWORD)  # even the right password: a lock must not confirm a guess
    assert locked.status_code == 429
    assert b"Too many failed logins for this username. Try again in 15 minutes." in locked.content
    assert "_auth_user_id" not in locked.wsgi_request.session


def test_the_lock_is_per_username_and_address(make_user) -> None:
    make_user("alice", PASSWORD)
    make_user("bob", PASSWORD)
    for _ in range(5):
        attempt("wrong")
    assert attempt(PASSWORD, address="10.0.0.2").status_code == 302  # alice from elsewhere
    assert attempt(PASSWORD, username="bob").status_code == 302  # bob from the same address
    assert attempt(PASSWORD, username="ALICE ").status_code == 429  # the same username, spelled otherwise


def test_a_success_clears_the_count(make_user) -> None:
    make_user("alice", PASSWORD)
    for _ in range(4):
        attempt("wrong")
    assert attempt(PASSWORD).status_code == 302
    for _ in range(4):
        assert attempt("wrong").status_code == 200
    assert attempt(PASSWORD).status_code == 302


def test_the_window_ends(make_user, settings, monkeypatch) -> None:
    make_user("alice", PASSWORD)
    settings.LOGIN_FAILURE_WINDOW = 600
    for _ in range(5):
        attempt("wrong")
    assert attempt(PASSWORD).status_code == 429
    later = time.time() + 601  # the window ends (the clock moved, not the test: no sleep, no race)
    monkeypatch.setattr("traces.ratelimit.time.time", lambda: later)
    assert attempt(PASSWORD).status_code == 302


def test_the_admin_signs_in_through_the_limited_login() -> None:
    response = Client().get("/admin/login/?next=/admin/")
    assert response.status_code == 302 and response["Location"] == reverse("login") + "?next=/admin/"


def test_the_lock_holds_for_every_spelling_that_signs_in_to_it(make_user) -> None:
    """Django's login form reads the username NFKC-normalised: full-width 'ａnnotator2' signs in as 'annotator2'."""
    make_user("annotator2", PASSWORD)
    for _ in range(5):
        attempt("wrong", username="annotator2")
    locked = attempt(PASSWORD, username="\uff41nnotator2")
    assert locked.status_code == 429
    assert "_auth_user_id" not in locked.wsgi_request.session
