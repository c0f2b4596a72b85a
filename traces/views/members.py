"""A project's Members page: who is in it with which role, and the record of every change.

* ``/p/<slug>/members/``: every member reads the list and the record (paginated; an htmx request
  for another page of it gets the record alone). Owners see the members' emails and, POSTing here,
  add an existing account by username or email.
* ``…/members/new/``: owners create an account for a new teammate; the answer shows, once, the
  link where the teammate sets a password (nothing is emailed).
* ``…/members/<user id>/role/``: owners change a role; from the page's select (htmx) the answer is
  the member's row, saved or with the reason it was refused, and the record, updated out of band.
* ``…/members/<user id>/remove/``: owners remove a member (the page asks first).

Non-members get 404, members below owner 403 on every change (``traces.actions.members`` enforces
the rules: owners only, the last owner stays, every change recorded).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from traces import access
from traces.actions.members import (
    MemberError,
    NewAccount,
    do_add_member,
    do_change_role,
    do_create_member_account,
    do_remove_member,
)
from traces.models import Membership, Project, Role
from traces.queries.projects import members_of, membership_changes
from traces.views.access import member_project
from traces.views.requests import SignedInRequest

CHANGES_PER_PAGE = 20
PAGE = "traces/members.html"

#: What each role may do, as the page explains it (the rules themselves are ``traces.access``).
ROLE_GUIDE = [
    (Role.OWNER, "Everything below, plus members, models and closing queues."),
    (Role.REVIEWER, "Imports, exports, generation runs, automatic labels; makes queues, adjudicates, sees gold."),
    (Role.ANNOTATOR, "Labels traces and works through queues."),
    (Role.VIEWER, "Reads traces, labels, dashboards and agreement."),
]


class AddMemberForm(forms.Form):
    prefix = "add"  # both forms of the page have a role field
    user = forms.CharField(
        label="Username or email",
        max_length=254,
        widget=forms.TextInput(attrs={"placeholder": "alice or alice@example.org", "autocomplete": "off"}),
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ANNOTATOR)


class NewAccountForm(forms.Form):
    prefix = "new"
    username = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    email = forms.EmailField(widget=forms.EmailInput(attrs={"placeholder": "name@example.org"}))
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ANNOTATOR)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


def owned_project(request: HttpRequest, slug: str) -> Project:
    """The project (404 for non-members), 403 unless the person owns it."""
    project = member_project(request, slug)
    if not access.can(project, request.user, access.Action.MANAGE):
        raise PermissionDenied(f"only owners of '{project.slug}' manage its members")
    return project


def refused_on(form: forms.Form, refused: MemberError) -> None:
    """Show an action's refusal on the field it names (on the form when it names none of its fields)."""
    form.add_error(refused.field if refused.field in form.fields else None, str(refused))


def change_page(request: HttpRequest, project: Project) -> Page:
    return Paginator(membership_changes(project), CHANGES_PER_PAGE).get_page(request.GET.get("changes"))


def page_context(request: HttpRequest, project: Project, **extra: Any) -> dict[str, Any]:
    """Everything the Members page shows; ``extra`` overrides (the forms of a refused POST, a new account)."""
    members = members_of(project)
    is_owner = access.can(project, request.user, access.Action.MANAGE)
    context = {
        "project": project,
        "members": members,
        "is_owner": is_owner,
        "last_owner": last_owner_id(members),
        "roles": Role.choices,
        "role_guide": ROLE_GUIDE,
        "changes": change_page(request, project),
        "add_form": AddMemberForm() if is_owner else None,
        "account_form": NewAccountForm() if is_owner else None,
    }
    return {**context, **extra}


def last_owner_id(members: list[Membership]) -> int | None:
    """The user id of the project's only owner, whose role and membership cannot change; else None."""
    owners = [membership.user_id for membership in members if membership.role == Role.OWNER]
    return owners[0] if len(owners) == 1 else None


