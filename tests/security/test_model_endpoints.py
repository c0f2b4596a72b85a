"""Model endpoints are the operator's: no project setting reaches the workers' environment or an
address of the project's choosing, and loaded backends never share a credential or a model id.

The attacker is a project owner (anyone who may create a project is one). A listener on 127.0.0.1
(the fake OpenAI-compatible server, which records every request's path and Authorization header)
stands for "a server of the attacker's choosing" and for an internal page the workers can reach.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from app.endpoints import EndpointRefused
from tests.workers.fake_openai_server import FakeOpenAIServer
from traces.actions.generation import do_start_generation, generate_chunk
from traces.backends import ChatPrompt, SamplingParams
from traces.models import LanguageModel, Membership, Problem, Project, Role, Trace
from workers.backends.registry import backend_for

pytestmark = pytest.mark.django_db(transaction=True)

TEAM_KEY = "team-key-the-operator-set"


@pytest.fixture
def listener() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def attacker(owner, project: Project) -> APIClient:
    client = APIClient()
    client.force_login(owner)
    return client


def register(client: APIClient, **fields: object):
    return client.post(reverse("languagemodel-list"), {"project": "test", "name": "mine", **fields}, format="json")


@pytest.mark.parametrize(
    ("fields", "refused_field"),
    [
        ({"backend": "openai", "path": "{url}/v1", "default_params": {"api_key_env": "SECRET_KEY"}}, "path"),
        ({"endpoint": "embedded", "default_params": {"api_key_env": "SECRET_KEY"}}, "default_params"),
        ({"endpoint": "embedded", "default_params": {"served_model": "x", "timeout": 1}}, "default_params"),
        ({"endpoint": "{url}/v1"}, "endpoint"),
        ({"endpoint": "embedded", "base_url": "{url}/admin"}, "base_url"),
        ({"endpoint": "embedded", "api_key_env": "DATABASE_URL"}, "api_key_env"),
    ],
)
def test_a_model_cannot_name_an_address_or_a_key_variable(
    attacker: APIClient, listener: FakeOpenAIServer, fields: dict[str, object], refused_field: str
) -> None:
    aimed = {key: value.replace("{url}", listener.base_url) if isinstance(value, str) else value
             for key, value in fields.items()}  # fmt: skip
    response = register(attacker, **aimed)
    assert response.status_code == 400, response.content
    message = " ".join(response.json()[refused_field])
    assert "endpoint" in message
    assert not LanguageModel.objects.filter(name="mine").exists()
    assert listener.record.seen == []


def test_the_workers_environment_never_reaches_a_server_a_project_named(
    attacker: APIClient, listener: FakeOpenAIServer, project: Project, declare_endpoints, monkeypatch
) -> None:
    """A row shaped like the former URL-per-model API (as a database from before endpoints holds
    it) generates nothing; the operator's own endpoint at the same address gets only its own key."""
    monkeypatch.setenv("TEAM_KEY", TEAM_KEY)
    declare_endpoints(team={"backend": "openai", "base_url": listener.base_url + "/v1", "api_key_env": "TEAM_KEY"})
    problem = Problem.objects.create(project=project, prompt="What is 2 + 3?", answer="5")
    legacy = LanguageModel.objects.create(
        project=project, name="legacy", backend="openai", default_params={"api_key_env": "SECRET_KEY"}
    )
    started = attacker.post(
        reverse("run-list"), {"project": "test", "model": "legacy", "problem_ids": [problem.pk]}, format="json"
    )
    assert started.status_code == 400
    assert started.json()["model"] == [
        "model 'legacy': no endpoint chosen; the operator declared for this project: embedded, team"
    ]
    with pytest.raises(EndpointRefused, match="no endpoint chosen"):
        backend_for(legacy)

    registered = register(attacker, endpoint="team", served_model="fake-model")
    assert registered.status_code == 201, registered.content
    assert registered.json()["backend"] == "openai" and "base_url" not in registered.json()
    model = LanguageModel.objects.get(pk=registered.json()["id"])
    run = do_start_generation(project, model, [problem.pk], SamplingParams(max_new_tokens=8), enqueue=False)
    generate_chunk(run.pk, [problem.pk], backend_for)

    assert Trace.objects.filter(run=run).count() == 1
    assert ("/v1/chat/completions", f"Bearer {TEAM_KEY}") in listener.record.seen
    assert {auth for _, auth in listener.record.seen} == {f"Bearer {TEAM_KEY}"}
    secrets = [os.environ["SECRET_KEY"], *(value for key, value in os.environ.items() if "DATABASE" in key)]
    assert not any(secret and secret in str(listener.record.seen) for secret in secrets)


def test_an_endpoint_is_used_only_by_the_projects_it_is_opened_to(
    attacker: APIClient, project: Project, declare_endpoints
) -> None:
    declare_endpoints(
        theirs={"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "projects": ["another-team"]},
        ours={"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "projects": ["test"], "models": ["qwq"]},
    )
    listed = attacker.get(reverse("project-endpoints", args=["test"])).json()
    assert [endpoint["name"] for endpoint in listed] == ["embedded", "ours"]
    assert listed[1] == {"name": "ours", "backend": "openai", "description": "", "models": ["qwq"]}

    refused = register(attacker, endpoint="theirs")
    assert refused.status_code == 400
    assert refused.json()["endpoint"] == [
        "'theirs' is not an endpoint this project may use; the operator declared for this project: embedded, ours"
    ]
    wrong_model = register(attacker, endpoint="ours", served_model="gpt-5")
    assert wrong_model.status_code == 400
    assert "does not serve the model id 'gpt-5'; it serves: qwq" in wrong_model.json()["endpoint"][0]
    assert register(attacker, endpoint="ours", served_model="qwq").status_code == 201

    other = Project.objects.create(slug="another-team", name="Another team")
    forged = LanguageModel.objects.create(project=other, name="forged", backend="openai", endpoint="ours")
    with pytest.raises(EndpointRefused, match="'ours' is not an endpoint this project may use"):
        backend_for(forged)


def test_loaded_backends_never_share_a_key_or_a_model_id(
    listener: FakeOpenAIServer, project: Project, declare_endpoints, make_user, monkeypatch
) -> None:
    """Two endpoints at one address, one with a key and one without, and two model ids on one
    endpoint, in two projects: every request carries its own endpoint's key and its own model id."""
    monkeypatch.setenv("TEAM_KEY", TEAM_KEY)
    url = listener.base_url + "/v1"
    declare_endpoints(keyed={"backend": "openai", "base_url": url, "api_key_env": "TEAM_KEY"},
                      open={"backend": "openai", "base_url": url})  # fmt: skip
    other = Project.objects.create(slug="other", name="Other")
    Membership.objects.create(project=other, user=make_user("other-owner"), role=Role.OWNER)
    models = [
        LanguageModel.objects.create(project=project, name="a", backend="openai", endpoint="keyed", served_model="m1"),
        LanguageModel.objects.create(project=other, name="b", backend="openai", endpoint="open", served_model="m1"),
        LanguageModel.objects.create(project=other, name="c", backend="openai", endpoint="open", served_model="m2"),
    ]
    for model in models:
        backend_for(model).generate([ChatPrompt.of("hi")], SamplingParams(max_new_tokens=2))

    sent = [(body["model"], auth) for body, (_, auth) in zip(listener.record.chat_requests, listener.record.seen, strict=True)]
    assert sent == [("m1", f"Bearer {TEAM_KEY}"), ("m1", None), ("m2", None)]
