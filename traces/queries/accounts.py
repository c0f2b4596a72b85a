"""What the signed-in person's account pages read."""

from __future__ import annotations

from rest_framework.authtoken.models import Token


def api_token_of(user: object) -> Token | None:
    """The person's API token, None when they have none."""
    return Token.objects.filter(user=user).first()
