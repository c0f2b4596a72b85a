"""The Members page through Django's test client: owners manage, members read, others get 404."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from traces.models import Membership, MembershipChange, Project, Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def annotator(make_user, project):
    user = make_user("annie")
    user.email = "annie@example.org"
    user.save()
    Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
    return user


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def members_url(project: Project) -> str:
    return reverse("member-list", args=[project.slug])


def role_url(project: Project, user) -> str:
    return reverse("member-role", args=[project.slug, user.pk])


def remove_url(project: Project, user) -> str:
    return reverse("member-remove", args=[project.slug, user.pk])


HTMX = {"HTTP_HX_REQUEST": "true"}


def test_an_owner_sees_every_control_and_the_emails(project, owner, annotator, member_client) -> None:
    page = member_client.get(members_url(project)).content.decode()
    assert 'id="add-member-form"' in page and 'id="new-account-form"' in page
    assert f'action="{role_url(project, annotator)}"' in page and f'action="{remove_url(project, annotator)}"' in page
    assert "annie@example.org" in page
    # The only owner's role and membership cannot change: no remove button, a disabled select.
    assert remove_url(project, owner) not in page
    assert re.search(r'aria-label="Role of owner" disabled', page)
    assert f'href="{members_url(project)}">Members</a>' in page  # reachable from the project's nav


def test_a_member_below_owner_reads_the_list_without_controls(project, owner, annotator) -> None:
    page = client_of(annotator).get(members_url(project))
    html = page.content.decode()
    assert page.status_code == 200 and "annie" in html and "owner" in html
    assert "<form" not in html.split('<main', 1)[1].replace('class="nav-logout"', "")
    assert "annie@example.org" not in html and "Remove…" not in html


def test_changes_by_a_member_below_owner_are_forbidden(project, owner, annotator) -> None:
    client = client_of(annotator)
    assert client.post(members_url(project), {"add-user": "annie", "add-role": "owner"}).status_code == 403
    new = reverse("member-new-account", args=[project.slug])
    assert client.post(new, {"new-username": "x", "new-email": "x@example.org", "new-role": "owner"}).status_code == 403
    assert client.post(role_url(project, annotator), {"role": "owner"}).status_code == 403
    assert client.post(remove_url(project, owner)).status_code == 403
    assert project.role_of(annotator) == Role.ANNOTATOR and not MembershipChange.objects.exists()


def test_a_non_member_gets_404_everywhere(project, owner, annotator, outsider_client) -> None:
    assert outsider_client.get(members_url(project)).status_code == 404
    assert outsider_client.post(members_url(project), {"add-user": "mallory", "add-role": "owner"}).status_code == 404
    assert outsider_client.post(role_url(project, annotator), {"role": "viewer"}).status_code == 404
    assert outsider_client.post(remove_url(project, annotator)).status_code == 404


def test_an_owner_adds_an_account_and_the_page_says_so(project, owner, member_client, make_user) -> None:
    bob = make_user("bob")
    response = member_client.post(members_url(project), {"add-user": "bob", "add-role": "reviewer"}, follow=True)
    html = response.content.decode()
    assert project.role_of(bob) == Role.REVIEWER
    assert "bob added to Test project as Reviewer." in html
    assert re.search(r"<strong>owner</strong>\s+added\s+<strong>bob</strong>", html)


def test_a_refused_add_shows_the_reason_on_its_field(project, owner, member_client) -> None:
    response = member_client.post(members_url(project), {"add-user": "nobody", "add-role": "viewer"})
    assert response.status_code == 400
    assert "no account has the username or email &#x27;nobody&#x27;" in response.content.decode()


def test_a_new_teammates_link_is_shown_once_and_nothing_is_mailed(project, owner, member_client, mailoutbox) -> None:
    new = reverse("member-new-account", args=[project.slug])
    body = {"new-username": "carol", "new-email": "carol@example.org", "new-role": "annotator"}
    response = member_client.post(new, body)
    html = response.content.decode()
    link = re.search(r'value="(http://testserver/accounts/reset/[^"]+)" id="set-password-link"', html)
    assert response.status_code == 200 and link
    assert "Account created for carol" in html and "does not email it" in html
    assert mailoutbox == []
    assert "set-password-link" not in member_client.get(members_url(project)).content.decode()
    carol = get_user_model().objects.get(username="carol")
    assert project.role_of(carol) == Role.ANNOTATOR and not carol.has_usable_password()


def test_a_role_change_from_the_select_answers_the_row_and_the_record(project, owner, annotator, member_client) -> None:
    response = member_client.post(role_url(project, annotator), {"role": "reviewer"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and project.role_of(annotator) == Role.REVIEWER
    assert html.lstrip().startswith(f'<tr id="member-{annotator.pk}"') and 'role="status">Saved' in html
    assert 'id="member-changes" aria-labelledby="changes-title" hx-swap-oob="true"' in html
    assert "<html" not in html


def test_demoting_the_last_owner_answers_the_row_with_the_reason(project, owner, member_client) -> None:
    response = member_client.post(role_url(project, owner), {"role": "viewer"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 400 and "owner is the last owner of Test project" in html
    assert re.search(r'<option value="owner" selected>', html)  # the select shows the role kept
    assert project.role_of(owner) == Role.OWNER


def test_without_javascript_a_role_change_redirects_with_a_message(project, owner, annotator, member_client) -> None:
    response = member_client.post(role_url(project, annotator), {"role": "viewer"}, follow=True)
    assert "annie is now Viewer." in response.content.decode()
    response = member_client.post(role_url(project, annotator), {"role": "emperor"}, follow=True)
    assert "Select a valid choice" in response.content.decode() and project.role_of(annotator) == Role.VIEWER


def test_an_owner_who_steps_down_gets_the_whole_page_again(project, owner, annotator, member_client) -> None:
    Membership.objects.filter(user=annotator).update(role=Role.OWNER)
    response = member_client.post(role_url(project, owner), {"role": "reviewer"}, **HTMX)
    assert response.status_code == 200 and response["HX-Redirect"] == members_url(project)


def test_removing_a_member_and_removing_oneself(project, owner, annotator, member_client) -> None:
    response = member_client.post(remove_url(project, annotator), follow=True)
    assert "annie removed from Test project." in response.content.decode()
    assert project.role_of(annotator) is None
    assert member_client.post(remove_url(project, annotator)).status_code == 404  # no longer a member
    response = member_client.post(remove_url(project, owner), follow=True)
    assert "the last owner of Test project and cannot be removed" in response.content.decode()
    Membership.objects.create(project=project, user=annotator, role=Role.OWNER)
    response = member_client.post(remove_url(project, owner))
    assert response.status_code == 302 and response["Location"] == reverse("project-list")


def test_the_record_is_paginated_and_its_pages_come_alone_for_htmx(project, owner, annotator, member_client) -> None:
    for role in ["viewer", "reviewer"] * 12:
        MembershipChange.objects.create(
            project=project, actor=owner, actor_name="owner", subject=annotator, subject_name="annie",
            old_role="annotator", new_role=role,
        )  # fmt: skip
    page = member_client.get(members_url(project)).content.decode()
    assert page.count('class="timeline-item') == 20 and "Page 1 of 2" in page
    fragment = member_client.get(members_url(project) + "?changes=2", **HTMX)
    html = fragment.content.decode()
    assert html.lstrip().startswith('<section class="member-changes"') and html.count('class="timeline-item') == 4
    assert fragment["Vary"] and "HX-Request" in fragment["Vary"]


def test_user_text_is_escaped(project, owner, member_client, django_user_model) -> None:
    hostile = django_user_model.objects.create_user("x<b>y", email="a<script>@example.org")
    Membership.objects.create(project=project, user=hostile, role=Role.VIEWER)
    MembershipChange.objects.create(
        project=project, actor_name="<i>actor</i>", subject_name="<img src=x>", new_role="viewer"
    )
    Project.objects.filter(pk=project.pk).update(name="<svg onload=alert(1)>")
    html = member_client.get(members_url(project)).content.decode()
    for raw in ("x<b>y", "a<script>@", "<i>actor</i>", "<img src=x>", "<svg onload"):
        assert raw not in html
    assert "x&lt;b&gt;y" in html and "&lt;img src=x&gt;" in html


def test_an_operator_change_reads_as_such(project, owner, annotator, member_client) -> None:
    MembershipChange.objects.create(project=project, subject=annotator, subject_name="annie", old_role="annotator")
    html = member_client.get(members_url(project)).content.decode()
    assert re.search(r"<strong>An operator \(manage.py\)</strong>\s+removed\s+<strong>annie</strong>", html)
