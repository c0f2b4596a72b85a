"""The queue API (issue 6 item 2): read queues of one's projects, ask for the next item."""

from __future__ import annotations

import pytest
from django.urls import reverse

from traces.actions.queues import QueueSpec, do_create_queue
from traces.models import QueueAssignment, QueueItem, Role, Trace

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue(alpha):
    traces = Trace.objects.filter(project=alpha).order_by("-id")[:2]
    spec = QueueSpec(name="two", overlap=1, gold_source="import:test", gold_count=1)
    return do_create_queue(alpha, None, spec, Trace.objects.filter(pk__in=[t.pk for t in traces]), {})


def test_queues_are_listed_for_members_only(client_for, alpha, beta, queue) -> None:
    viewer = client_for(alpha, Role.VIEWER)
    body = viewer.get(reverse("queue-list")).json()
    assert [row["name"] for row in body["results"]] == ["two"] and body["results"][0]["project"] == "alpha"
    outsider = client_for(beta, Role.OWNER)
    assert outsider.get(reverse("queue-list")).json()["results"] == []
    assert outsider.get(reverse("queue-detail", args=[queue.pk])).status_code == 404
    assert outsider.post(reverse("queue-next", args=[queue.pk])).status_code == 404


def test_next_hands_out_items_and_never_says_which_are_gold(client_for, alpha, queue) -> None:
    ann = client_for(alpha, Role.ANNOTATOR, "ann")
    first = ann.post(reverse("queue-next", args=[queue.pk]))
    assert first.status_code == 200
    item = QueueItem.objects.get(pk=first.json()["id"])
    assert first.json() == {
        "id": item.pk,
        "queue": queue.pk,
        "position": 1,
        "trace": item.trace_id,
        "done_count": 0,
        "labeling_url": f"http://testserver/p/alpha/traces/{item.trace_id}/label/?queue={queue.pk}",
    }
    assert ann.post(reverse("queue-next", args=[queue.pk])).json()["id"] == item.pk  # resumes it
    bob = client_for(alpha, Role.ANNOTATOR, "bob")
    assert bob.post(reverse("queue-next", args=[queue.pk])).json()["position"] == 2
    cat = client_for(alpha, Role.ANNOTATOR, "cat")
    assert cat.post(reverse("queue-next", args=[queue.pk])).status_code == 204  # overlap 1: both are held


def test_viewers_may_not_take_items(client_for, alpha, queue) -> None:
    viewer = client_for(alpha, Role.VIEWER)
    assert viewer.post(reverse("queue-next", args=[queue.pk])).status_code == 403
    assert not QueueAssignment.objects.exists()
