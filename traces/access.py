"""Who may do what in a project (docs/concepts.md §1 roles), shared by the UI, the API and the actions.

owner: manage the project and its members; reviewer: adjudicate, import, export, start runs;
annotator: label; viewer: read. Non-members see nothing (views answer 404, never data).

**Gold labels.** A queue's gold items measure the people who label them against known labels,
those of the item's ``gold_source`` (``traces.models.queue``). A label source is a *gold source* of
a project while any queue of the project, open or closed, has gold items of it (a closed queue can
be reopened, and its gold accuracy stays on record); people's own labels (``human``) are never
gold. Reviewers and owners see everything. Annotators and viewers see nothing of a gold source,
on every trace of the project, not only on the gold items, so that no trace stands out by what is
missing from it: none of its step labels or trace annotations, no trace counted as labeled because
of it, no suggestion to accept from it, and no export file, evaluation, agreement or dashboard
figure computed from it. ``hidden_labels`` and ``hidden_sources`` are that rule, for label
querysets and for source names; every surface that shows labels reads one of them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from enum import Enum
from typing import TYPE_CHECKING

from django.db.models import Q

from traces.models import ROLE_RANK, Membership, Project, QueueItem, Role

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


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
    SEE_GOLD = "see gold labels", Role.REVIEWER
    CREATE_QUEUE = "create queues", Role.REVIEWER
    MANAGE = "manage", Role.OWNER

    @property
    def least_role(self) -> Role:
        return self.value[1]


class PermissionDenied(Exception):
    """The user is a member but their role does not allow the action."""


def can(project: Project, user: User | AnonymousUser | None, action: Action) -> bool:
    """Whether ``user`` may take ``action`` in ``project``."""
    role = project.role_of(user)
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[action.least_role]


def require(project: Project, user: User | AnonymousUser | None, action: Action) -> None:
    """Raise PermissionDenied unless ``user`` may take ``action`` in ``project``."""
    if not can(project, user, action):
        raise PermissionDenied(f"your role in '{project.slug}' does not allow {action.name.lower()}")


def gold_sources_hidden_from(user: User | AnonymousUser | None, project: Project | None = None) -> dict[int, frozenset[str]]:
    """By project id, the gold sources ``user`` may not see (module docstring), in ``project`` only
    when it is given: those of the queues of projects where the user's role is below SEE_GOLD's."""
    if user is None or not user.is_authenticated:
        return {}
    below = [role for role in Role if ROLE_RANK[role] < ROLE_RANK[Action.SEE_GOLD.least_role]]
    projects = Membership.objects.filter(user=user, role__in=below).values("project_id")
    items = QueueItem.objects.filter(queue__project_id__in=projects).exclude(gold_source="")
    if project is not None:
        items = items.filter(queue__project=project)
    hidden: dict[int, set[str]] = defaultdict(set)
    for project_id, source in items.order_by().values_list("queue__project_id", "gold_source").distinct():
        hidden[project_id].add(source)
    return {project_id: frozenset(sources) for project_id, sources in hidden.items()}


def hidden_sources(project: Project, user: User | AnonymousUser | None) -> frozenset[str]:
    """The label sources of ``project`` that ``user`` may not see (empty for reviewers and owners)."""
    return gold_sources_hidden_from(user, project).get(project.pk, frozenset())


def hidden_labels(user: User | AnonymousUser | None) -> Q:
    """Matches the labels and trace annotations ``user`` may not see, in every project (an empty
    ``Q``, which excludes nothing, when there are none); apply it with ``.exclude()``."""
    hidden = Q()
    for project_id, sources in sorted(gold_sources_hidden_from(user).items()):
        hidden |= Q(trace__project_id=project_id, source__in=sorted(sources))
    return hidden


def require_visible(project: Project, user: User | AnonymousUser | None, sources: Iterable[str]) -> None:
    """Raise PermissionDenied naming the first of ``sources`` that ``user`` may not see in ``project``."""
    hidden = hidden_sources(project, user)
    refused = next((source for source in sources if source in hidden), None)
    if refused is not None:
        raise PermissionDenied(
            f"'{refused}' holds the gold labels of a queue in '{project.slug}': only reviewers and owners see them"
        )
