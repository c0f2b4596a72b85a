"""Pairwise preferences through the REST API (issue 6 item 4): scoped reads, role-checked writes, canonical rows."""

from __future__ import annotations

import pytest
from django.urls import reverse

from traces.actions.store import store_traces
from traces.formats.base import ParsedTrace
from traces.models import Preference, Project, Role, Run, RunKind, Trace

pytestmark = pytest.mark.django_db

URL = "/api/preferences/"


def same_problem_traces(project: Project, count: int, prompt: str = "Which is 2+2?") -> list[Trace]:
    """``count`` traces of one problem (one prompt and reference is one problem) by different models."""
    run = Run.objects.create(project=project, kind=RunKind.IMPORT, name=f"{prompt}.jsonl")
    parsed = [
        ParsedTrace(line_no=i, prompt=prompt, text=f"Answer {i}: 4", model_name=f"m{i}", reference_answer="4")
        for i in range(count)
    ]
    return [Trace.objects.get(pk=pk) for pk in store_traces(project, run, parsed).trace_ids]


def test_the_route_is_the_router_s() -> None:
    assert reverse("preference-list") == URL


def test_an_annotator_creates_a_preference_stored_canonically_and_updates_it(alpha: Project, client_for) -> None:
    x, y = same_problem_traces(alpha, 2)
    client = client_for(alpha, Role.ANNOTATOR)
    high, low = (x, y) if x.pk > y.pk else (y, x)
    response = client.post(
        URL, {"trace_a": high.pk, "trace_b": low.pk, "choice": "a", "reason": "shorter"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["trace_a"], body["trace_b"], body["choice"]) == (low.pk, high.pk, "b")  # flipped with the pair
    assert (body["user"], body["source"], body["reason"]) == (client.user.username, "human", "shorter")
    again = client.post(URL, {"trace_a": low.pk, "trace_b": high.pk, "choice": "tie"}, format="json")
    assert again.status_code == 201 and again.json()["id"] == body["id"]
    assert Preference.objects.get().choice == "tie"


def test_a_viewer_reads_but_cannot_create(alpha: Project, client_for) -> None:
    x, y = same_problem_traces(alpha, 2)
    Preference.objects.create(trace_a=min(x, y, key=lambda t: t.pk), trace_b=max(x, y, key=lambda t: t.pk), choice="a")
    viewer = client_for(alpha, Role.VIEWER)
    listed = viewer.get(URL)
    assert listed.status_code == 200 and len(listed.json()["results"]) == 1
    response = viewer.post(URL, {"trace_a": x.pk, "trace_b": y.pk, "choice": "a"}, format="json")
    assert response.status_code == 403
    assert Preference.objects.count() == 1


def test_reads_are_scoped_to_the_user_s_projects(alpha: Project, beta: Project, client_for) -> None:
    for project in (alpha, beta):
        x, y = same_problem_traces(project, 2)
        Preference.objects.create(trace_a=x if x.pk < y.pk else y, trace_b=y if x.pk < y.pk else x, choice="tie")
    beta_member = client_for(beta, Role.VIEWER)
    rows = beta_member.get(URL).json()["results"]
    assert len(rows) == 1
    assert Trace.objects.get(pk=rows[0]["trace_a"]).project == beta
    alpha_row = Preference.objects.get(trace_a__project=alpha)
    assert beta_member.get(f"{URL}{alpha_row.pk}/").status_code == 404
    assert client_for(None, None, "nobody").get(URL).json()["results"] == []


def test_filters_by_trace_and_choice(alpha: Project, client_for) -> None:
    a, b, c = sorted(same_problem_traces(alpha, 3), key=lambda t: t.pk)
    Preference.objects.create(trace_a=a, trace_b=b, choice="a")
    Preference.objects.create(trace_a=b, trace_b=c, choice="tie")
    client = client_for(alpha, Role.VIEWER)
    assert len(client.get(URL, {"trace": b.pk}).json()["results"]) == 2
    assert [r["trace_b"] for r in client.get(URL, {"trace": c.pk}).json()["results"]] == [c.pk]
    assert [r["choice"] for r in client.get(URL, {"choice": "tie"}).json()["results"]] == ["tie"]
    assert client.get(URL, {"trace": "x"}).status_code == 400


def test_traces_of_different_problems_are_a_400_naming_the_reason(alpha: Project, client_for) -> None:
    (x,) = same_problem_traces(alpha, 1, "First problem?")
    (y,) = same_problem_traces(alpha, 1, "Second problem?")
    client = client_for(alpha, Role.OWNER)
    response = client.post(URL, {"trace_a": x.pk, "trace_b": y.pk, "choice": "a"}, format="json")
    assert response.status_code == 400
    assert "answer different problems" in response.json()["non_field_errors"][0]
    assert not Preference.objects.exists()


def test_a_trace_of_another_project_does_not_exist_for_the_user(alpha: Project, beta: Project, client_for) -> None:
    (x,) = same_problem_traces(alpha, 1)
    (hidden,) = same_problem_traces(beta, 1)
    client = client_for(alpha, Role.OWNER)
    response = client.post(URL, {"trace_a": x.pk, "trace_b": hidden.pk, "choice": "a"}, format="json")
    assert response.status_code == 400
    assert "does not exist" in response.json()["trace_b"][0]


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"choice": "maybe"}, "choice"),
        ({"reason": "nul\x00"}, "reason"),
        ({"trace_b": None}, "trace_b"),
        ({"trace_a": 2**70}, "trace_a"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(alpha: Project, client_for, payload: dict, field: str) -> None:
    x, y = same_problem_traces(alpha, 2)
    client = client_for(alpha, Role.OWNER)
    response = client.post(URL, {"trace_a": x.pk, "trace_b": y.pk, "choice": "a", **payload}, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_the_schema_lists_the_preference_endpoints(client_for, alpha: Project) -> None:
    schema = client_for(alpha, Role.VIEWER).get("/api/schema/?format=json").json()
    assert {"get", "post"} <= set(schema["paths"]["/api/preferences/"])
    assert "Preference" in schema["components"]["schemas"]
