"""Role × action matrix over every URL of thinkscope (issue 9 item 1).

Every URL pattern Django resolves must have a row in ``ROUTES``: which objects its path names, which
HTTP methods it answers and the least role for each. A URL without a row fails
``test_every_url_has_a_row`` by name, so a new view cannot slip past this test. Each row is then
requested by six people:

* **anonymous** — the UI redirects to the login page, the API answers 401/403;
* **non-member** — 404 in the UI, 400/403/404 from the API, and never the project's secret text;
* **viewer, annotator, reviewer, owner** — below the least role 403; at or above it neither 401, 403
  nor 404 (a 400 for a body this test does not bother to make valid is fine: access was granted).

To add a row: name the URL (``api:`` in front of API names), the world objects its path parameters
are (``World`` below), and ``{method: least role}``; give a ``body`` for a write that should reach
past its form validation. ``SIGNED_IN`` means any signed-in person (the view itself shows only their
projects); ``PUBLIC`` means anyone; ``STAFF`` means staff only (none of the six people is staff, so
every one of them gets 403; ``tests/traces/api/test_projects_api.py`` covers staff and the setting
that opens project creation to everyone).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.authtoken.models import Token

from traces.actions.exports import ExportSpec, export_dir
from traces.actions.store import store_traces
from traces.exports.policy import LabelPolicy
from traces.formats.base import ParsedStep, ParsedTrace
from traces.models import (
    ROLE_RANK,
    Label,
    LanguageModel,
    Membership,
    Preference,
    Problem,
    Project,
    Queue,
    QueueItem,
    Role,
    Run,
    RunKind,
    RunStatus,
    Score,
    Step,
    Trace,
)

pytestmark = pytest.mark.django_db

SECRET = "UNRELEASED-9c1e"
PUBLIC = "public"
SIGNED_IN = "signed-in"
STAFF = "staff"
PERSONS = ["anonymous", "non-member", Role.VIEWER, Role.ANNOTATOR, Role.REVIEWER, Role.OWNER]


@dataclass(frozen=True)
class Row:
    """One URL: its path parameters (names of ``World`` attributes), methods with least roles, bodies."""

    path: dict[str, str] = field(default_factory=dict)
    methods: dict[str, str] = field(default_factory=dict)
    query: str = ""
    body: dict[str, dict[str, Any]] = field(default_factory=dict)  # per method; "@name" is a World attribute


def ui(path: dict[str, str] | None = None, query: str = "", **methods: str) -> Row:
    return Row(path={"slug": "slug", **(path or {})}, methods=methods, query=query)


def api(path: dict[str, str] | None = None, query: str = "", body: dict[str, dict[str, Any]] | None = None,
        **methods: str) -> Row:  # fmt: skip
    return Row(path=path or {}, methods=methods, query=query, body=body or {})


V, A, R, OWN = Role.VIEWER, Role.ANNOTATOR, Role.REVIEWER, Role.OWNER
TRACE, EXPORT, IMPORT_RUN, QUEUE = {"pk": "trace"}, {"pk": "export"}, {"pk": "import_run"}, {"pk": "queue"}
MEMBER = {"user_id": "member"}
UPLOAD = {"upload": "upload"}

#: Every URL of the browser UI and the API. ``@x`` in a body is replaced by the World's ``x``.
ROUTES: dict[str, Row] = {
    # --- browser UI (traces/urls.py)
    "project-list": Row(methods={"GET": SIGNED_IN}),
    "api-token": Row(methods={"GET": SIGNED_IN, "POST": SIGNED_IN}),
    "trace-list": ui(GET=V),
    "trace-detail": ui(TRACE, GET=V),
    "trace-label": ui(TRACE, GET=A),
    "trace-label-step": Row(
        path={"slug": "slug", **TRACE},
        methods={"POST": A},
        body={"POST": {"action": "rate", "step": "@step", "value": "1"}},
    ),  # fmt: skip
    "trace-label-undo": ui(TRACE, POST=A),
    "trace-label-verdicts": ui(TRACE, POST=A),
    "trace-label-next": ui(TRACE, GET=A),
    "export-form": ui(GET=R, POST=R),
    "export-job": ui(EXPORT, GET=V),
    "export-job-file": ui({**EXPORT, "name": "export_file"}, GET=V),
    "import-upload": ui(GET=R, POST=R),
    "import-preview": ui(UPLOAD, GET=R, POST=R),
    "import-cancel": ui(UPLOAD, POST=R),
    "label-evaluation": ui(GET=V),
    "prm-list": ui(GET=V, POST=R),
    "trace-compare": ui(query="traces=@trace,@trace2", GET=V),
    "trace-compare-preference": ui(POST=A),
    "auto-label-form": ui(GET=R, POST=R),
    "queue-list": ui(GET=V),
    "queue-new": ui(GET=R, POST=R),
    "queue-detail": ui(QUEUE, GET=V),
    "queue-next": ui(QUEUE, POST=A),
    "queue-open": ui(QUEUE, POST=OWN),
    "queue-item-submit": ui({**QUEUE, "item_pk": "queue_item"}, POST=A),
    "queue-item-skip": ui({**QUEUE, "item_pk": "queue_item"}, POST=A),
    "queue-agreement": ui(QUEUE, GET=V),
    "queue-adjudication": ui(QUEUE, GET=R),
    "queue-adjudicate-trace": ui({**QUEUE, "trace_pk": "trace"}, GET=R, POST=R),
    "member-list": ui(GET=V, POST=OWN),
    "member-new-account": ui(POST=OWN),
    "member-role": ui(MEMBER, POST=OWN),
    "member-remove": ui(MEMBER, POST=OWN),
    "dashboard": ui({"kind": "dashboard"}, GET=V),
    "dashboard-data": ui({"kind": "dashboard"}, GET=V),
    "dashboard-csv": ui({"kind": "dashboard"}, GET=V),
    "job-list": ui(GET=V),
    "job-new": ui(GET=R, POST=R),
    "job-detail": ui(IMPORT_RUN, GET=V),
    "job-cancel": ui(IMPORT_RUN, POST=R),
    "job-resume": ui(IMPORT_RUN, POST=R),
    # --- REST API (traces/api/urls.py); lists are scoped to the person's projects
    "api:api-root": api(GET=SIGNED_IN),
    "api:api-schema": api(GET=PUBLIC),  # the OpenAPI schema: the code is public, it holds no data
    "api:api-docs": api(GET=PUBLIC),
    # Creating projects is an operator setting, THINKSCOPE_PROJECT_CREATORS (default: staff only).
    "api:project-list": api(GET=SIGNED_IN, POST=STAFF, body={"POST": {"name": "Mine", "slug": "mine"}}),
    "api:project-detail": api({"slug": "slug"}, GET=V),
    "api:project-evaluate": api({"slug": "slug"}, query="method=human&reference=import:test", GET=V),
    "api:project-endpoints": api({"slug": "slug"}, GET=V),
    "api:project-member-list": api(
        {"slug": "slug"}, GET=V, POST=OWN, body={"POST": {"user": "stranger", "role": "viewer"}}
    ),
    "api:project-member-detail": api(
        {"slug": "slug", **MEMBER}, GET=V, PATCH=OWN, DELETE=OWN, body={"PATCH": {"role": "annotator"}}
    ),
    "api:project-member-changes": api({"slug": "slug"}, GET=V),
    "api:problem-list": api(GET=SIGNED_IN),
    "api:problem-detail": api({"pk": "problem"}, GET=V),
    "api:languagemodel-list": api(GET=SIGNED_IN, POST=OWN, body={"POST": {"project": "@slug", "name": "added-model"}}),
    "api:languagemodel-detail": api({"pk": "model"}, GET=V),
    "api:run-list": api(GET=SIGNED_IN),
    "api:run-detail": api(IMPORT_RUN, GET=V),
    "api:run-cancel": api(IMPORT_RUN, POST=R),
    "api:run-resume": api(IMPORT_RUN, POST=R),
    "api:trace-list": api(GET=SIGNED_IN),
    "api:trace-detail": api(TRACE, GET=V),
    "api:label-list": api(GET=SIGNED_IN, POST=A, body={"POST": {"step": "@step", "value": 1}}),
    "api:label-bulk": api(POST=A, body={"POST": {"labels": [{"step": "@step", "value": 1}]}}),
    "api:label-detail": api({"pk": "label"}, GET=V),
    "api:score-list": api(GET=SIGNED_IN),
    "api:score-detail": api({"pk": "score"}, GET=V),
    "api:import-list": api(
        POST=R, body={"POST": {"project": "@slug", "format": "jsonl", "file": b'{"prompt": "p", "completion": "c"}\n'}}
    ),
    "api:export-list": api(
        GET=SIGNED_IN, POST=R, body={"POST": {"project": "@slug", "format": "trl", "policy": {"sources": "human"}}}
    ),
    "api:export-detail": api(EXPORT, GET=V),
    "api:export-download": api(EXPORT, query="file=manifest", GET=V),
    "api:preference-list": api(
        GET=SIGNED_IN, POST=A, body={"POST": {"trace_a": "@trace", "trace_b": "@trace2", "choice": "a"}}
    ),
    "api:preference-detail": api({"pk": "preference"}, GET=V),
    "api:queue-list": api(GET=SIGNED_IN),
    "api:queue-detail": api(QUEUE, GET=V),
    "api:queue-next": api(QUEUE, POST=A),
    "api:auth-token": api(POST=SIGNED_IN, DELETE=SIGNED_IN),
    "api:scorer-list": api(query="project=@slug", GET=V),
    "api:scorer-train": api(POST=R, body={"POST": {"project": "@slug", "max_steps": 1}}),
    "api:scorer-score": api(POST=R, body={"POST": {"project": "@slug", "scorer": "none-yet"}}),
}

#: URLs outside any project: Django's own login/password views, its admin (staff only) and the health
#: check (anonymous, it says only whether the database answers: tests/deploy/test_compose.py).
OUTSIDE_PROJECTS = {
    "login", "logout", "password_change", "password_change_done", "password_reset", "password_reset_done",
    "password_reset_confirm", "password_reset_complete", "admin-login", "healthz",
}  # fmt: skip


# --- The URLs Django knows ----------------------------------------------------------------------------


def url_names(patterns: list[Any], prefix: str = "", namespace: str | None = None) -> Iterator[tuple[str, str]]:
    """``(key, route)`` of every pattern: ``api:`` before API names, admin URLs as ``admin:``."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from url_names(pattern.url_patterns, prefix + str(pattern.pattern), pattern.namespace or namespace)
        elif isinstance(pattern, URLPattern):
            route = prefix + str(pattern.pattern)
            if namespace:
                yield f"{namespace}:{pattern.name}", route
            elif route.startswith("api/"):
                yield f"api:{pattern.name}", route
            else:
                yield str(pattern.name), route


