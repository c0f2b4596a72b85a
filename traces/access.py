"""Who may do what in a project (SPEC §1 roles), shared by the UI, the API and the actions.

owner: manage the project and its members; reviewer: adjudicate, import, export, start runs;
annotator: label; viewer: read. Non-members see nothing (views answer 404, never data).
"""

from __future__ import annotations

from enum import Enum

from traces.models import ROLE_RANK, Project, Role


class Action(Enum):
    """Actions and the least role allowed to take each.

    Each value is ``(name, least role)``: with the role alone, actions sharing a role would be
    aliases of one member (IMPORT would be ADJUDICATE, and its error would name the wrong action).
    """

    READ = "read", Role.VIEWER
    LABEL = "label", Role.ANNOTATOR
    ADJUDICATE = "adjudicate", Role.REVIEWER
    IMPORT = "import", Role.REVIEWER
    GENERATE = "generate", Role.REVIEWER
    EXPORT = "export", Role.REVIEWER
    CREATE_QUEUE = "create queues", Role.REVIEWER
    MANAGE = "manage", Role.OWNER

    @property
    def least_role(self) -> Role:
        return self.value[1]


class PermissionDenied(Exception):
    """The user is a member but their role does not allow the action."""


def can(project: Project, user: object, action: Action) -> bool:
    """Whether ``user`` may take ``action`` in ``project``."""
    role = project.role_of(user)
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[action.least_role]


def require(project: Project, user: object, action: Action) -> None:
    """Raise PermissionDenied unless ``user`` may take ``action`` in ``project``."""
    if not can(project, user, action):
        raise PermissionDenied(f"your role in '{project.slug}' does not allow {action.name.lower()}")
