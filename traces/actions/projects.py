"""Creating projects: who may (an operator setting), and the one path that writes a project.

``THINKSCOPE_PROJECT_CREATORS`` (``app/settings.py``) is ``staff`` by default: only staff create
projects from the API, and an operator creates everyone else's with ``manage.py create_project``.
``everyone`` lets any signed-in person create one. Whoever creates a project owns it.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from traces.models import Membership, Project, Role

#: The refusal a person gets when the setting does not let them create projects.
CREATION_REFUSED = (
    "Only staff may create projects on this server (THINKSCOPE_PROJECT_CREATORS=staff). "
    "Ask an operator to run: manage.py create_project SLUG --name NAME --owner USERNAME"
)


def may_create_projects(user: object) -> bool:
    """Whether ``user`` may create projects: staff always, any signed-in person under ``everyone``."""
    if not getattr(user, "is_authenticated", False):
        return False
    return settings.THINKSCOPE_PROJECT_CREATORS == "everyone" or bool(getattr(user, "is_staff", False))


def do_create_project(*, slug: str, name: str, owner: User | None, description: str = "") -> Project:
    """Create a project owned by ``owner``: the project and the membership commit together or not at all.
    ``owner`` None makes an operator's project with no members yet (``manage.py import_traces
    --create-project``; ``manage.py add_member`` gives it an owner).

    Raises Django's ``ValidationError`` by field for a bad or taken slug, a name too long and the like.
    """
    project = Project(slug=slug, name=name, description=description)
    project.full_clean()
    try:
        with transaction.atomic():
            project.save()
            if owner is not None:
                Membership.objects.create(project=project, user=owner, role=Role.OWNER)
    except IntegrityError:  # the slug was taken between the check and the write
        raise ValidationError({"slug": [f"A project with the slug '{slug}' exists already."]}) from None
    return project