def test_every_url_has_a_row() -> None:
    keys = {key for key, _ in url_names(get_resolver().url_patterns)}
    missing = sorted(
        key for key in keys if key not in ROUTES and key not in OUTSIDE_PROJECTS and not key.startswith("admin:")
    )
    assert not missing, f"URLs with no row in ROUTES (add one: least role per method): {missing}"
    stale = sorted(set(ROUTES) - keys)
    assert not stale, f"rows of ROUTES whose URL no longer exists: {stale}"


# --- The world every request is aimed at -------------------------------------------------------------


@dataclass
class World:
    """One project holding the secret in every kind of object, and a person of every standing."""

    slug: str
    trace: int
    trace2: int
    step: int
    label: int
    score: int
    problem: int
    model: int
    import_run: int
    export: int
    export_file: str
    queue: int
    preference: int
    queue_item: int
    dashboard: str
    member: int  # the viewer's user id: whose role and membership the member URLs change
    upload: str  # a pending upload no one's session holds: the import pages answer it as gone (410)
    people: dict[str, User | None]


@pytest.fixture
def world(django_user_model) -> Iterator[World]:
    project = Project.objects.create(name=f"{SECRET} project", slug="secretive")
    run = Run.objects.create(project=project, kind=RunKind.IMPORT, name=f"{SECRET}.jsonl", status=RunStatus.SUCCEEDED)
    parsed = ParsedTrace(
        line_no=1, prompt=f"{SECRET} problem", text=f"{SECRET} completion", model_name=f"{SECRET}-model",
        reference_answer="4", steps=[ParsedStep(text=f"{SECRET} step", label=-1), ParsedStep(text="4")],
        label_source="import:test",
    )  # fmt: skip
    other = ParsedTrace(line_no=2, prompt=parsed.prompt, text=f"{SECRET} other", model_name="second-model",
                        reference_answer="4", steps=[ParsedStep(text=f"{SECRET} other step")])  # fmt: skip
    first, second = store_traces(project, run, [parsed, other]).trace_ids
    trace = Trace.objects.get(pk=first)
    queue = Queue.objects.create(project=project, name=f"{SECRET} queue", instructions=SECRET)
    item = QueueItem.objects.create(queue=queue, trace=trace, position=0)
    step = Step.objects.filter(trace=trace).order_by("index").first()
    export = Run.objects.create(
        project=project, kind=RunKind.EXPORT, name=SECRET, status=RunStatus.SUCCEEDED,
        params=ExportSpec("trl", LabelPolicy(sources="human")).as_params(),
        report={"files": [{"split": "train", "name": "train.jsonl", "rows": 1}]},
    )  # fmt: skip
    folder = export_dir(export)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.jsonl").write_text(json.dumps({"prompt": SECRET}) + "\n")
    (folder / "manifest.json").write_text(json.dumps({"secret": SECRET}))
    people: dict[str, User | None] = {"anonymous": None}
    # No passwords: sessions come from force_login and API calls from tokens (hashing is slow on purpose).
    people["non-member"] = django_user_model.objects.create_user("stranger")
    for role in Role:
        people[role] = django_user_model.objects.create_user(f"the-{role}")
        Membership.objects.create(project=project, user=people[role], role=role)
    # The stranger has a project of their own: "no data" must not mean "no project at all".
    own = Project.objects.create(name="Stranger's", slug="strangers")
    Membership.objects.create(project=own, user=people["non-member"], role=Role.OWNER)
    yield World(
        slug=project.slug,
        trace=trace.pk,
        trace2=second,
        step=step.pk,
        label=Label.objects.get(step=step).pk,
        score=Score.objects.create(trace=trace, name="secret-score", value=0.5).pk,
        problem=Problem.objects.filter(project=project).first().pk,
        model=LanguageModel.objects.filter(project=project).first().pk,
        import_run=run.pk,
        export=export.pk,
        export_file="manifest",
        queue=queue.pk,
        preference=Preference.objects.create(trace_a=trace, trace_b_id=second, choice="a", reason=SECRET).pk,
        queue_item=item.pk,
        dashboard="annotation",
        member=people[Role.VIEWER].pk,
        upload="0" * 32,
        people=people,
    )
    shutil.rmtree(folder, ignore_errors=True)


