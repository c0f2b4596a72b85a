"""``/api/projects/<slug>/members/``: members read, owners write, through the member actions."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from traces.models import Membership, MembershipChange, Project, Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(project, make_user):
    """An owner and an annotator of ``project`` (emails set), and a stranger with a project of their own."""
    found = {}
    for name, role in (("olga", Role.OWNER), ("ann", Role.ANNOTATOR)):
        user = make_user(name)
        user.email = f"{name}@example.org"
        user.save()
        Membership.objects.create(project=project, user=user, role=role)
        found[name] = user
    found["stranger"] = make_user("stranger")
    elsewhere = Project.objects.create(name="Elsewhere", slug="elsewhere")
    Membership.objects.create(project=elsewhere, user=found["stranger"], role=Role.OWNER)
    return found


def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def members(slug: str = "test") -> str:
    return f"/api/projects/{slug}/members/"


def test_members_read_the_list_and_only_owners_see_emails(project, people) -> None:
    as_owner = api(people["olga"]).get(members()).json()
    assert [(m["username"], m["role"], m["email"]) for m in as_owner] == [
        ("olga", "owner", "olga@example.org"),
        ("ann", "annotator", "ann@example.org"),
    ]
    assert set(as_owner[0]) == {"user_id", "username", "email", "role", "joined"}
    as_annotator = api(people["ann"]).get(members()).json()
    assert [m["email"] for m in as_annotator] == [None, None]
    one = api(people["ann"]).get(f"{members()}{people['olga'].pk}/")
    assert one.status_code == 200 and one.json()["username"] == "olga"


def test_non_members_get_404(project, people) -> None:
    client = api(people["stranger"])
    assert client.get(members()).status_code == 404
    assert client.post(members(), {"user": "stranger", "role": "owner"}, format="json").status_code == 404
    assert client.patch(f"{members()}{people['ann'].pk}/", {"role": "owner"}, format="json").status_code == 404
    assert client.delete(f"{members()}{people['ann'].pk}/").status_code == 404
    assert client.get(f"{members()}changes/").status_code == 404
    assert project.role_of(people["stranger"]) is None


def test_an_annotator_writes_nothing(project, people) -> None:
    client = api(people["ann"])
    refused = client.post(members(), {"user": "stranger", "role": "viewer"}, format="json")
    assert refused.status_code == 403 and "only owners" in refused.json()["detail"]
    assert client.patch(f"{members()}{people['ann'].pk}/", {"role": "owner"}, format="json").status_code == 403
    assert client.delete(f"{members()}{people['olga'].pk}/").status_code == 403
    assert project.role_of(people["ann"]) == Role.ANNOTATOR and not MembershipChange.objects.exists()


def test_an_owner_adds_changes_and_removes_and_the_record_says_so(project, people) -> None:
    client = api(people["olga"])
    added = client.post(members(), {"user": "stranger", "role": "viewer"}, format="json")
    stranger = people["stranger"]
    assert added.status_code == 201 and added.json()["user_id"] == stranger.pk
    changed = client.patch(f"{members()}{stranger.pk}/", {"role": "reviewer"}, format="json")
    assert changed.status_code == 200 and changed.json()["role"] == "reviewer"
    assert client.delete(f"{members()}{stranger.pk}/").status_code == 204
    assert project.role_of(stranger) is None
    record = client.get(f"{members()}changes/").json()
    assert [(c["actor"], c["subject"], c["old_role"], c["new_role"]) for c in record["results"]] == [
        ("olga", "stranger", "reviewer", ""),
        ("olga", "stranger", "viewer", "reviewer"),
        ("olga", "stranger", "", "viewer"),
    ]
    assert api(people["ann"]).get(f"{members()}changes/").status_code == 200  # members read the record


def test_a_new_teammates_account_and_its_link_come_back_once(project, people) -> None:
    body = {"username": "newbie", "email": "newbie@example.org", "role": "annotator"}
    created = api(people["olga"]).post(members(), body, format="json")
    data = created.json()
    assert created.status_code == 201 and data["username"] == "newbie" and data["role"] == "annotator"
    assert data["set_password_url"].startswith("http://testserver/accounts/reset/")
    assert data["set_password_expires_in_days"] == 3
    newbie = get_user_model().objects.get(username="newbie")
    assert not newbie.has_usable_password() and MembershipChange.objects.get(subject=newbie).account_created
    listed = api(people["olga"]).get(f"{members()}{newbie.pk}/").json()
    assert "set_password_url" not in listed


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"role": "viewer"}, "non_field_errors", "give either 'user'"),
        ({"user": "ann", "username": "x", "email": "x@example.org", "role": "viewer"}, "non_field_errors", "either"),
        ({"username": "x", "role": "viewer"}, "email", "needs both"),
        ({"user": "stranger", "role": "god"}, "role", "is not a valid choice"),
        ({"user": "nobody", "role": "viewer"}, "user", "no account has the username or email 'nobody'"),
        ({"user": "ann", "role": "viewer"}, "user", "ann is already a member, as Annotator"),
        ({"username": "ANN", "email": "a@example.org", "role": "viewer"}, "username", "the username 'ANN' is taken"),
    ],
)
def test_a_refused_add_names_the_field(project, people, body: dict, field: str, message: str) -> None:
    response = api(people["olga"]).post(members(), body, format="json")
    assert response.status_code == 400 and message in " ".join(response.json()[field])


def test_the_last_owner_stays(project, people) -> None:
    client = api(people["olga"])
    olga = people["olga"].pk
    demoted = client.patch(f"{members()}{olga}/", {"role": "viewer"}, format="json")
    assert demoted.status_code == 400 and "olga is the last owner" in demoted.json()["role"][0]
    removed = client.delete(f"{members()}{olga}/")
    assert removed.status_code == 400 and "cannot be removed" in removed.json()["user"][0]
    assert client.patch(f"{members()}{olga}/", {"role": "superuser"}, format="json").status_code == 400
    assert project.role_of(people["olga"]) == Role.OWNER


def test_a_user_who_is_not_a_member_is_404(project, people) -> None:
    client = api(people["olga"])
    assert client.patch(f"{members()}{people['stranger'].pk}/", {"role": "viewer"}, format="json").status_code == 404
    assert client.put(f"{members()}{people['ann'].pk}/", {"role": "viewer"}, format="json").status_code == 405