@vary_on_headers("HX-Request")
@require_http_methods(["GET", "POST"])
@login_required
def member_list(request: SignedInRequest, slug: str) -> HttpResponse:
    """GET: the members and the record of changes (the record alone for htmx). POST: an owner adds an account."""
    if request.method == "GET":
        project = member_project(request, slug)
        if request.htmx:
            return render(request, f"{PAGE}#changes", {"project": project, "changes": change_page(request, project)})
        return render(request, PAGE, page_context(request, project))
    project = owned_project(request, slug)
    form = AddMemberForm(request.POST)
    if form.is_valid():
        try:
            data = form.cleaned_data
            membership = do_add_member(project, request.user, data["user"], data["role"])
        except MemberError as refused:
            refused_on(form, refused)
        else:
            name = membership.user.get_username()
            messages.success(request, f"{name} added to {project.name} as {membership.get_role_display()}.")
            return redirect("member-list", project.slug)
    return render(request, PAGE, page_context(request, project, add_form=form), status=400)


@require_POST
@login_required
def member_new_account(request: SignedInRequest, slug: str) -> HttpResponse:
    """An owner creates a teammate's account; the answer shows its set-password link, this once."""
    project = owned_project(request, slug)
    form = NewAccountForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            created = do_create_member_account(
                project,
                request.user,
                username=data["username"],
                email=data["email"],
                role=data["role"],
            )
        except MemberError as refused:
            refused_on(form, refused)
        else:
            return render(request, PAGE, page_context(request, project, new_account=shown(request, created)))
    return render(request, PAGE, page_context(request, project, account_form=form), status=400)


def shown(request: HttpRequest, created: NewAccount) -> dict[str, Any]:
    """A new account as the page shows it: who, and the whole set-password link."""
    return {
        "membership": created.membership,
        "link": request.build_absolute_uri(created.set_password_path),
        "days": created.link_days,
    }


def subject_of(project: Project, user_id: int) -> User:
    """A member of the project by user id (404 for anyone else)."""
    return get_object_or_404(get_user_model(), pk=user_id, memberships__project=project)


@require_POST
@login_required
def member_role(request: SignedInRequest, slug: str, user_id: int) -> HttpResponse:
    """An owner changes a member's role. htmx: the row (saved, or with the refusal, 400) and the record."""
    project = owned_project(request, slug)
    subject = subject_of(project, user_id)
    form = RoleForm(request.POST)
    error = ""
    if not form.is_valid():
        error = "; ".join(" ".join(map(str, errors)) for errors in form.errors.values())
    else:
        try:
            do_change_role(project, request.user, subject, form.cleaned_data["role"])
        except MemberError as refused:
            error = str(refused)
    if not request.htmx:
        if error:
            messages.error(request, error)
        else:
            messages.success(request, f"{subject.get_username()} is now {Role(form.cleaned_data['role']).label}.")
        return redirect("member-list", project.slug)
    if subject.pk == request.user.pk and not error:  # their own controls may be gone: the whole page again
        return HttpResponseClientRedirect(reverse("member-list", args=[project.slug]))
    return member_row_response(request, project, subject, error)


def member_row_response(request: HttpRequest, project: Project, subject: User, error: str) -> HttpResponse:
    """The member's row as it now stands, saved or refused, and the record of changes out of band."""
    context = page_context(request, project)
    membership = next(member for member in context["members"] if member.user_id == subject.pk)
    row = {**context, "membership": membership, "error": error, "saved": not error}
    html = render_to_string(f"{PAGE}#member-row", row, request) + render_to_string(
        f"{PAGE}#changes", {**context, "oob": True}, request
    )
    return HttpResponse(html, status=400 if error else 200)


@require_POST
@login_required
def member_remove(request: SignedInRequest, slug: str, user_id: int) -> HttpResponse:
    """An owner removes a member; an owner who removed themselves goes back to their projects."""
    project = owned_project(request, slug)
    subject = subject_of(project, user_id)
    try:
        do_remove_member(project, request.user, subject)
    except MemberError as refused:
        messages.error(request, str(refused))
        return redirect("member-list", project.slug)
    messages.success(request, f"{subject.get_username()} removed from {project.name}.")
    if subject.pk == request.user.pk:
        return redirect("project-list")
    return redirect("member-list", project.slug)