def client_of(world: World, person: str, is_api: bool) -> Client:
    """A browser session for UI rows; a token (per user, DRF authtoken) for API rows."""
    client = Client()
    user = world.people[person]
    if user is not None:
        if is_api:
            token, _ = Token.objects.get_or_create(user=user)
            client = Client(HTTP_AUTHORIZATION=f"Token {token.key}")
        else:
            client.force_login(user)
    return client


def resolve(value: Any, world: World) -> Any:
    if isinstance(value, str) and value.startswith("@"):
        return getattr(world, value[1:])
    if isinstance(value, dict):
        return {key: resolve(item, world) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, world) for item in value]
    return value


def url_of(world: World, key: str) -> str:
    row = ROUTES[key]
    name = key.removeprefix("api:")
    kwargs = {param: getattr(world, attr) for param, attr in row.path.items()}
    # API and UI share some names (trace-list): API names are reversed in the API's own URLconf.
    url = (
        "/api" + reverse(name, urlconf="traces.api.urls", kwargs=kwargs)
        if key != name
        else reverse(name, kwargs=kwargs)
    )
    if row.query:
        url += "?" + re.sub(r"@(\w+)", lambda match: str(getattr(world, match[1])), row.query)
    return url


def request(world: World, key: str, method: str, person: str, client: Client | None = None) -> Any:
    """Send ``method`` to the row's URL as ``person`` (or with ``client``), with the row's body."""
    is_api = key.startswith("api:")
    url = url_of(world, key)
    body = resolve(ROUTES[key].body.get(method, {}), world)
    client = client or client_of(world, person, is_api)
    if any(isinstance(value, bytes) for value in body.values()):  # an upload: multipart
        files = {
            key: SimpleUploadedFile(f"{key}.jsonl", value) for key, value in body.items() if isinstance(value, bytes)
        }
        return client.post(url, {**body, **files})
    if is_api and method != "GET":
        return client.generic(method, url, json.dumps(body), content_type="application/json")
    return client.generic(method, url, body if method == "GET" else _form(body),
                          content_type="application/x-www-form-urlencoded")  # fmt: skip


