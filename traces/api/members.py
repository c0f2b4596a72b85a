"""``/api/projects/<slug>/members/``: who is in a project, and the owners' changes to it.

* ``GET …/members/``: the members (owners first), each with user id, username, role and when they
  joined; ``email`` is given to owners only (null for everyone else).
* ``POST …/members/`` (owners): ``{"user": "<username or email>", "role": …}`` adds an existing
  account; ``{"username": …, "email": …, "role": …}`` creates an account for a new teammate and
  answers, once, ``set_password_url`` where they choose a password (nothing is emailed).
* ``GET``/``PATCH {"role": …}``/``DELETE …/members/<user id>/``: one member; owners write.
* ``GET …/members/changes/``: the record of changes, newest first (cursor-paginated).

Non-members get 404; members below owner 403 on every write. The rules (owners only, never above
owner, the last owner stays, every change recorded) are ``traces.actions.members``'.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from traces import access
from traces.actions.members import (
    MemberError,
    NewAccount,
    do_add_member,
    do_change_role,
    do_create_member_account,
    do_remove_member,
)
from traces.api.views import NewestFirstCursor, SignedInApiRequest
from traces.models import Membership, MembershipChange, Project, Role


class MemberSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(source="user.get_username", read_only=True)
    email = serializers.SerializerMethodField()
    joined = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Membership
        fields = ["user_id", "username", "email", "role", "joined"]
        read_only_fields = ["role"]

    @extend_schema_field(OpenApiTypes.EMAIL)
    def get_email(self, membership: Membership) -> str | None:
        """Owners see their members' emails; everyone else gets null."""
        return membership.user.email if self.context.get("show_emails") else None


class NewMemberSerializer(MemberSerializer):
    """A member whose account was just created, with the link where they set their password (shown once)."""

    set_password_url = serializers.CharField(read_only=True)
    set_password_expires_in_days = serializers.IntegerField(read_only=True)

    class Meta(MemberSerializer.Meta):
        fields = [*MemberSerializer.Meta.fields, "set_password_url", "set_password_expires_in_days"]


class AddMemberSerializer(serializers.Serializer):
    """Either ``user`` (an existing account) or ``username`` and ``email`` (a new account), and a role."""

    user = serializers.CharField(required=False, max_length=254, help_text="username or email of an existing account")
    username = serializers.CharField(required=False, max_length=150, help_text="a new account's username")
    email = serializers.EmailField(required=False, help_text="a new account's email")
    role = serializers.ChoiceField(choices=Role.choices)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        creating = "username" in data or "email" in data
        if creating == ("user" in data):
            raise ValidationError("give either 'user' (an existing account) or 'username' and 'email' (a new one)")
        if creating and not ("username" in data and "email" in data):
            missing = "email" if "username" in data else "username"
            raise ValidationError({missing: ["a new account needs both 'username' and 'email'"]})
        return data


class RoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class MembershipChangeSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_name", read_only=True, help_text="empty: an operator's manage.py")
    subject = serializers.CharField(source="subject_name", read_only=True)

    class Meta:
        model = MembershipChange
        fields = ["id", "actor", "subject", "subject_id", "old_role", "new_role", "account_created", "at"]
        read_only_fields = fields


class MemberViewSet(viewsets.GenericViewSet):
    """The members of the project in the URL (404 unless the caller is one of them)."""

    serializer_class = MemberSerializer
    lookup_field = "user_id"
    lookup_value_regex = "[0-9]+"
    filter_backends: list[Any] = []
    pagination_class = None
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    @cached_property
    def project(self) -> Project:
        return get_object_or_404(Project.objects.visible_to(self.request.user), slug=self.kwargs["slug"])

    def get_queryset(self) -> QuerySet[Membership]:
        return Membership.objects.filter(project=self.project).listed()

    def get_serializer_context(self) -> dict[str, Any]:
        show_emails = access.can(self.project, self.request.user, access.Action.MANAGE)
        return {**super().get_serializer_context(), "show_emails": show_emails}

    def require_owner(self) -> None:
        if not access.can(self.project, self.request.user, access.Action.MANAGE):
            raise PermissionDenied(f"only owners of '{self.project.slug}' manage its members")

    def answer(self, membership: Membership, code: int = status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(membership).data, status=code)

    def list(self, request: Request, slug: str) -> Response:
        """The project's members, owners first."""
        return Response(self.get_serializer(self.get_queryset(), many=True).data)

    def retrieve(self, request: Request, slug: str, user_id: str) -> Response:
        """One member of the project."""
        return self.answer(self.get_object())

    @extend_schema(request=AddMemberSerializer, responses={201: NewMemberSerializer})
    def create(self, request: SignedInApiRequest, slug: str) -> Response:
        """Add an existing account, or create a new teammate's account (its set-password link comes back once)."""
        self.require_owner()
        body = AddMemberSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        with refusals():
            if "user" in data:
                return self.answer(do_add_member(self.project, request.user, data["user"], data["role"]), 201)
            created = do_create_member_account(
                self.project, request.user, username=data["username"], email=data["email"], role=data["role"]
            )
        return Response(self.new_member(created), status=status.HTTP_201_CREATED)

    def new_member(self, created: NewAccount) -> dict[str, Any]:
        membership: Any = created.membership
        membership.set_password_url = self.request.build_absolute_uri(created.set_password_path)
        membership.set_password_expires_in_days = created.link_days
        return NewMemberSerializer(membership, context=self.get_serializer_context()).data

    @extend_schema(request=RoleSerializer, responses=MemberSerializer)
    def partial_update(self, request: SignedInApiRequest, slug: str, user_id: str) -> Response:
        """Change the member's role."""
        self.require_owner()
        membership = self.get_object()
        body = RoleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        with refusals():
            return self.answer(do_change_role(self.project, request.user, membership.user, body.validated_data["role"]))

    @extend_schema(responses={204: None})
    def destroy(self, request: SignedInApiRequest, slug: str, user_id: str) -> Response:
        """Remove the member (their labels stay)."""
        self.require_owner()
        membership = self.get_object()
        with refusals():
            do_remove_member(self.project, request.user, membership.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=MembershipChangeSerializer(many=True))
    @action(detail=False, methods=["get"], pagination_class=NewestFirstCursor)
    def changes(self, request: Request, slug: str) -> Response:
        """Who added, re-roled or removed whom, and when; newest first."""
        rows = MembershipChange.objects.filter(project=self.project).newest_first()
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(MembershipChangeSerializer(page, many=True).data)


@contextmanager
def refusals() -> Iterator[None]:
    """Turn an action's refusal into DRF's answer: MemberError → 400 on its field, PermissionDenied → 403."""
    try:
        yield
    except MemberError as refused:
        raise ValidationError({refused.field or "non_field_errors": [str(refused)]}) from None
    except access.PermissionDenied as denied:
        raise PermissionDenied(str(denied)) from None
