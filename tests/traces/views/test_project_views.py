"""Project list and access rules of the browser UI (SPEC §1: nobody sees a project they are not a member of)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from trace_factory import TraceSpec

from traces.models import Membership, Project, Role

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "name, args",
    [("project-list", []), ("trace-list", ["test"]), ("trace-detail", ["test", 1])],
)
def test_pages_require_login(client, project, name, args) -> None:
    url = reverse(name, args=args)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_login_form_signs_in_and_lands_on_the_projects(client, owner, project) -> None:
    response = client.post(reverse("login"), {"username": "owner", "password": "correct horse battery"}, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == reverse("project-list")
    assert project.name in response.content.decode()


def test_project_list_shows_only_the_users_projects_with_role_and_counts(
    member_client, owner, project, make_traces
) -> None:
    hidden = Project.objects.create(name="Secret lab", slug="secret")
    reviewed = Project.objects.create(name="Reviewed", slug="reviewed")
    Membership.objects.create(project=reviewed, user=owner, role=Role.REVIEWER)
    make_traces([TraceSpec(key="a"), TraceSpec(key="b"), TraceSpec(key="c")])
    make_traces([TraceSpec(key="z")], in_project=hidden)

    response = member_client.get(reverse("project-list"))

    rows = {p.slug: p for p in response.context["projects"]}
    assert set(rows) == {"test", "reviewed"}
    assert (rows["test"].role, rows["test"].trace_count, rows["test"].run_count) == ("owner", 3, 1)
    assert (rows["reviewed"].role, rows["reviewed"].trace_count) == ("reviewer", 0)
    body = response.content.decode()
    assert "Secret lab" not in body
    assert reverse("trace-list", args=["secret"]) not in body


def test_project_list_empty_state(client, make_user) -> None:
    client.force_login(make_user("newcomer"))
    response = client.get(reverse("project-list"))
    assert "not a member of any project yet" in response.content.decode()


def test_non_member_gets_404_for_list_and_trace(outsider_client, project, make_traces) -> None:
    trace = make_traces([TraceSpec(key="a")])["a"]
    assert outsider_client.get(reverse("trace-list", args=[project.slug])).status_code == 404
    response = outsider_client.get(reverse("trace-detail", args=[project.slug, trace.pk]))
    assert response.status_code == 404
    assert "Problem a" not in response.content.decode()


def test_unknown_project_is_the_same_404_as_a_foreign_one(outsider_client) -> None:
    assert outsider_client.get(reverse("trace-list", args=["no-such-project"])).status_code == 404


def test_a_trace_of_another_project_is_404_under_a_member_project(
    member_client, project, make_traces
) -> None:
    other = Project.objects.create(name="Other team", slug="other-team")
    foreign = make_traces([TraceSpec(key="foreign")], in_project=other)["foreign"]
    assert member_client.get(reverse("trace-detail", args=[project.slug, foreign.pk])).status_code == 404


@pytest.mark.parametrize("page", ["job-list", "queue-list", "member-list"])
def test_every_project_page_links_to_its_traces_in_the_nav(member_client, project, page: str) -> None:
    body = member_client.get(reverse(page, args=[project.slug])).content.decode()
    assert f'<a href="{reverse("trace-list", args=[project.slug])}">Traces</a>' in body