def _form(body: dict[str, Any]) -> str:
    from urllib.parse import urlencode

    return urlencode(body)


def content(response: Any) -> bytes:
    return b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content


# --- The matrix ----------------------------------------------------------------------------------------


def cases() -> Iterator[Any]:
    for key, row in ROUTES.items():
        for method, least in row.methods.items():
            for person in PERSONS:
                yield pytest.param(key, method, least, person, id=f"{key}-{method}-{person}")


@pytest.mark.parametrize(("key", "method", "least", "person"), list(cases()))
def test_access(world: World, key: str, method: str, least: str, person: str) -> None:
    response = request(world, key, method, person)
    body = content(response)
    status = response.status_code
    is_api = key.startswith("api:")
    where = f"{method} {key} as {person}: {status}"
    assert status < 500, where
    if least == PUBLIC:
        assert status not in (401, 403, 404), where
    elif person == "anonymous":
        if is_api:
            assert status in (401, 403), where
        else:
            assert status == 302 and response["Location"].startswith(reverse("login")), where
        assert SECRET.encode() not in body, f"{where} shows the project's data"
    elif least == STAFF:
        assert status == 403, where
    elif person == "non-member":
        if least == SIGNED_IN:
            assert status not in (401, 403, 404), where
        else:
            assert status in ((400, 403, 404) if is_api else (404,)), where
        assert SECRET.encode() not in body, f"{where} shows the project's data"
    elif least == SIGNED_IN or ROLE_RANK[Role(person)] >= ROLE_RANK[Role(least)]:
        assert status not in (401, 403, 404), f"{where}: {body[:300]!r}"
    else:
        assert status == 403, where


# --- CSRF: every write through a browser session needs the token ---------------------------------------


def writes() -> Iterator[Any]:
    for key, row in ROUTES.items():
        for method in row.methods:
            if method != "GET":
                yield pytest.param(key, method, id=f"{key}-{method}")


@pytest.mark.parametrize(("key", "method"), list(writes()))
def test_a_session_write_without_the_csrf_token_is_refused(world: World, key: str, method: str) -> None:
    """UI forms and API calls authenticated by the session cookie (DRF's SessionAuthentication)."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.people[Role.OWNER])
    response = request(world, key, method, Role.OWNER, client=client)
    assert response.status_code == 403 and b"CSRF" in content(response), f"{method} {key}: {response.status_code}"


def test_the_login_form_needs_the_csrf_token(world: World) -> None:
    response = Client(enforce_csrf_checks=True).post(reverse("login"), {"username": "x", "password": "y"})
    assert response.status_code == 403
