"""API tokens: one per person, issued, rotated and revoked here.

DRF's authtoken keeps one ``Token`` row per user; authentication fails as soon as the row is gone,
so revoking is deleting it and rotating is deleting it and creating a new one.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from rest_framework.authtoken.models import Token


@transaction.atomic
def do_issue_token(user: User) -> Token:
    """A new token for ``user``; the old one, if any, stops working at once."""
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)


@transaction.atomic
def do_revoke_token(user: User) -> bool:
    """Delete ``user``'s token; whether there was one."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return deleted > 0
