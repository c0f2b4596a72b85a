"""A queue worked by three annotators in their own browsers, then adjudicated (issue 6 items 2, 3, 5, 6).

Real ProcessBench traces (../shared/data) imported by the importer. A reviewer makes a queue of
overlap 2 from the trace list's filter; ann and bob, each in a browser context of their own, start
labeling and both get item 1; cat, asking third, gets item 2. ann and bob label by keyboard and
press ``n``, which submits the item and opens their next one. The reviewer then adjudicates the
step they disagree on, and a save from a second, outdated tab is refused with a clear message.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, Page, expect
from test_trace_viewer import watch

from traces.actions.store import store_traces
from traces.formats.processbench import parse_record
from traces.models import (
    ADJUDICATED,
    HUMAN,
    AssignmentStatus,
    Label,
    Membership,
    Project,
    Queue,
    QueueAssignment,
    QueueItem,
    Role,
    Run,
    RunKind,
    Step,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PROCESSBENCH = Path("processbench") / "gsm8k.jsonl"
PASSWORD = "correct horse battery"


def short_records(shared_data: Path, count: int) -> list[dict]:
    records = []
    with (shared_data / PROCESSBENCH).open(encoding="utf-8") as fp:
        for line in fp:
            record = json.loads(line)
            if 3 <= len(record["steps"]) <= 6:
                records.append(record)
            if len(records) == count:
                return records
    raise AssertionError(f"{PROCESSBENCH} has fewer than {count} such records")


def log_in(browser: Browser, live_server, name: str, path: str) -> Page:
    """A page in a browser context of its own, logged in as ``name``, at ``path``."""
    page = browser.new_context(viewport={"width": 1360, "height": 900}).new_page()
    page.goto(live_server.url + path)
    page.fill("#id_username", name)
    page.fill("#id_password", PASSWORD)
    page.press("#id_password", "Enter")
    return page


def labeling_heading(item: QueueItem) -> str:
    return f"Label trace #{item.trace_id}"


def test_three_annotators_work_a_queue_of_overlap_two_and_a_reviewer_adjudicates(
    live_server, browser, make_user, shared_data, artifacts
) -> None:
    project = Project.objects.create(name="Queue test", slug="qs")
    users = {}
    for name, role in (
        ("rev", Role.REVIEWER),
        ("ann", Role.ANNOTATOR),
        ("bob", Role.ANNOTATOR),
        ("cat", Role.ANNOTATOR),
    ):
        users[name] = make_user(name, PASSWORD)
        Membership.objects.create(project=project, user=users[name], role=role)
    run = Run.objects.create(project=project, kind=RunKind.IMPORT, name=PROCESSBENCH.name)
    parsed = [item for n, record in enumerate(short_records(shared_data, 3), 1) for item in parse_record(record, n)]
    store_traces(project, run, parsed)

    # The reviewer makes the queue from the trace list.
    rev = log_in(browser, live_server, "rev", reverse("trace-list", args=["qs"]))
    problems, dialogs = watch(rev)
    rev.click("#make-queue")
    expect(rev.locator("#queue-filter-summary")).to_contain_text("3 traces of Queue test")
    rev.fill("#id_name", "gsm8k sample")
    rev.fill("#id_overlap", "2")
    rev.click("text=Make the queue")
    expect(rev.locator("h1")).to_have_text("gsm8k sample")
    queue = Queue.objects.get(name="gsm8k sample")
    first, second, third = QueueItem.objects.filter(queue=queue).order_by("position")
    detail = reverse("queue-detail", args=["qs", queue.pk])

    # ann and bob both get item 1; cat, asking third, gets item 2.
    pages = {}
    for name, expected in (("ann", first), ("bob", first), ("cat", second)):
        page = log_in(browser, live_server, name, detail)
        problems += watch(page)[0]
        page.click("#start-labeling")
        expect(page.locator("h1")).to_have_text(labeling_heading(expected))
        expect(page.locator("#queue-place")).to_contain_text(f"item {expected.position} of 3 · your 0 done")
        pages[name] = page
    assert QueueAssignment.objects.filter(item=first).count() == 2
    assert not QueueAssignment.objects.filter(item=first, user=users["cat"]).exists()

    # ann rates step 1 −1 then the rest +1; bob marks "no error". Both press n.
    count = Step.objects.filter(trace_id=first.trace_id).count()
    ann = pages["ann"]
    ann.keyboard.press("1")
    for _ in range(count - 1):
        ann.keyboard.press("3")
    expect(ann.locator("#label-progress")).to_have_text(f"{count} / {count} rated by you")
    ann.screenshot(path=str(artifacts / "queue-labeling.png"), full_page=True)
    ann.keyboard.press("n")
    expect(ann.locator("h1")).to_have_text(labeling_heading(second))  # cat holds one of item 2's two places
    expect(ann.locator("#queue-place")).to_contain_text("item 2 of 3 · your 1 done")
    expect(ann.locator("#queue-messages")).to_contain_text("Item 1 submitted.")
    bob = pages["bob"]
    bob.keyboard.press("Shift+E")
    expect(bob.locator("#label-progress")).to_have_text(f"{count} / {count} rated by you")
    bob.keyboard.press("n")
    expect(bob.locator("h1")).to_have_text(labeling_heading(third))  # item 2 is held by cat and ann
    done = QueueAssignment.objects.filter(item=first, status=AssignmentStatus.DONE)
    assert sorted(done.values_list("user__username", flat=True)) == ["ann", "bob"]
    assert QueueItem.objects.get(pk=first.pk).done_count == 2
    assert Label.objects.filter(trace_id=first.trace_id, source=HUMAN).count() == 2 * count  # nobody lost labels

    rev.goto(live_server.url + detail)
    expect(rev.locator("#annotator-progress")).to_contain_text("ann")
    expect(rev.locator("#queue-progress")).to_have_attribute("value", "2")
    rev.screenshot(path=str(artifacts / "queue-detail.png"), full_page=True)

    # Adjudication: step 1 is the disagreement. A second tab opened before the save is refused.
    adjudicate = live_server.url + reverse("queue-adjudicate-trace", args=["qs", queue.pk, first.trace_id])
    rev.goto(adjudicate)
    stale_tab = rev.context.new_page()
    problems += watch(stale_tab)[0]
    stale_tab.goto(adjudicate)
    row = rev.locator("#adjudicate-step-1")
    expect(rev.locator("#disagreements-h")).to_have_text("1 step where ann, bob disagree")
    row.get_by_role("button", name="+1").click()
    expect(rev.locator("#adjudication-notice")).to_have_text("Step 1: adjudicated +1.")
    expect(rev.locator("#adjudicate-step-1")).to_have_attribute("data-adjudicated", "1")
    rev.screenshot(path=str(artifacts / "queue-adjudication.png"), full_page=True)
    stale_tab.locator("#adjudicate-step-1").get_by_role("button", name="−1").click()
    expect(stale_tab.locator("#adjudication-notice")).to_contain_text(
        "someone adjudicated this trace since you opened it"
    )
    stale_tab.screenshot(path=str(artifacts / "queue-adjudication-stale.png"), full_page=True)
    assert list(Label.objects.filter(source=ADJUDICATED).values_list("step__index", "value", "user__username")) == [
        (0, 1, "rev")
    ]

    # The refused save answered 409 on purpose; nothing else failed.
    unexpected = [problem for problem in problems if not re.match(r"409: .*/adjudicate/\d+/$", problem)]
    assert unexpected == [] and dialogs == []
