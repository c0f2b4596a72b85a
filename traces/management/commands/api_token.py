"""``manage.py api_token USER [--revoke]``: issue (or rotate) a person's API token, or revoke it."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from traces.actions.tokens import do_issue_token, do_revoke_token


class Command(BaseCommand):
    help = "Print a new API token for USER (the old one stops working), or revoke it with --revoke."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--revoke", action="store_true", help="delete the token: API calls with it get 401")

    def handle(self, *args: Any, username: str, revoke: bool, **options: Any) -> None:
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user named {username!r}") from None
        if revoke:
            had = do_revoke_token(user)
            self.stdout.write(f"revoked the token of {username}" if had else f"{username} had no token")
        else:
            self.stdout.write(do_issue_token(user).key)
