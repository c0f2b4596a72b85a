"""Projects and memberships (docs/concepts.md §1 Project): a team's workspace, who may do what in it, and the
record of every change of who is in it (``MembershipChange``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import Case, IntegerField, Value, When

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


class Role(models.TextChoices):
    """A member's role, from most to least powerful."""

    OWNER = "owner", "Owner"
    REVIEWER = "reviewer", "Reviewer"
    ANNOTATOR = "annotator", "Annotator"
    VIEWER = "viewer", "Viewer"


ROLE_RANK = {Role.OWNER: 4, Role.REVIEWER: 3, Role.ANNOTATOR: 2, Role.VIEWER: 1}


class ProjectQuerySet(models.QuerySet["Project"]):
    def visible_to(self, user: User | AnonymousUser | None) -> ProjectQuerySet:
        """Projects the user is a member of; nobody sees a project they are not a member of."""
        if user is None or not user.is_authenticated:
            return self.none()
        return self.filter(memberships__user=user)


class Project(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def role_of(self, user: User | AnonymousUser | None) -> Role | None:
        """The user's role in this project, or None for a non-member."""
        if user is None or not user.is_authenticated:
            return None
        membership = self.memberships.filter(user=user).first()
        return Role(membership.role) if membership else None


class MembershipQuerySet(models.QuerySet["Membership"]):
    def listed(self) -> MembershipQuerySet:
        """Members as a page lists them: owners first, down to viewers, then by username; users joined."""
        rank = Case(*(When(role=role, then=Value(-ROLE_RANK[role])) for role in Role), output_field=IntegerField())
        return self.select_related("user").order_by(rank, "user__username")

    def owners(self) -> MembershipQuerySet:
        return self.filter(role=Role.OWNER)


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} as {self.role}"

    def can(self, minimum: Role) -> bool:
        """Whether this member's role is at least ``minimum``."""
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[minimum]


class MembershipChangeQuerySet(models.QuerySet["MembershipChange"]):
    def newest_first(self) -> MembershipChangeQuerySet:
        return self.select_related("actor", "subject").order_by("-at", "-id")


class MembershipChange(models.Model):
    """One change of who is in a project: a member added (``old_role`` empty), their role changed, or
    removed (``new_role`` empty). ``actor`` is who did it; none means an operator's ``manage.py``.
    The usernames are kept as they were, so the record still reads once an account is deleted."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="membership_changes")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True, default="")
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    subject_name = models.CharField(max_length=150)
    old_role = models.CharField(max_length=16, choices=Role.choices, blank=True, default="")
    new_role = models.CharField(max_length=16, choices=Role.choices, blank=True, default="")
    account_created = models.BooleanField(default=False, help_text="The actor created the subject's account")
    at = models.DateTimeField(auto_now_add=True)

    objects = MembershipChangeQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["project", "-at"], name="membership_change_recent_idx")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(old_role="", new_role="") & ~models.Q(old_role=models.F("new_role")),
                name="membership_change_changes",
            )
        ]

    def __str__(self) -> str:
        return f"{self.subject_name} in {self.project_id}: {self.old_role or '-'} -> {self.new_role or '-'}"

    @property
    def kind(self) -> str:
        """``added``, ``removed`` or ``changed`` (the role)."""
        if not self.old_role:
            return "added"
        return "removed" if not self.new_role else "changed"
