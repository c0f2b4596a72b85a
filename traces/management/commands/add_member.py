"""``manage.py add_member PROJECT USER --role ROLE [--create --email EMAIL]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from traces.actions.members import MemberError, do_add_member, do_change_role, do_create_member_account, find_account
from traces.models import Membership, Project, Role


class Command(BaseCommand):
    help = (
        "Add an account to a project with a role, or change the role of someone who is a member already. "
        "USER is the account's username or email. With --create, a new account called USER is made "
        "(its email is required) without a usable password, and the command prints the link where its "
        "owner sets one: no mail is sent. The change is recorded on the project's Members page as made "
        "by an operator (manage.py). Owners do the same on the Members page and the API; see README, Team."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", help="the project's slug")
        parser.add_argument("user", help="username or email of the account (with --create: the new username)")
        parser.add_argument(
            "--role", required=True, choices=Role.values, help="owner, reviewer, annotator or viewer (see README, Team)"
        )
        parser.add_argument("--create", action="store_true", help="create the account: it does not exist yet")
        parser.add_argument("--email", default="", help="the new account's email (required with --create)")

    def handle(self, *args: Any, project: str, user: str, role: str, create: bool, email: str, **options: Any) -> None:
        target = project_named(project)
        if email and not create:
            raise CommandError("--email is for a new account: add --create, or name an existing account by its email")
        try:
            if create:
                self.create(target, user, email, role)
            else:
                self.add_or_change(target, user, role)
        except MemberError as refused:
            raise CommandError(str(refused)) from None

    def create(self, project: Project, username: str, email: str, role: str) -> None:
        if not email:
            raise CommandError("--create needs --email: the new teammate's email")
        created = do_create_member_account(project, None, username=username, email=email, role=role)
        self.stdout.write(
            self.style.SUCCESS(f"Created account '{username}' and added it to '{project.slug}' as {role}.")
        )
        self.stdout.write(
            f"They set their password at this path of your server (works once, for {created.link_days} days; "
            f"no mail is sent):\n{created.set_password_path}"
        )

    def add_or_change(self, project: Project, identifier: str, role: str) -> None:
        account = find_account(identifier)
        current = Membership.objects.filter(project=project, user=account).first()
        name = account.get_username()
        if current is None:
            do_add_member(project, None, identifier, role)
            self.stdout.write(self.style.SUCCESS(f"Added {name} to '{project.slug}' as {role}."))
        elif current.role == role:
            self.stdout.write(f"{name} is already a member of '{project.slug}' as {role}; nothing changed.")
        else:
            do_change_role(project, None, account, role)
            self.stdout.write(self.style.SUCCESS(f"{name} is now {role} in '{project.slug}' (was {current.role})."))


def project_named(slug: str) -> Project:
    """The project with this slug; else a CommandError listing the projects there are."""
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        known = ", ".join(Project.objects.order_by("slug").values_list("slug", flat=True)) or "none yet"
        raise CommandError(f"No project '{slug}' (projects: {known}).")
    return project
