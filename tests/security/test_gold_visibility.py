"""Gold labels stay hidden from annotators and viewers on every surface (``traces.access``, "Gold labels").

One table, ``SURFACES``: each row requests one surface through the real test client and returns what
the person sees of the gold source, for reviewers and owners (``shown``) and for annotators and
viewers (``hidden``). Each is requested as every role, with the gold queue open and closed. A
surface about one trace is asked about a gold item and about a plain item of the same queue that
carries the same source's labels: both must look the same, so that neither the gold labels nor
which items are gold can be read, by presence or by absence.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from traces.actions.exports import ExportSpec, do_export
from traces.actions.labels import do_rate_step
from traces.actions.store import store_traces
from traces.exports.policy import LabelPolicy
from traces.formats.base import ParsedStep, ParsedTrace
from traces.models import HUMAN, Label, Membership, Project, Queue, QueueItem, Role, Run, RunKind, Step, Trace

pytestmark = pytest.mark.django_db

GOLD = "import:gold-set"


@dataclass(frozen=True)
class World:
    """A project whose queue has gold items: ``gold`` (a gold item nobody labelled), ``twin`` (a
    plain item with the same source's labels), ``scored`` (a gold item an annotator labelled),
    ``plain`` (no labels), all of one problem; an export of the gold source."""

    project: Project
    queue: Queue
    gold: Trace
    twin: Trace
    scored: Trace
    plain: Trace
    export: Run


def sample(line_no: int, name: str, gold_labels: bool) -> ParsedTrace:
    steps = [ParsedStep(text=f"2 + 2 = 4 ({name})", label=1), ParsedStep(text="The answer is 5.", label=-1)]
    if not gold_labels:
        steps = [ParsedStep(text=step.text) for step in steps]
    return ParsedTrace(
        line_no=line_no, prompt="What is 2 + 2?", reference_answer="4", text=f"sample {name}", model_name="m",
        steps=steps, first_error=1 if gold_labels else None, label_source=GOLD if gold_labels else "",
    )  # fmt: skip


def member(project: Project, username: str, role: Role) -> User:
    """A member without a password (none is hashed: the clients sign in with ``force_login``)."""
    user = User.objects.create(username=username)
    Membership.objects.create(project=project, user=user, role=role)
    return user


def build_world(project: Project, *, queue_open: bool) -> World:
    run = Run.objects.create(project=project, kind=RunKind.IMPORT, name="gold.jsonl")
    names = {"gold": True, "twin": True, "scored": True, "plain": False}
    store_traces(project, run, [sample(i, name, labelled) for i, (name, labelled) in enumerate(names.items())])
    traces = {name: Trace.objects.get(project=project, raw_text__contains=name) for name in names}
    queue = Queue.objects.create(project=project, name="with gold", is_open=queue_open)
    order = [("plain", ""), ("gold", GOLD), ("twin", ""), ("scored", GOLD)]
    for position, (name, gold_source) in enumerate(order, start=1):
        QueueItem.objects.create(queue=queue, trace=traces[name], position=position, gold_source=gold_source)
    labeller = member(project, "labeller", Role.ANNOTATOR)
    for step in Step.objects.filter(trace=traces["scored"]):
        do_rate_step(labeller, step, 1)
    export = Run.objects.create(
        project=project,
        kind=RunKind.EXPORT,
        name="gold export",
        params=ExportSpec("prm800k", LabelPolicy(sources=GOLD)).as_params(),
    )
    do_export(export)
    return World(project, queue, traces["gold"], traces["twin"], traces["scored"], traces["plain"], export)


# --- What each surface shows of the gold source -------------------------------------------------------


def api_trace_detail(client: Client, world: World, trace: Trace) -> list[str]:
    """The sources of the step labels and annotations of ``GET /api/traces/<id>/``."""
    body = client.get(f"/api/traces/{trace.pk}/").json()
    labels = [label["source"] for step in body["steps"] for label in step["labels"]]
    return sorted(labels + [annotation["source"] for annotation in body["annotations"]])


def api_labels_of_trace(client: Client, world: World, trace: Trace) -> list[str]:
    """The sources of ``GET /api/labels/?trace=<id>``."""
    return sorted(row["source"] for row in client.get("/api/labels/", {"trace": trace.pk}).json()["results"])


def api_labels_by_source(client: Client, world: World, trace: Trace) -> bool:
    """Whether the trace is among those ``GET /api/labels/?source=<gold>`` lists."""
    rows = client.get("/api/labels/", {"source": GOLD, "page_size": 500}).json()["results"]
    return trace.pk in {row["trace"] for row in rows}


def api_has_labels(client: Client, world: World, trace: Trace) -> tuple[bool, bool]:
    """The trace's ``has_labels``, and whether ``GET /api/traces/?has_labels=true`` lists it."""
    listed = client.get("/api/traces/", {"has_labels": "true", "page_size": 500}).json()["results"]
    return client.get(f"/api/traces/{trace.pk}/").json()["has_labels"], trace.pk in {row["id"] for row in listed}


def api_evaluate_labeled(client: Client, world: World, trace: Trace) -> int:
    """How many traces an evaluation reads when filtered to this one trace and to labeled traces."""
    query = {"method": HUMAN, "reference": HUMAN, "labeled": "yes", "q": trace.raw_text}
    return int(client.get(f"/api/projects/{world.project.slug}/evaluate/", query).json()["traces_read"])


def page_text(client: Client, url: str) -> str:
    return client.get(url).content.decode()


def viewer_page(client: Client, world: World, trace: Trace) -> bool:
    return GOLD in page_text(client, reverse("trace-detail", args=[world.project.slug, trace.pk]))


def labeling_page(client: Client, world: World, trace: Trace) -> bool:
    return GOLD in page_text(client, reverse("trace-label", args=[world.project.slug, trace.pk]))


def compare_page(client: Client, world: World, trace: Trace) -> bool:
    url = reverse("trace-compare", args=[world.project.slug]) + f"?traces={trace.pk},{world.plain.pk}"
    return GOLD in page_text(client, url)


def accept_key(client: Client, world: World, trace: Trace) -> str | None:
    """Press ``a`` on the first step outside the queue: the source the person's label was accepted from."""
    step = Step.objects.filter(segmentation_id=trace.current_segmentation_id).order_by("index").first()
    url = reverse("trace-label-step", args=[world.project.slug, trace.pk])
    client.post(url, {"action": "accept", "step": step.pk})
    mine = Label.objects.filter(step=step, source=HUMAN, user__username=client.username).first()
    return mine.params["accepted"]["source"] if mine else None


def trace_list(client: Client, world: World, trace: Trace) -> tuple[int, bool]:
    """The trace's label count in the trace list, and whether the "labeled" filter lists it."""
    url = reverse("trace-list", args=[world.project.slug])
    rows = {row.pk: row for row in client.get(url).context["page"].traces}
    labeled = {row.pk for row in client.get(url, {"labeled": "yes"}).context["page"].traces}
    return rows[trace.pk].label_count, trace.pk in labeled


def api_export_download(client: Client, world: World, trace: None) -> int:
    return client.get(f"/api/exports/{world.export.pk}/download/", {"file": "train"}).status_code


def export_file_page(client: Client, world: World, trace: None) -> int:
    return client.get(reverse("export-job-file", args=[world.project.slug, world.export.pk, "train"])).status_code


def api_evaluate(client: Client, world: World, trace: None) -> int:
    query = {"method": GOLD, "reference": HUMAN}
    return client.get(f"/api/projects/{world.project.slug}/evaluate/", query).status_code


def evaluation_page(client: Client, world: World, trace: None) -> bool:
    """Whether the page shows figures of the gold source against people's labels."""
    url = reverse("label-evaluation", args=[world.project.slug])
    return client.get(url, {"method": GOLD, "reference": HUMAN}).context["evaluation"] is not None


def agreement_page(client: Client, world: World, trace: None) -> bool:
    return GOLD in page_text(client, reverse("queue-agreement", args=[world.project.slug, world.queue.pk]))


def annotation_dashboard(client: Client, world: World, trace: None) -> tuple[bool, int]:
    """Whether the dashboard's data names the gold source, and its gold accuracy rows."""
    body = client.get(reverse("dashboard-data", args=[world.project.slug, "annotation"])).json()
    charts = {chart["id"]: chart for chart in body["charts"]}
    return GOLD in json.dumps(body), len(charts["gold_accuracy"]["rows"]) if "gold_accuracy" in charts else 0


@dataclass(frozen=True)
class Surface:
    """What the surface shows reviewers and owners, and what annotators and viewers get instead."""

    probe: Callable[[Client, World, Any], Any]
    shown: Any
    hidden: Any
    per_trace: bool = True


SURFACES: dict[str, Surface] = {
    "api trace detail": Surface(api_trace_detail, shown=[GOLD] * 3, hidden=[]),
    "api labels of a trace": Surface(api_labels_of_trace, shown=[GOLD] * 2, hidden=[]),
    "api labels by source": Surface(api_labels_by_source, shown=True, hidden=False),
    "api has_labels and its filter": Surface(api_has_labels, shown=(True, True), hidden=(False, False)),
    "api evaluation filtered to labeled": Surface(api_evaluate_labeled, shown=1, hidden=0),
    "trace viewer": Surface(viewer_page, shown=True, hidden=False),
    "labeling page suggestions": Surface(labeling_page, shown=True, hidden=False),
    "accept key outside the queue": Surface(accept_key, shown=GOLD, hidden=None),
    "compare page": Surface(compare_page, shown=True, hidden=False),
    "trace list counts and labeled filter": Surface(trace_list, shown=(2, True), hidden=(0, False)),
    "api export download": Surface(api_export_download, shown=200, hidden=403, per_trace=False),
    "export file download": Surface(export_file_page, shown=200, hidden=403, per_trace=False),
    "api evaluation of the gold source": Surface(api_evaluate, shown=200, hidden=403, per_trace=False),
    "evaluation page": Surface(evaluation_page, shown=True, hidden=False, per_trace=False),
    "queue agreement page": Surface(agreement_page, shown=True, hidden=False, per_trace=False),
    "annotation dashboard": Surface(annotation_dashboard, shown=(True, 1), hidden=(False, 0), per_trace=False),
}

SEES_GOLD = {Role.OWNER: True, Role.REVIEWER: True, Role.ANNOTATOR: False, Role.VIEWER: False}


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path
    return tmp_path


@pytest.mark.parametrize("queue_open", [True, False], ids=["open queue", "closed queue"])
@pytest.mark.parametrize("role", list(SEES_GOLD))
@pytest.mark.parametrize("name", list(SURFACES))
def test_gold_is_shown_to_reviewers_and_owners_only(project, name, role, queue_open) -> None:
    world = build_world(project, queue_open=queue_open)
    surface = SURFACES[name]
    expected = surface.shown if SEES_GOLD[role] else surface.hidden

    def seen(trace: Trace | None) -> Any:
        person = member(project, f"{role}-{trace.pk if trace else 'project'}", role)
        client = Client()
        client.force_login(person)
        client.username = person.username
        return surface.probe(client, world, trace)

    if surface.per_trace:
        assert (seen(world.gold), seen(world.twin)) == (expected, expected)
    else:
        assert seen(None) == expected
