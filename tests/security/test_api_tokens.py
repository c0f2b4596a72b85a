"""API tokens are per person and revocable (issue 9 item 1): ``/api/auth/token/`` and ``manage.py api_token``."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/auth/token/"


def with_token(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_signed_in_person_issues_rotates_and_revokes_their_own_token(owner, make_user) -> None:
    other_key = Token.objects.create(user=make_user("bob")).key
    browser = APIClient()
    browser.force_login(owner)
    first = browser.post(TOKEN_URL).json()["token"]
    assert with_token(first).get("/api/projects/").status_code == 200

    second = with_token(first).post(TOKEN_URL).json()["token"]  # rotate with the current token
    assert second != first
    assert with_token(first).get("/api/projects/").status_code == 401
    assert with_token(second).get("/api/projects/").status_code == 200

    assert with_token(second).delete(TOKEN_URL).status_code == 204
    assert with_token(second).get("/api/projects/").status_code == 401
    assert with_token(other_key).get("/api/projects/").status_code == 200, "only the caller's own token goes"


def test_the_endpoint_needs_a_signed_in_person() -> None:
    assert APIClient().post(TOKEN_URL).status_code in (401, 403)
    assert APIClient().delete(TOKEN_URL).status_code in (401, 403)
    assert not Token.objects.exists()


def test_the_command_issues_and_revokes(owner) -> None:
    out = io.StringIO()
    call_command("api_token", "owner", stdout=out)
    key = out.getvalue().strip()
    assert Token.objects.get(user=owner).key == key
    call_command("api_token", "owner", "--revoke", stdout=io.StringIO())
    assert with_token(key).get("/api/projects/").status_code == 401
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        call_command("api_token", "nobody")


def test_a_person_creates_rotates_and_revokes_their_token_in_the_ui(make_user) -> None:
    user = make_user("pipeline-owner")
    client = Client()
    client.force_login(user)
    url = reverse("api-token")
    assert "You have no API token." in client.get(url).content.decode()

    first = client.post(url, {"action": "issue"}).content.decode()
    key = Token.objects.get(user=user).key
    assert key in first and "not shown again" in first
    assert key not in client.get(url).content.decode()  # shown once only

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/projects/").status_code == 200
    client.post(url, {"action": "issue"})
    assert api.get("/api/projects/").status_code == 401  # rotated: the old key stops at once
    client.post(url, {"action": "revoke"})
    assert not Token.objects.filter(user=user).exists()
    assert client.post(url, {"action": "nonsense"}).status_code == 400
