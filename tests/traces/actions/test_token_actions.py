"""API token actions, called directly: one token per person, rotated and revoked."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token

from traces.actions.tokens import do_issue_token, do_revoke_token

pytestmark = pytest.mark.django_db


def test_a_new_token_replaces_the_old_one_and_revoking_deletes_it(make_user) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    first = do_issue_token(alice)
    bobs = do_issue_token(bob)
    second = do_issue_token(alice)
    assert second.key != first.key and list(Token.objects.filter(user=alice)) == [second]
    assert do_revoke_token(alice) is True and not Token.objects.filter(user=alice).exists()
    assert do_revoke_token(alice) is False  # nothing left to revoke
    assert list(Token.objects.filter(user=bob)) == [bobs]  # another person's token is untouched
