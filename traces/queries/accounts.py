"""What the signed-in person's account pages read."""

from __future__ import annotations

from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token


def api_token_of(user: User) -> Token | None:
    """The person's API token, None when they have none."""
    return Token.objects.filter(user=user).first()
