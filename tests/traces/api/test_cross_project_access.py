"""Every API endpoint, called by a member of another project on this project's objects, answers
403 or 404 and never returns its data (issue 7, item 5).

The endpoints come from the OpenAPI schema, so a new endpoint is covered as soon as it is routed:
the test fails until ``secret_alpha`` (which alpha object a path parameter names) or ``bodies`` (what
a write sends) say how to aim it at alpha. A write that names alpha's objects in its body gets
DRF's 400 "does not exist", exactly what it gets for an object that does not exist at all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from app.scorers import DeclaredScorer
from traces.actions.store import store_traces
from traces.formats.base import ParsedStep, ParsedTrace
from traces.models import (
    Label,
    LanguageModel,
    Membership,
    Preference,
    Problem,
    Project,
    Queue,
    QueueAssignment,
    QueueItem,
    Role,
    Run,
    RunKind,
    Score,
    Step,
    Trace,
)

pytestmark = pytest.mark.django_db

SECRET = "ALPHA-SECRET-7f3a"
MISSING_ID = 2**31 - 1

#: Endpoints that do not read or write an existing project's objects.
NOT_PROJECT_SCOPED = {
    ("/api/projects/", "post"),
    ("/api/schema/", "get"),
    ("/api/auth/token/", "post"),  # the caller's own token (tests/security/test_api_tokens.py)
    ("/api/auth/token/", "delete"),
}


@pytest.fixture
def secret_alpha(alpha: Project, make_user) -> dict[str, Any]:
    """Alpha with one object of every kind that holds the secret, by resource name."""
    run = Run.objects.create(project=alpha, kind=RunKind.IMPORT, name=f"{SECRET}.jsonl")
    secret = ParsedTrace(
        line_no=1, prompt=f"{SECRET} prompt", text=f"{SECRET} completion", model_name=f"{SECRET}-model",
        steps=[ParsedStep(text=f"{SECRET} step", label=-1)], label_source="import:test",
    )  # fmt: skip
    store_traces(alpha, run, [secret])
    trace = Trace.objects.get(run=run)
    step = Step.objects.get(trace=trace)
    score = Score.objects.create(trace=trace, name=SECRET, value=0.5)
    export = Run.objects.create(project=alpha, kind=RunKind.EXPORT, name=SECRET, params={"format": "trl"})
    pair_run = Run.objects.create(project=alpha, kind=RunKind.IMPORT, name="pair.jsonl")
    other = ParsedTrace(line_no=1, prompt=f"{SECRET} prompt", text="other completion", model_name=f"{SECRET}-model")
    store_traces(alpha, pair_run, [other])  # a second trace of the same problem, for a preference
    paired = Trace.objects.get(run=pair_run)
    low, high = sorted((trace, paired), key=lambda t: t.pk)
    preference = Preference.objects.create(trace_a=low, trace_b=high, choice="a", reason=SECRET)
    queue = Queue.objects.create(project=alpha, name=SECRET)
    QueueItem.objects.create(queue=queue, trace=trace, position=0)
    member = make_user(f"{SECRET}-member")
    Membership.objects.create(project=alpha, user=member, role=Role.OWNER)
    return {
        "queues": queue.pk,
        "exports": export.pk,
        "imports": run.pk,
        "labels": Label.objects.get(step=step).pk,
        "preferences": preference.pk,
        "paired_trace": paired.pk,
        "models": LanguageModel.objects.get(project=alpha, name=f"{SECRET}-model").pk,
        "problems": Problem.objects.get(prompt__startswith=SECRET).pk,
        "projects": alpha.slug,
        "runs": run.pk,
        "scores": score.pk,
        "traces": trace.pk,
        "step": step.pk,
        "user_id": member.pk,  # a member of alpha, as /api/projects/{slug}/members/{user_id}/ names them
    }


def bodies(objects: dict[str, Any]) -> dict[tuple[str, str], Callable[[], dict[str, Any]]]:
    """What each write sends, aimed at alpha; each call builds a fresh body (uploads are read once)."""
    return {
        ("/api/exports/", "post"): lambda: {"project": "alpha", "format": "trl", "policy": {"sources": "human"}},
        ("/api/prms/train/", "post"): lambda: {"project": "alpha", "max_steps": 1},
        ("/api/prms/score/", "post"): lambda: {"project": "alpha", "scorer": "alpha-only"},
        ("/api/imports/", "post"): lambda: {
            "project": "alpha",
            "format": "jsonl",
            "file": SimpleUploadedFile("x.jsonl", b'{"prompt": "p", "completion": "c"}\n'),
        },  # fmt: skip
        ("/api/labels/", "post"): lambda: {"step": objects["step"], "value": 1},
        ("/api/labels/bulk/", "post"): lambda: {"labels": [{"step": objects["step"], "value": 1}]},
        ("/api/models/", "post"): lambda: {"project": "alpha", "name": "intruder"},
        ("/api/runs/", "post"): lambda: {"project": "alpha", "model": f"{SECRET}-model"},
        ("/api/runs/{id}/cancel/", "post"): dict,
        ("/api/runs/{id}/resume/", "post"): dict,
        ("/api/queues/{id}/next/", "post"): dict,
        ("/api/projects/{slug}/members/", "post"): lambda: {"user": "owner-beta", "role": "owner"},
        ("/api/projects/{slug}/members/{user_id}/", "patch"): lambda: {"role": "viewer"},
        ("/api/projects/{slug}/members/{user_id}/", "delete"): dict,
        ("/api/preferences/", "post"): lambda: {
            "trace_a": objects["traces"], "trace_b": objects["paired_trace"], "choice": "a"
        },  # fmt: skip
    }


def endpoints() -> list[tuple[str, str]]:
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    return sorted((path, method) for path, operations in paths.items() for method in operations)


def aimed_at_alpha(path: str, objects: dict[str, Any]) -> str:
    resource = path.split("/")[2]
    if "{" in path and resource not in objects:
        pytest.fail(f"{path}: say which alpha object its parameter names (secret_alpha in this test)")
    return re.sub(r"\{([^}]+)\}", lambda match: str(objects.get(match[1], objects.get(resource))), path)


def alpha_ids(path: str) -> set[int]:
    """The ids of alpha's rows that the list ``path`` could return."""
    resource = path.split("/")[2]
    alpha = {"project__slug": "alpha"}
    querysets = {
        "exports": Run.objects.filter(kind=RunKind.EXPORT, **alpha),
        "labels": Label.objects.filter(trace__project__slug="alpha"),
        "models": LanguageModel.objects.filter(**alpha),
        "preferences": Preference.objects.filter(trace_a__project__slug="alpha"),
        "problems": Problem.objects.filter(**alpha),
        "queues": Queue.objects.filter(**alpha),
        "projects": Project.objects.filter(slug="alpha"),
        "runs": Run.objects.filter(**alpha),
        "scores": Score.objects.filter(trace__project__slug="alpha"),
        "traces": Trace.objects.filter(**alpha),
    }
    if resource not in querysets:
        pytest.fail(f"{path}: say which of alpha's rows it could list (alpha_ids in this test)")
    ids = set(querysets[resource].values_list("id", flat=True))
    assert ids, f"alpha has no {resource}: the test would prove nothing"
    return ids


