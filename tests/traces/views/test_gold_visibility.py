"""Gold items measure annotators, so their known labels stay hidden from them (issue 6 §2) wherever
the labels are shown: the trace viewer, the labeling page, the comparison page and the labels API.
Reviewers and owners see them; once the queue is closed, so does everyone."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from traces.actions.store import store_traces
from traces.formats.base import ParsedStep, ParsedTrace
from traces.models import Label, Membership, Project, Queue, QueueItem, Role, Run, RunKind, Trace

GOLD = "import:gold-source"


@pytest.fixture
def gold_queue(project: Project) -> Queue:
    run = Run.objects.create(project=project, kind=RunKind.IMPORT, name="gold.jsonl")
    parsed = [
        ParsedTrace(line_no=i, prompt="What is 2 + 2?", reference_answer="4", text=f"sample {i}", model_name="m",
                    steps=[ParsedStep(text=f"2 + 2 = 4 ({i})", label=1), ParsedStep(text="The answer is 4.", label=-1)],
                    label_source=GOLD)
        for i in range(2)
    ]  # fmt: skip
    store_traces(project, run, parsed)
    queue = Queue.objects.create(project=project, name="with gold")
    for position, trace in enumerate(Trace.objects.filter(run=run).order_by("pk")):
        QueueItem.objects.create(queue=queue, trace=trace, position=position, gold_source=GOLD)
    return queue


def client_as(make_user, project: Project, role: Role) -> Client:  # type: ignore[no-untyped-def]
    user = make_user(f"person-{role}")
    Membership.objects.create(project=project, user=user, role=role)
    client = Client()
    client.force_login(user)
    return client


def pages(project: Project) -> list[str]:
    first, second = Trace.objects.filter(project=project).order_by("pk")
    return [
        reverse("trace-detail", args=[project.slug, first.pk]),
        reverse("trace-label", args=[project.slug, first.pk]),
        reverse("trace-compare", args=[project.slug]) + f"?traces={first.pk},{second.pk}",
    ]


@pytest.mark.parametrize(("role", "sees_gold"), [(Role.ANNOTATOR, False), (Role.REVIEWER, True), (Role.OWNER, True)])
def test_pages_hide_gold_labels_from_annotators_only(project, gold_queue, make_user, role, sees_gold) -> None:  # type: ignore[no-untyped-def]
    client = client_as(make_user, project, role)
    for url in pages(project):
        response = client.get(url)
        assert response.status_code == 200, url
        assert (GOLD in response.content.decode()) == sees_gold, url


def test_the_labels_api_hides_gold_from_annotators(project, gold_queue, make_user) -> None:  # type: ignore[no-untyped-def]
    def labels_seen(role: Role) -> set[str]:
        user = make_user(f"api-{role}")
        Membership.objects.create(project=project, user=user, role=role)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        return {row["source"] for row in client.get(reverse("label-list")).json()["results"]}

    assert Label.objects.filter(source=GOLD).count() == 4
    assert labels_seen(Role.ANNOTATOR) == set()
    assert labels_seen(Role.REVIEWER) == {GOLD}


def test_a_closed_queue_no_longer_hides_its_gold(project, gold_queue, make_user) -> None:  # type: ignore[no-untyped-def]
    client = client_as(make_user, project, Role.ANNOTATOR)
    Queue.objects.filter(pk=gold_queue.pk).update(is_open=False)
    assert GOLD in client.get(pages(project)[0]).content.decode()
