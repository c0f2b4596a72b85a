"""Queue pages (issue 6 item 2): every permission rule, making a queue from the trace list's filter,
the labeling page in queue context (``n`` submits), gold kept from annotators, progress for reviewers."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from trace_factory import LabelSpec, TraceSpec

from traces.actions.queues import QueueSpec, do_create_queue, next_item_for
from traces.models import (
    HUMAN,
    AssignmentStatus,
    Label,
    Project,
    Queue,
    QueueAssignment,
    QueueItem,
    Role,
    Step,
    Trace,
)

pytestmark = pytest.mark.django_db

GOLD = "import:processbench"
JUDGE = "llm_judge:j"


@pytest.fixture
def traces(make_traces) -> dict[str, Trace]:
    """Four traces: two incorrect (one with a gold label from ProcessBench and a judge suggestion), two correct."""
    return make_traces(
        [
            TraceSpec(key="w1", is_correct=False, labels=[LabelSpec(1, -1, GOLD), LabelSpec(1, 1, JUDGE)]),
            TraceSpec(key="w2", is_correct=False),
            TraceSpec(key="c1", is_correct=True),
            TraceSpec(key="c2", is_correct=True),
        ]
    )  # fmt: skip


@pytest.fixture
def queue(project, owner, traces) -> Queue:
    wrong = Trace.objects.filter(is_correct=False)
    spec = QueueSpec(name="wrong answers", overlap=2, gold_source=GOLD, gold_count=1)
    return do_create_queue(project, owner, spec, wrong, {"correct": "no"})


def item_of(queue: Queue, trace: Trace) -> QueueItem:
    return QueueItem.objects.get(queue=queue, trace=trace)


def queue_urls(queue: Queue, item: QueueItem, trace: Trace) -> dict[str, str]:
    slug, pk = queue.project.slug, queue.pk
    return {
        "list": reverse("queue-list", args=[slug]),
        "new": reverse("queue-new", args=[slug]) + "?correct=no",
        "detail": reverse("queue-detail", args=[slug, pk]),
        "next": reverse("queue-next", args=[slug, pk]),
        "open": reverse("queue-open", args=[slug, pk]),
        "submit": reverse("queue-item-submit", args=[slug, pk, item.pk]),
        "skip": reverse("queue-item-skip", args=[slug, pk, item.pk]),
        "agreement": reverse("queue-agreement", args=[slug, pk]),
        "adjudication": reverse("queue-adjudication", args=[slug, pk]),
        "adjudicate": reverse("queue-adjudicate-trace", args=[slug, pk, trace.pk]),
        "label": reverse("trace-label", args=[slug, trace.pk]) + f"?queue={pk}",
    }


# (endpoint, method, data, least role allowed)
RULES = [
    ("list", "get", {}, Role.VIEWER),
    ("detail", "get", {}, Role.VIEWER),
    ("agreement", "get", {}, Role.VIEWER),
    ("label", "get", {}, Role.ANNOTATOR),
    ("next", "post", {}, Role.ANNOTATOR),
    ("submit", "post", {}, Role.ANNOTATOR),
    ("skip", "post", {}, Role.ANNOTATOR),
    ("new", "get", {}, Role.REVIEWER),
    ("new", "post", {"name": "made", "overlap": 1, "policy": "in_order"}, Role.REVIEWER),
    ("adjudication", "get", {}, Role.REVIEWER),
    ("adjudicate", "get", {}, Role.REVIEWER),
    ("adjudicate", "post", {"step": 0, "value": 1, "version": "x"}, Role.REVIEWER),
    ("open", "post", {"open": "0"}, Role.OWNER),
]
RANK = [Role.VIEWER, Role.ANNOTATOR, Role.REVIEWER, Role.OWNER]


def state() -> tuple[int, int, int, list[bool]]:
    """What a refused request must leave alone."""
    return (
        Queue.objects.count(),
        QueueAssignment.objects.count(),
        Label.objects.exclude(source__in=[GOLD, JUDGE]).count(),
        list(Queue.objects.values_list("is_open", flat=True)),
    )


@pytest.mark.parametrize("endpoint, method, data, least", RULES)
def test_anonymous_is_sent_to_login(client, queue, traces, endpoint, method, data, least) -> None:
    url = queue_urls(queue, item_of(queue, traces["w1"]), traces["w1"])[endpoint]
    response = getattr(client, method)(url, data)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("endpoint, method, data, least", RULES)
def test_non_member_gets_404_and_changes_nothing(outsider_client, queue, traces, endpoint, method, data, least) -> None:
    before = state()
    url = queue_urls(queue, item_of(queue, traces["w1"]), traces["w1"])[endpoint]
    assert getattr(outsider_client, method)(url, data).status_code == 404
    assert state() == before


@pytest.mark.parametrize("role", RANK)
@pytest.mark.parametrize("endpoint, method, data, least", RULES)
def test_each_role_gets_exactly_what_it_may(member, queue, traces, role, endpoint, method, data, least) -> None:
    user, client = member("someone", role)
    item = item_of(queue, traces["w1"])
    if endpoint in ("submit", "skip", "label") and RANK.index(role) >= RANK.index(least):
        QueueAssignment.objects.create(item=item, user=user)  # handed to them, so the request can succeed
    before = state()
    response = getattr(client, method)(queue_urls(queue, item, traces["w1"])[endpoint], data)
    if RANK.index(role) < RANK.index(least):
        assert response.status_code == 403
        assert state() == before
    else:
        assert response.status_code in (200, 302, 400, 409), response.status_code


def test_a_queue_of_another_project_and_an_item_of_another_queue_are_404(member, queue, traces, make_traces) -> None:
    _, client = member("olga", Role.OWNER)
    other = Project.objects.create(name="Other", slug="other")
    theirs = make_traces([TraceSpec(key="elsewhere")], in_project=other)["elsewhere"]
    foreign = do_create_queue(other, None, QueueSpec(name="theirs"), Trace.objects.filter(pk=theirs.pk), {})
    assert client.get(reverse("queue-detail", args=["test", foreign.pk])).status_code == 404
    second = do_create_queue(
        queue.project, None, QueueSpec(name="second"), Trace.objects.filter(pk=traces["c1"].pk), {}
    )
    foreign_item = QueueItem.objects.get(queue=second)
    assert client.post(reverse("queue-item-submit", args=["test", queue.pk, foreign_item.pk])).status_code == 404
    # a trace that is not an item of the queue named in the labeling page's address
    assert client.get(reverse("trace-label", args=["test", traces["c1"].pk]) + f"?queue={queue.pk}").status_code == 404
    assert client.get(reverse("trace-label", args=["test", traces["w1"].pk]) + "?queue=abc").status_code == 404


# --- List and creation --------------------------------------------------------------------------------------


def test_the_list_shows_an_empty_state_then_the_queues_with_progress(member, project, traces) -> None:
    _, annotator = member("ann", Role.ANNOTATOR)
    page = annotator.get(reverse("queue-list", args=[project.slug])).content.decode()
    assert "No queues yet." in page and "A reviewer or owner" in page and "New queue" not in page
    do_create_queue(project, None, QueueSpec(name="all", overlap=3), Trace.objects.all(), {})
    page = annotator.get(reverse("queue-list", args=[project.slug])).content.decode()
    assert '<progress max="12" value="0"' in page and "0 / 12 labelings" in page


def test_the_trace_list_links_to_a_queue_of_its_filter(member_client, project, traces) -> None:
    page = member_client.get(reverse("trace-list", args=[project.slug]) + "?correct=no").content.decode()
    assert f'href="{reverse("queue-new", args=[project.slug])}?correct=no">Make a queue from this filter' in page


def test_a_queue_is_made_of_exactly_what_the_trace_list_shows(member, project, traces) -> None:
    _, reviewer = member("rita", Role.REVIEWER)
    query = "?correct=no&model=&after=999999"
    listed = reviewer.get(reverse("trace-list", args=[project.slug]) + "?correct=no").content.decode()
    shown = [int(pk) for pk in re.findall(r'<td class="num"><a href="/p/test/traces/(\d+)/">', listed)]
    form = reviewer.get(reverse("queue-new", args=[project.slug]) + query).content.decode()
    assert re.search(r"<strong>2</strong> traces of Test project\s+match the filter", form)
    data = {"name": "wrong", "overlap": 2, "policy": "shuffled", "gold_source": GOLD, "gold_count": 0}
    response = reviewer.post(reverse("queue-new", args=[project.slug]) + query, data)
    made = Queue.objects.get(name="wrong")
    assert response.status_code == 302 and response["Location"] == reverse("queue-detail", args=["test", made.pk])
    assert list(made.items.order_by("position").values_list("trace_id", flat=True)) == shown
    assert (made.filters, made.overlap, made.policy) == ({"correct": "no"}, 2, "shuffled")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "overlap": 1, "policy": "in_order"}, "This field is required."),
        ({"name": "x", "overlap": 0, "policy": "in_order"}, "greater than or equal to 1"),
        ({"name": "x", "overlap": 1, "policy": "in_order", "gold_count": 2}, "name the label source"),
        ({"name": "x", "overlap": 1, "policy": "in_order", "gold_source": "nope"}, "Select a valid choice"),
    ],
)
def test_bad_queue_forms_say_what_is_wrong_and_make_nothing(member, project, traces, data, message) -> None:
    _, reviewer = member("rita", Role.REVIEWER)
    response = reviewer.post(reverse("queue-new", args=[project.slug]), data)
    assert response.status_code == 400 and message in response.content.decode()
    assert not Queue.objects.exists()


def test_a_filter_selecting_nothing_is_refused(member, project, traces) -> None:
    _, reviewer = member("rita", Role.REVIEWER)
    url = reverse("queue-new", args=[project.slug]) + "?q=no-such-text"
    response = reviewer.post(url, {"name": "x", "overlap": 1, "policy": "in_order"})
    assert response.status_code == 400 and "the filter selects no traces" in response.content.decode()


# --- Working a queue ---------------------------------------------------------------------------------------


def test_n_in_queue_context_submits_and_goes_to_the_next_item(member, queue, traces) -> None:
    ann, client = member("ann", Role.ANNOTATOR)
    response = client.post(reverse("queue-next", args=["test", queue.pk]))
    first = QueueItem.objects.get(queue=queue, position=1)
    label_url = reverse("trace-label", args=["test", first.trace_id]) + f"?queue={queue.pk}"
    assert response["Location"] == label_url
    page = client.get(label_url).content.decode()
    assert "item 1 of 2 · your 0 done" in page
    submit = reverse("queue-item-submit", args=["test", queue.pk, first.pk])
    assert f'id="queue-next-form" method="post" hidden\n          action="{submit}"' in page
    assert f'data-queue="{queue.pk}"' in page

    refused = client.post(submit, follow=True)  # nothing rated yet
    assert f"rate at least one step of trace #{first.trace_id}" in refused.content.decode()
    step = Step.objects.filter(trace_id=first.trace_id).order_by("index").first()
    Label.objects.create(step=step, trace_id=first.trace_id, source=HUMAN, user=ann, value=1)
    response = client.post(submit)
    second = QueueItem.objects.get(queue=queue, position=2)
    assert response["Location"] == reverse("trace-label", args=["test", second.trace_id]) + f"?queue={queue.pk}"
    assignment = QueueAssignment.objects.get(item=first, user=ann)
    assert assignment.status == AssignmentStatus.DONE and assignment.seconds_spent is not None
    page = client.get(response["Location"]).content.decode()
    assert "item 2 of 2 · your 1 done" in page and "Item 1 submitted." in page


def test_the_last_item_leads_back_to_the_queue_with_a_message(member, queue, traces) -> None:
    ann, client = member("ann", Role.ANNOTATOR)
    for item in queue.items.all():
        QueueAssignment.objects.create(item=item, user=ann, status=AssignmentStatus.SKIPPED)
    response = client.post(reverse("queue-next", args=["test", queue.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("queue-detail", args=["test", queue.pk])
    assert "Nothing left for you in “wrong answers”" in response.content.decode()


def test_the_queue_page_skips_the_item_in_progress_even_in_a_closed_queue(member, queue, traces) -> None:
    ann, annotator = member("ann", Role.ANNOTATOR)
    _, viewer = member("vera", Role.VIEWER)
    detail = reverse("queue-detail", args=["test", queue.pk])
    assert 'id="skip-current"' not in annotator.get(detail).content.decode()  # nothing in progress yet
    first = next_item_for(queue, ann)
    assert first is not None
    queue.is_open = False  # a closed queue hands nothing out, but work in progress can still be given back
    queue.save(update_fields=["is_open"])
    page = annotator.get(detail).content.decode()
    skip = reverse("queue-item-skip", args=["test", queue.pk, first.pk])
    assert f'action="{skip}"' in page and f"Skip item {first.position}" in page
    assert '<span class="badge unknown">in progress</span>' in page  # its row in the items table
    assert 'id="skip-current"' not in viewer.get(detail).content.decode()
    annotator.post(skip)
    assert QueueAssignment.objects.get(item=first, user=ann).status == AssignmentStatus.SKIPPED
    assert 'id="skip-current"' not in annotator.get(detail).content.decode()


def test_gold_is_hidden_from_annotators_and_shown_to_reviewers(member, queue, traces) -> None:
    ann, annotator = member("ann", Role.ANNOTATOR)
    _, reviewer = member("rita", Role.REVIEWER)
    gold = item_of(queue, traces["w1"])
    assert gold.gold_source == GOLD
    QueueAssignment.objects.create(item=gold, user=ann)
    label_page = annotator.get(reverse("trace-label", args=["test", traces["w1"].pk]) + f"?queue={queue.pk}")
    text = label_page.content.decode()
    assert GOLD not in text and JUDGE in text  # the gold source is no suggestion; others still are
    plain = annotator.get(reverse("trace-label", args=["test", traces["w1"].pk])).content.decode()
    assert GOLD not in plain and JUDGE in plain  # nor outside the queue while it is open (test_gold_visibility.py)
    # "a" in queue context accepts the judge's suggestion; outside it the gold label would win the tie on source name
    step = Step.objects.get(trace=traces["w1"], index=1)
    url = reverse("trace-label-step", args=["test", traces["w1"].pk])
    annotator.post(url, {"action": "accept", "step": step.pk, "queue": queue.pk}, HTTP_HX_REQUEST="true")
    mine = Label.objects.get(step=step, source=HUMAN, user=ann)
    assert (mine.value, mine.params["accepted"]["source"]) == (1, JUDGE)

    detail = reverse("queue-detail", args=["test", queue.pk])
    assert "Gold accuracy" not in annotator.get(detail).content.decode()
    assert ">gold</span>" not in annotator.get(detail).content.decode()
    page = reviewer.get(detail).content.decode()
    assert "Gold accuracy" in page and ">gold</span>" in page


def test_the_detail_page_shows_per_annotator_progress(member, queue, traces) -> None:
    ann, _ = member("ann", Role.ANNOTATOR)
    _, owner_client = member("olga", Role.OWNER)
    first = next_item_for(queue, ann)
    assert first is not None
    QueueAssignment.objects.filter(item=first, user=ann).update(status=AssignmentStatus.DONE, seconds_spent=42.0)
    page = owner_client.get(reverse("queue-detail", args=["test", queue.pk])).content.decode()
    row = re.search(r"<td>ann</td>(.*?)</tr>", page, re.S)
    assert row is not None
    cells = re.findall(r'<td class="num">([^<]*)', row.group(1))
    assert cells[:4] == ["1", "0", "0", "42"]


def test_owners_close_and_reopen_a_queue(member, queue, traces) -> None:
    _, owner_client = member("olga", Role.OWNER)
    ann, annotator = member("ann", Role.ANNOTATOR)
    owner_client.post(reverse("queue-open", args=["test", queue.pk]), {"open": "0"})
    assert not Queue.objects.get(pk=queue.pk).is_open
    response = annotator.post(reverse("queue-next", args=["test", queue.pk]), follow=True)
    assert "(the queue is closed)" in response.content.decode()
    owner_client.post(reverse("queue-open", args=["test", queue.pk]), {"open": "1"})
    assert Queue.objects.get(pk=queue.pk).is_open


def test_the_export_form_offers_adjudicated_else_human(member_client, project, traces) -> None:
    page = member_client.get(reverse("export-form", args=[project.slug])).content.decode()
    assert '<option value="adjudicated-else-human" title="adjudicated-else-human">Adjudicated, else people</option>' in page