def rows(response: Any) -> list[Any]:
    """A list response's rows, paginated (``results``) or not."""
    body = response.json()
    return body["results"] if isinstance(body, dict) else body


def leaks(response: Any) -> bool:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return SECRET.encode() in content


def state() -> tuple[int, ...]:
    """What a refused write must leave unchanged."""
    return (
        Label.objects.count(),
        LanguageModel.objects.count(),
        Run.objects.count(),
        Project.objects.count(),
        Preference.objects.count(),
        QueueAssignment.objects.count(),
        *Run.objects.order_by("pk").values_list("status", flat=True),
        *Membership.objects.order_by("pk").values_list("role", flat=True),
    )


def test_every_endpoint_refuses_another_projects_member(secret_alpha, beta, client_for, settings) -> None:
    # A scorer open to alpha alone: asking for alpha's scorers is refused (400) and never names it.
    settings.PRM_SCORERS = {
        "alpha-only": DeclaredScorer(name="alpha-only", path="/x", convention="step_tag", projects=("alpha",)),
        "shared": DeclaredScorer(name="shared", path="/y", convention="step_tag"),
    }
    outsider: APIClient = client_for(beta, Role.OWNER)
    writes = bodies(secret_alpha)
    query = {"file": "train", "method": "import:test", "reference": "import:test"}
    checked = []
    for path, method in endpoints():
        if (path, method) in NOT_PROJECT_SCOPED:
            continue
        url = aimed_at_alpha(path, secret_alpha)
        if method == "get":
            response = outsider.get(url, query)
            if "{" in path:
                assert response.status_code in (403, 404), f"GET {url}: {response.status_code}"
            else:  # a list: the outsider's own rows only, also when filtering on alpha
                filtered = outsider.get(
                    url, {"project": "alpha", "project__slug": "alpha", "trace": secret_alpha["traces"]}
                )
                for listed in (response, filtered):
                    if path == "/api/prms/":  # one project's scorers, named: alpha's is refused, never listed
                        assert listed.status_code == 400 and "alpha-only" not in listed.content.decode(), url
                        continue
                    assert listed.status_code == 200, f"GET {url}: {listed.status_code}"
                    ids = {row["id"] for row in rows(listed)}
                    assert not ids & alpha_ids(path), f"GET {url} lists alpha's rows"
                    assert not leaks(listed)
        else:
            if (path, method) not in writes:
                pytest.fail(f"{method.upper()} {path}: say what it sends (bodies() in this test)")
            before = state()
            body = writes[path, method]()
            fmt = "multipart" if any(isinstance(v, SimpleUploadedFile) for v in body.values()) else "json"
            response = getattr(outsider, method)(url, body, format=fmt)
            assert response.status_code in (400, 403, 404), f"{method.upper()} {url}: {response.status_code}"
            if response.status_code == 400:
                assert "does not exist" in json.dumps(response.json()), f"{method.upper()} {url}: {response.json()}"
            assert state() == before, f"{method.upper()} {url} changed the database"
        assert not leaks(response), f"{method.upper()} {url} returned alpha's data"
        checked.append((path, method))
    assert {path for path, _ in checked} >= {
        "/api/traces/{id}/",
        "/api/exports/{id}/download/",
        "/api/projects/{slug}/evaluate/",
        "/api/projects/{slug}/members/{user_id}/",
    }


def test_a_foreign_id_in_a_filter_reads_like_a_missing_one(secret_alpha, beta, client_for) -> None:
    outsider: APIClient = client_for(beta, Role.OWNER)
    for url, name in (
        ("/api/labels/", "trace"),
        ("/api/labels/", "step"),
        ("/api/scores/", "trace"),
        ("/api/preferences/", "trace"),
        ("/api/traces/", "run"),
    ):
        key = "step" if name == "step" else ("runs" if name == "run" else "traces")
        foreign = outsider.get(url, {name: secret_alpha[key]})
        missing = outsider.get(url, {name: MISSING_ID})
        assert (foreign.status_code, rows(foreign)) == (missing.status_code, rows(missing)) == (200, [])
