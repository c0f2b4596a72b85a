"""``manage.py remove_member PROJECT USER``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from traces.actions.members import MemberError, do_remove_member, find_account
from traces.management.commands.add_member import project_named


class Command(BaseCommand):
    help = (
        "Take an account out of a project. USER is its username or email. The account itself stays, "
        "and so do its labels; a project's last owner cannot be removed (make another member owner "
        "first: manage.py add_member PROJECT OTHER --role owner). The change is recorded on the "
        "project's Members page as made by an operator (manage.py)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", help="the project's slug")
        parser.add_argument("user", help="username or email of the member")

    def handle(self, *args: Any, project: str, user: str, **options: Any) -> None:
        target = project_named(project)
        try:
            account = find_account(user)
            do_remove_member(target, None, account)
        except MemberError as refused:
            raise CommandError(str(refused)) from None
        self.stdout.write(self.style.SUCCESS(f"Removed {account.get_username()} from '{target.slug}'."))
