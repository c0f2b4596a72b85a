"""The adjudication pages (issue 6 items 3 and 5): disagreements side by side, one click records the
adjudicated label, a save from an outdated page is refused with 409 and changes nothing, roles."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from trace_factory import LabelSpec, TraceSpec

from traces.actions.queues import QueueSpec, do_create_queue
from traces.models import ADJUDICATED, HUMAN, Label, Queue, Role, Step, Trace

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(project, make_user, make_traces):
    """A queue of one trace of four steps labelled by ann and bob, who disagree on steps 2 and 4."""
    ann, bob = make_user("ann"), make_user("bob")
    ann_values, bob_values = [1, 1, 0, 1], [1, -1, 0, -1]
    labels = [LabelSpec(i, v, source=HUMAN, user=ann) for i, v in enumerate(ann_values)]
    labels += [LabelSpec(i, v, source=HUMAN, user=bob) for i, v in enumerate(bob_values)]
    trace = make_traces([TraceSpec(key="t", steps=["s1", "s2 <b>bold</b>", "s3", "s4"], labels=labels)])["t"]
    queue = do_create_queue(project, None, QueueSpec(name="q", overlap=2), Trace.objects.all(), {})
    return queue, trace


def page_url(queue: Queue, trace: Trace) -> str:
    return reverse("queue-adjudicate-trace", args=[queue.project.slug, queue.pk, trace.pk])


def version_of(body: str) -> str:
    found = re.search(r'name="version" value="([0-9a-f]+)"', body)
    assert found is not None
    return found.group(1)


def step(trace: Trace, index: int) -> Step:
    return Step.objects.get(trace=trace, index=index)


def test_the_list_counts_disagreements_and_the_page_shows_them_side_by_side(setup, member) -> None:
    queue, trace = setup
    reviewer = member("rita", Role.REVIEWER)[1]
    listing = reviewer.get(reverse("queue-adjudication", args=["test", queue.pk])).content.decode()
    assert re.search(r'<td class="num">2</td>\s*<td class="num">2</td>\s*<td class="num">0 / 2</td>', listing)
    body = reviewer.get(page_url(queue, trace)).content.decode()
    assert "2 steps where ann, bob disagree" in body
    rows = re.findall(r'<tr id="adjudicate-step-(\d+)"', body)
    assert rows == ["2", "4"]  # the agreeing steps 1 and 3 are not shown
    row_two = body.split('id="adjudicate-step-2"')[1].split("</tr>")[0]
    assert "s2 &lt;b&gt;bold&lt;/b&gt;" in row_two  # model text is escaped
    ratings = re.findall(r'class="rating rating-(\w+)"', row_two)
    assert ratings[:2] == ["pos", "neg"]  # ann +1, bob −1, in the labelers' order


def test_one_click_records_the_adjudicated_label_and_returns_the_fragment(setup, member) -> None:
    queue, trace = setup
    reviewer = member("rita", Role.REVIEWER)[1]
    opened = version_of(reviewer.get(page_url(queue, trace)).content.decode())
    data = {"step": step(trace, 1).pk, "value": -1, "version": opened}
    response = reviewer.post(page_url(queue, trace), data, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200 and body.strip().startswith('<section id="adjudication"')  # the fragment alone
    assert "Step 2: adjudicated −1." in body
    assert version_of(body) != opened
    saved = Label.objects.get(source=ADJUDICATED)
    assert (saved.step_id, saved.value, saved.user.username) == (step(trace, 1).pk, -1, "rita")
    assert 'data-adjudicated="-1"' in body
    # without htmx: the same save, then back to the page
    response = reviewer.post(page_url(queue, trace), {**data, "value": 0, "version": version_of(body)})
    assert response.status_code == 302 and Label.objects.get(source=ADJUDICATED).value == 0


def test_a_save_from_an_outdated_page_is_refused_with_409_and_changes_nothing(setup, member) -> None:
    queue, trace = setup
    first = member("rita", Role.REVIEWER)[1]
    second = member("olga", Role.OWNER)[1]
    opened_by_first = version_of(first.get(page_url(queue, trace)).content.decode())
    opened_by_second = version_of(second.get(page_url(queue, trace)).content.decode())
    assert opened_by_first == opened_by_second
    first.post(page_url(queue, trace), {"step": step(trace, 3).pk, "value": 1, "version": opened_by_first})
    stale = {"step": step(trace, 1).pk, "value": -1, "version": opened_by_second}
    response = second.post(page_url(queue, trace), stale, HTTP_HX_REQUEST="true")
    assert response.status_code == 409
    assert "someone adjudicated this trace since you opened it" in response.content.decode()
    assert response["HX-Retarget"] == "#adjudication-notice"
    assert list(Label.objects.filter(source=ADJUDICATED).values_list("step__index", "value")) == [(3, 1)]
    plain = second.post(page_url(queue, trace), stale)
    assert plain.status_code == 409 and "reload" in plain.content.decode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"value": 5}, "value: Select a valid choice"),
        ({"value": 1, "step": 0}, "step: Select a valid choice"),
        ({"value": 1, "version": ""}, "version: This field is required"),
    ],
)
def test_bad_saves_get_400_naming_the_field(setup, member, data, message) -> None:
    queue, trace = setup
    reviewer = member("rita", Role.REVIEWER)[1]
    version = version_of(reviewer.get(page_url(queue, trace)).content.decode())
    response = reviewer.post(page_url(queue, trace), {"step": step(trace, 1).pk, "version": version, **data})
    assert response.status_code == 400 and message in response.content.decode()
    assert not Label.objects.filter(source=ADJUDICATED).exists()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ANNOTATOR])
def test_annotators_and_viewers_get_403(setup, member, role) -> None:
    queue, trace = setup
    _, client = member("nobody", role)
    assert client.get(reverse("queue-adjudication", args=["test", queue.pk])).status_code == 403
    assert client.get(page_url(queue, trace)).status_code == 403
    response = client.post(page_url(queue, trace), {"step": step(trace, 1).pk, "value": 1, "version": "x"})
    assert response.status_code == 403 and not Label.objects.filter(source=ADJUDICATED).exists()


def test_the_agreement_page_shows_overall_and_pair_figures(setup, member) -> None:
    queue, _ = setup
    viewer = member("vera", Role.VIEWER)[1]
    body = viewer.get(reverse("queue-agreement", args=["test", queue.pk])).content.decode()
    assert 'Steps rated by two or more people</th><td class="num">4' in body
    # first errors: ann none (all rated, no −1) vs bob step 2 → they disagree on the one trace
    assert re.search(r"First-error agreement \(1 trace pair\)</th><td class=\"num\">0.000", body)
    assert "ann · bob" in body
    assert "No automatic labels on this queue" in body
