"""Rendering budgets in chromium: hostile LaTeX, and a queue item whose page cannot be used.

* 150 nested fractions (1.5 KB of LaTeX) crashed chromium's tab once KaTeX typeset them: the viewer
  and the labeling page show them as text, marked as refused, and stay usable.
* A queue's item in progress can be skipped from the queue page, without opening its labeling page
  (an annotator whose item crashes that page is never stuck on it).

Traces come through the real importer with analysis (``manage.py import_traces``), as in production.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse
from playwright.sync_api import Browser, Page, expect
from test_trace_viewer import watch

from traces.actions.queues import QueueSpec, do_create_queue
from traces.models import AssignmentStatus, Membership, Project, QueueAssignment, QueueItem, Role, Trace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "security"))
from hostile_corpus import NESTED_FRACTIONS  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"
SLUG = "budgets"

#: The page has run its scripts: KaTeX has been over every .tex element and htmx has no request out.
SETTLED = "() => !document.querySelector('.tex:not([data-tex-rendered]), .htmx-request')"


def import_records(tmp_path: Path, records: list[dict[str, str]]) -> list[int]:
    """Import the records as one thinkscope JSONL file, analysis included; their trace ids in order."""
    path = tmp_path / f"records-{len(list(tmp_path.iterdir()))}.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    call_command("import_traces", str(path), "--format", "jsonl", "--project", SLUG)
    return list(Trace.objects.filter(run__source_file=str(path)).order_by("pk").values_list("pk", flat=True))


def record(prompt: str, completion: str, model: str = "model-a") -> dict[str, str]:
    return {"prompt": prompt, "completion": completion, "reference_answer": "1", "model": model}


def log_in(browser: Browser, live_server, username: str) -> Page:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1360, "height": 900})
    page.goto(live_server.url + reverse("login"))
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.press("#id_password", "Enter")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    return page


def open_settled(page: Page, url: str) -> None:
    """Open ``url`` and wait until KaTeX and htmx are done with it (a crashed tab raises here)."""
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    page.wait_for_function(SETTLED)


@pytest.fixture
def owner(make_user):  # type: ignore[no-untyped-def]
    user = make_user("owner", PASSWORD)
    project = Project.objects.create(name="Budgets", slug=SLUG)
    Membership.objects.create(project=project, user=user, role=Role.OWNER)
    return user


def test_nested_latex_is_shown_as_text_on_the_viewer_and_the_labeling_page(  # type: ignore[no-untyped-def]
    live_server, browser, owner, tmp_path, artifacts
) -> None:
    (trace_id,) = import_records(
        tmp_path,
        [record("Simplify the nested fraction.", f"<think>It is {NESTED_FRACTIONS} so 1.</think>The answer is $1$.")],
    )
    page = log_in(browser, live_server, "owner")
    problems, dialogs = watch(page)
    for name in ("trace-detail", "trace-label"):
        open_settled(page, live_server.url + reverse(name, args=[SLUG, trace_id]))
        refused = page.locator(".part .tex-refused")
        expect(refused).to_have_count(1)
        expect(refused).to_contain_text(NESTED_FRACTIONS[:60])
        expect(refused).to_have_attribute("title", "LaTeX shown as text, not typeset: groups nested 150 deep (the limit is 20)")
        assert refused.locator(".katex").count() == 0
        assert page.locator(".part .katex").count() >= 1  # the answer's "$1$" is still typeset
        assert page.evaluate("1 + 1") == 2  # the tab still answers
        page.screenshot(path=str(artifacts / f"budget-nested-latex-{name}.png"))
    assert problems == [] and dialogs == []


def test_the_item_in_progress_can_be_skipped_from_the_queue_page(  # type: ignore[no-untyped-def]
    live_server, browser, owner, make_user, tmp_path, artifacts
) -> None:
    annotator = make_user("ann", PASSWORD)
    Membership.objects.create(project=Project.objects.get(slug=SLUG), user=annotator, role=Role.ANNOTATOR)
    import_records(
        tmp_path,
        [
            record("Nested fraction.", f"<think>{NESTED_FRACTIONS}</think>The answer is 1."),
            record("One plus zero.", "<think>1 + 0 = 1.</think>The answer is 1."),
        ],
    )
    project = Project.objects.get(slug=SLUG)
    queue = do_create_queue(project, owner, QueueSpec(name="budget queue"), Trace.objects.filter(project=project), {})
    first, second = QueueItem.objects.filter(queue=queue).order_by("position").values_list("trace_id", flat=True)
    detail = live_server.url + reverse("queue-detail", args=[SLUG, queue.pk])
    page = log_in(browser, live_server, "ann")
    problems, dialogs = watch(page)

    page.goto(detail)
    page.click("#start-labeling")
    expect(page.locator("h1")).to_have_text(f"Label trace #{first}")
    # Back on the queue page (as after a tab crash), the item in progress can be skipped right there.
    page.goto(detail)
    expect(page.locator("#start-labeling")).to_have_text("Continue with item 1")
    page.screenshot(path=str(artifacts / "budget-queue-skip.png"))
    page.click("#skip-current")
    expect(page.locator("h1")).to_have_text(f"Label trace #{second}")
    expect(page.locator("#queue-messages")).to_contain_text("Item 1 skipped.")
    statuses = dict(QueueAssignment.objects.filter(user=annotator).values_list("item__trace_id", "status"))
    assert statuses == {first: AssignmentStatus.SKIPPED, second: AssignmentStatus.IN_PROGRESS}
    # Nothing is in progress once the second is skipped too: the queue page offers no skip then.
    page.goto(detail)
    page.click("#skip-current")
    page.goto(detail)
    expect(page.locator("#skip-current")).to_have_count(0)
    assert problems == [] and dialogs == []
