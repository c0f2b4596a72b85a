"""Who may do what in a project (SPEC §1 roles), shared by the UI, the API and the actions.

owner: manage the project and its members; reviewer: adjudicate, import, start runs; annotator:
label; viewer: read. Non-members see nothing (views answer 404, never data).
"""

from __future__ import annotations

from enum import Enum

from traces.models import ROLE_RANK, Project, Role


class Action(Enum):
    """Actions and the least role allowed to take each."""

    READ = Role.VIEWER
    LABEL = Role.ANNOTATOR
    ADJUDICATE = Role.REVIEWER
    IMPORT = Role.REVIEWER
    GENERATE = Role.REVIEWER
    EXPORT = Role.VIEWER
    MANAGE = Role.OWNER


class PermissionDenied(Exception):
    """The user is a member but their role does not allow the action."""


def can(project: Project, user: object, action: Action) -> bool:
    """Whether ``user`` may take ``action`` in ``project``."""
    role = project.role_of(user)
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[action.value]


def require(project: Project, user: object, action: Action) -> None:
    """Raise PermissionDenied unless ``user`` may take ``action`` in ``project``."""
    if not can(project, user, action):
        raise PermissionDenied(f"your role in '{project.slug}' does not allow {action.name.lower()}")
