"""``manage.py create_project SLUG --owner USER [--name NAME] [--description TEXT]``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from traces.actions.projects import do_create_project


class Command(BaseCommand):
    help = (
        "Create a project owned by an existing user. This is how an operator creates projects for people "
        "who may not create them themselves (THINKSCOPE_PROJECT_CREATORS=staff, the default). "
        "The owner then adds members and models from the API."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="the project's slug, used in URLs: letters, digits, '-' and '_'")
        parser.add_argument("--owner", required=True, help="username of the person who will own the project")
        parser.add_argument("--name", default="", help="display name (default: the slug)")
        parser.add_argument("--description", default="", help="what the project holds (optional)")

    def handle(self, *args: Any, slug: str, owner: str, name: str, description: str, **options: Any) -> None:
        user = _user(owner)
        try:
            project = do_create_project(slug=slug, name=name or slug, description=description, owner=user)
        except ValidationError as invalid:
            reasons = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in invalid.message_dict.items())
            raise CommandError(f"Project '{slug}' not created: {reasons}") from None
        self.stdout.write(self.style.SUCCESS(f"Created project '{project.slug}' ({project.name}) owned by {owner}."))


def _user(username: str) -> User:
    """The user called ``username``; else a CommandError saying how to create one."""
    user_model = get_user_model()
    try:
        return user_model._default_manager.get_by_natural_key(username)
    except user_model.DoesNotExist:
        raise CommandError(
            f"No user '{username}': create them first (manage.py createsuperuser, or the admin)."
        ) from None
