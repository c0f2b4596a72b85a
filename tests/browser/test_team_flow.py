"""The whole team flow in chromium, every step a person takes done in the browser.

Seeded: a project with an owner (olga) and a reviewer (rui), and four short ProcessBench traces
imported by the real importer, whose labels (``import:processbench``) are a gold source.

1. olga creates accounts for two annotators on the Members page; each opens the one-time
   set-password link in a browser context of their own and chooses a password.
2. olga makes a queue from the trace list's filter: overlap 2, one gold item.
3. Both annotators log in, start labeling and rate every item by keyboard (``1``/``3`` rate and
   move on, ``e`` marks a first error, ``n`` submits and opens the next item); they disagree on
   step 1 of the first item.
4. rui opens Agreement, then Adjudicate, and resolves that step in one click (−1).
5. olga exports TRL JSONL with ``adjudicated-else-human`` labels, waits for the job and downloads
   the file: the adjudicated −1 is in it.

Screenshots of each page (1440×900 viewport) go to test-artifacts/team-*.png.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, Page, expect
from test_trace_viewer import watch

from traces.actions.imports import do_import
from traces.models import ADJUDICATED, Label, Membership, Project, Queue, QueueItem, Role, Step, Trace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"
VIEWPORT = {"width": 1440, "height": 900}
ANNOTATORS = {"ann": "ann's own long secret 1", "bob": "bob's own long secret 2"}


def short_processbench_file(shared_data: Path, folder: Path, count: int = 4) -> Path:
    """The first ``count`` ProcessBench records of 3 to 5 steps, as a file of their own."""
    lines = []
    with (shared_data / "processbench" / "gsm8k.jsonl").open(encoding="utf-8") as fp:
        for line in fp:
            if 3 <= len(json.loads(line)["steps"]) <= 5:
                lines.append(line)
            if len(lines) == count:
                break
    assert len(lines) == count
    path = folder / "processbench-sample.jsonl"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def log_in(browser: Browser, live_server, username: str, password: str, path: str) -> Page:
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.goto(live_server.url + path)
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    return page


def shoot(page: Page, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"team-{name}.png"), full_page=True)


def current_trace_id(page: Page) -> int:
    heading = page.locator("h1").inner_text()
    assert heading.startswith("Label trace #"), heading
    return int(heading.removeprefix("Label trace #"))


def test_owner_annotators_and_reviewer_go_from_members_to_export(
    live_server, browser, make_user, shared_data, artifacts, tmp_path, settings, eager_celery
) -> None:
    settings.DATA_DIR = tmp_path
    project = Project.objects.create(name="Team flow", slug="team")
    Membership.objects.create(project=project, user=make_user("olga", PASSWORD), role=Role.OWNER)
    Membership.objects.create(project=project, user=make_user("rui", PASSWORD), role=Role.REVIEWER)
    do_import(project, short_processbench_file(shared_data, tmp_path), "processbench")

    # 1. The owner creates the two annotators' accounts; each sets a password at the link shown.
    owner = log_in(browser, live_server, "olga", PASSWORD, reverse("trace-list", args=["team"]))
    problems, dialogs = watch(owner)
    owner.click("nav >> text=Members")
    expect(owner.locator("h1")).to_have_text("Members")
    shoot(owner, artifacts, "members")
    for name, password in ANNOTATORS.items():
        owner.fill("#id_new-username", name)
        owner.fill("#id_new-email", f"{name}@example.org")
        owner.select_option("#id_new-role", "annotator")
        owner.click("#new-account-form button[type=submit]")
        expect(owner.locator("#new-account")).to_contain_text(f"Account created for {name}")
        if name == "ann":
            shoot(owner, artifacts, "members-new-account")
        link = owner.locator("#set-password-link").input_value()
        teammate = browser.new_context(viewport=VIEWPORT).new_page()
        problems += watch(teammate)[0]
        teammate.goto(link)
        expect(teammate.locator("h1")).to_have_text("Choose a password")
        if name == "ann":
            shoot(teammate, artifacts, "set-password")
        teammate.fill("#id_new_password1", password)
        teammate.fill("#id_new_password2", password)
        teammate.click("button[type=submit]")
        expect(teammate.locator("h1")).to_have_text("Password set")
        teammate.context.close()
    owner.goto(live_server.url + reverse("member-list", args=["team"]))
    expect(owner.locator("#members tbody tr")).to_have_count(4)
    for name in ANNOTATORS:
        expect(owner.locator("#members tbody")).to_contain_text(name)

    # 2. The owner makes an overlap-2 queue with one gold item from the trace list's filter.
    owner.click("nav .nav-project")  # the project's name leads to its traces
    expect(owner.locator("#make-queue")).to_be_visible()
    shoot(owner, artifacts, "trace-list")
    owner.click("#make-queue")
    expect(owner.locator("#queue-filter-summary")).to_contain_text("4 traces of Team flow")
    owner.fill("#id_name", "Team sample")
    owner.fill("#id_overlap", "2")
    owner.select_option("#id_gold_source", "import:processbench")
    owner.fill("#id_gold_count", "1")
    shoot(owner, artifacts, "queue-new")
    owner.click("text=Make the queue")
    expect(owner.locator("h1")).to_have_text("Team sample")
    expect(owner.locator("#queue-items .badge", has_text="gold")).to_have_count(1)
    shoot(owner, artifacts, "queue-detail")
    queue = Queue.objects.get(name="Team sample")
    items = list(QueueItem.objects.filter(queue=queue).order_by("position"))
    assert len(items) == 4 and sum(item.is_gold for item in items) == 1
    detail = reverse("queue-detail", args=["team", queue.pk])

    # 3. Both annotators label every item by keyboard; on item 1, ann rates step 1 −1, bob +1.
    for name, password in ANNOTATORS.items():
        page = log_in(browser, live_server, name, password, detail)
        problems += watch(page)[0]
        page.click("#start-labeling")
        for position, item in enumerate(items, 1):
            expect(page.locator("#queue-place")).to_contain_text(f"item {position} of 4")
            # The item's page has loaded its (deferred) keyboard script: keys before that go nowhere.
            page.wait_for_load_state("load")
            trace_id = current_trace_id(page)
            assert trace_id == item.trace_id
            count = Step.objects.filter(trace_id=trace_id).count()
            progress = page.locator("#label-progress")
            for step in range(1, count + 1):
                # Each rating saves, then moves on to the next step: wait for the save before the next key.
                page.keyboard.press("1" if (name, position, step) == ("ann", 1, 1) else "3")
                expect(progress).to_have_text(f"{step} / {count} rated by you")
            if name == "bob" and position == 2:
                with page.expect_response(lambda response: response.request.method == "POST"):
                    page.keyboard.press("e")  # the last step, selected, is the first error
            if name == "ann" and position == 1:
                shoot(page, artifacts, "labeling")
            page.keyboard.press("n")
        expect(page.locator(".queue-messages, #queue-messages").first).to_contain_text("Nothing left for you")
        if name == "bob":
            shoot(page, artifacts, "queue-done")
        page.context.close()

    # 4. The reviewer looks at agreement, then resolves item 1's step 1 in one click.
    reviewer = log_in(browser, live_server, "rui", PASSWORD, detail)
    problems += watch(reviewer)[0]
    expect(reviewer.locator("#queue-progress")).to_have_attribute("value", "8")
    reviewer.click("text=Agreement")
    expect(reviewer.locator("#overall-agreement")).to_be_visible()
    expect(reviewer.locator("#pair-agreement")).to_contain_text("ann")
    shoot(reviewer, artifacts, "agreement")
    reviewer.goto(live_server.url + detail)
    reviewer.click("text=Adjudicate disagreements")
    expect(reviewer.locator("#adjudication-traces")).to_be_visible()
    shoot(reviewer, artifacts, "adjudication")
    first = items[0]
    reviewer.locator(f"#adjudication-traces a[href$='/adjudicate/{first.trace_id}/']").click()
    row = reviewer.locator("#adjudicate-step-1")
    expect(reviewer.locator("#disagreements-h")).to_contain_text("ann, bob disagree")
    row.get_by_role("button", name="−1").click()
    expect(reviewer.locator("#adjudication-notice")).to_have_text("Step 1: adjudicated −1.")
    shoot(reviewer, artifacts, "adjudicate-trace")
    assert list(Label.objects.filter(source=ADJUDICATED).values_list("trace_id", "step__index", "value")) == [
        (first.trace_id, 0, -1)
    ]

    # 5. The owner exports TRL with adjudicated-else-human labels and downloads the file.
    owner.goto(live_server.url + reverse("trace-list", args=["team"]))
    owner.click("text=Export…")
    owner.select_option("#id_format", "trl")
    owner.select_option("#id_sources", "adjudicated-else-human")
    shoot(owner, artifacts, "export-form")
    owner.click("text=Start export")
    expect(owner.locator("#export-status .badge")).to_have_text("succeeded", timeout=20_000)
    shoot(owner, artifacts, "export-job")
    with owner.expect_download() as download_info:
        owner.locator("#export-files a").first.click()
    rows = [json.loads(line) for line in Path(download_info.value.path()).read_text(encoding="utf-8").splitlines()]
    prompt = Trace.objects.get(pk=first.trace_id).problem.prompt
    (row_of_first,) = [r for r in rows if prompt in r["prompt"]]
    assert row_of_first["labels"][0] is False  # the reviewer's −1, over the two people's split
    assert all(row_of_first["labels"][1:])  # both annotators rated the rest +1

    assert problems == [] and dialogs == []
