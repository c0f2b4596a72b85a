"""A project's members: add people, change their roles, remove them (docs/concepts.md §1 roles).

The rules hold wherever a change comes from (the Members page, the API, ``manage.py``):

* only owners manage members; ``actor=None`` is an operator at the command line, who may too;
* a role is one of the four of ``Role`` and nothing here touches an account's staff or superuser
  flags, so no owner can raise anyone, themselves included, above owner;
* a project always keeps an owner: its last owner can be neither demoted nor removed;
* every change writes one ``MembershipChange`` (who, whom, old role, new role, when) in the same
  transaction; the changes of one project are serialised by a row lock on the project.

**Accounts.** An owner adds an existing account by its username or email, or creates an account
for a new teammate from a username and an email. The new account has no usable password: the owner
is shown, once, a link where the teammate sets one (Django's password-reset token: it works for
``PASSWORD_RESET_TIMEOUT``, three days by default, and stops working once a password is set).
No mail server is configured by default, so thinkscope sends nothing; the owner passes the link on.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from traces import access
from traces.models import Membership, MembershipChange, Project, Role


class MemberError(ValueError):
    """A member change that cannot be made; ``field`` names the input at fault ("" for none)."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class NewAccount:
    """A teammate's new account, its membership, and the one-time link where they set a password."""

    membership: Membership
    set_password_path: str

    @property
    def link_days(self) -> int:
        """How many days the link works."""
        return settings.PASSWORD_RESET_TIMEOUT // (24 * 60 * 60)


# --- Checks ----------------------------------------------------------------------------------------


def require_manager(project: Project, actor: User | None) -> None:
    """``access.PermissionDenied`` unless ``actor`` owns ``project`` (None: an operator, always allowed)."""
    if actor is not None:
        access.require(project, actor, access.Action.MANAGE)


def parse_role(value: object) -> Role:
    """The role named ``value``; a MemberError listing the four otherwise."""
    if value not in Role.values:
        raise MemberError(f"{value!r} is not a role: choose {', '.join(Role.values)}", field="role")
    return Role(value)


def find_account(identifier: str) -> User:
    """The account whose username is ``identifier``, else whose email it is (any case)."""
    identifier = identifier.strip()
    users = get_user_model()._default_manager
    user = users.filter(username=identifier).first()
    if user is None and "@" in identifier:
        matches = list(users.filter(email__iexact=identifier)[:2])
        if len(matches) > 1:
            raise MemberError(f"several accounts have the email {identifier!r}: give the username", field="user")
        user = matches[0] if matches else None
    if user is None:
        raise MemberError(
            f"no account has the username or email {identifier!r}: create an account for them instead", field="user"
        )
    return user


def locked(project: Project) -> None:
    """Lock the project's row until the transaction ends: its member changes happen one at a time."""
    Project.objects.select_for_update().filter(pk=project.pk).only("id").first()


def membership_of(project: Project, user: User) -> Membership:
    membership = Membership.objects.filter(project=project, user=user).select_related("user").first()
    if membership is None:
        raise MemberError(f"{user.get_username()} is not a member of {project.name}", field="user")
    return membership


def keep_an_owner(project: Project, membership: Membership, new_role: Role | None) -> None:
    """MemberError when the change would leave ``project`` without an owner."""
    if membership.role != Role.OWNER or new_role == Role.OWNER:
        return
    if not Membership.objects.filter(project=project).owners().exclude(pk=membership.pk).exists():
        verb = "removed" if new_role is None else "demoted"
        raise MemberError(
            f"{membership.user.get_username()} is the last owner of {project.name} and cannot be {verb}: "
            "make another member an owner first",
            field="role" if new_role else "user",
        )


def record(
    project: Project,
    actor: User | None,
    subject: User,
    old_role: str,
    new_role: str,
    *,
    account_created: bool = False,
) -> MembershipChange:
    return MembershipChange.objects.create(
        project=project,
        actor=actor,
        actor_name=actor.get_username() if actor else "",
        subject=subject,
        subject_name=subject.get_username(),
        old_role=old_role,
        new_role=new_role,
        account_created=account_created,
    )


# --- Changes ---------------------------------------------------------------------------------------


@transaction.atomic
def do_add_member(project: Project, actor: User | None, identifier: str, role: str) -> Membership:
    """Add the existing account named by ``identifier`` (username or email) with ``role``."""
    require_manager(project, actor)
    new_role = parse_role(role)
    user = find_account(identifier)
    locked(project)
    current = Membership.objects.filter(project=project, user=user).first()
    if current is not None:
        raise MemberError(
            f"{user.get_username()} is already a member, as {current.get_role_display()}: change their role instead",
            field="user",
        )
    membership = Membership.objects.create(project=project, user=user, role=new_role)
    record(project, actor, user, "", new_role)
    return membership


@transaction.atomic
def do_create_member_account(
    project: Project, actor: User | None, *, username: str, email: str, role: str
) -> NewAccount:
    """Create an account for a new teammate, without a usable password, and add it with ``role``."""
    require_manager(project, actor)
    new_role = parse_role(role)
    user = new_account(username.strip(), email.strip())
    locked(project)
    membership = Membership.objects.create(project=project, user=user, role=new_role)
    record(project, actor, user, "", new_role, account_created=True)
    return NewAccount(membership, set_password_path(user))


def new_account(username: str, email: str) -> User:
    """A saved account with this username and email and no usable password; MemberError by field if
    either is invalid or taken (usernames in any case, so no look-alike of an existing one)."""
    users = get_user_model()._default_manager
    if not email:
        raise MemberError("give the teammate's email", field="email")
    if users.filter(username__iexact=username).exists():
        raise MemberError(f"the username {username!r} is taken", field="username")
    if users.filter(email__iexact=email).exists():
        raise MemberError("an account with this email exists already: add it by its email instead", field="email")
    user = get_user_model()(username=username, email=email)
    user.set_unusable_password()
    try:
        user.full_clean()
    except ValidationError as invalid:
        field, errors = next(iter(invalid.message_dict.items()))
        raise MemberError(" ".join(errors), field=field if field in ("username", "email") else "") from None
    user.save()
    return user


def set_password_path(user: User) -> str:
    """The path of the page where ``user`` sets a password (a one-time, expiring token)."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": default_token_generator.make_token(user)})


@transaction.atomic
def do_change_role(project: Project, actor: User | None, user: User, role: str) -> Membership:
    """Give the member ``user`` the role ``role`` (no change, and no record, when it is theirs already)."""
    require_manager(project, actor)
    new_role = parse_role(role)
    locked(project)
    membership = membership_of(project, user)
    old_role = membership.role
    if old_role == new_role:
        return membership
    keep_an_owner(project, membership, new_role)
    membership.role = new_role
    membership.save(update_fields=["role"])
    record(project, actor, user, old_role, new_role)
    return membership


@transaction.atomic
def do_remove_member(project: Project, actor: User | None, user: User) -> None:
    """Take ``user`` out of the project. Their labels stay, as the labels of a former member."""
    require_manager(project, actor)
    locked(project)
    membership = membership_of(project, user)
    keep_an_owner(project, membership, None)
    membership.delete()
    record(project, actor, user, membership.role, "")
