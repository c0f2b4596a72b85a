"""The work pages at 1440×900 in chromium: runs, a job, queues and the forms use the width of the
screen, forms are grids of fields sized to their content, statuses differ in colour, table headers
are sentence case and stick to the top while the rows scroll. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect

from traces.models import LanguageModel, Membership, Project, Queue, Role, Run, RunKind, RunStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


def seed(owner) -> tuple[Project, Run]:
    project = Project.objects.create(name="Visual", slug="visual")
    Membership.objects.create(project=project, user=owner, role=Role.OWNER)
    model = LanguageModel.objects.create(project=project, name="smol", backend="transformers", endpoint="embedded")
    started = timezone.now() - timedelta(minutes=5)
    Run.objects.bulk_create(
        Run(project=project, kind=RunKind.IMPORT, status=RunStatus.SUCCEEDED, name=f"import {i}.jsonl") for i in range(20)
    )
    runs = [
        Run.objects.create(
            project=project, model=model, kind=RunKind.GENERATION, status=status, name=f"sweep {status}",
            progress_total=40, progress_done=40 if status == RunStatus.SUCCEEDED else 12, started_at=started,
            params={"problem_ids": [], "n": 1},
        )
        for status in STATUSES
    ]  # fmt: skip
    Queue.objects.create(project=project, name="wrong answers", overlap=2, created_by=owner)
    return project, runs[1]


def open_page(browser, live_server, user) -> Page:
    client = Client()
    client.force_login(user)
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])
    return context.new_page()


COLOURS = "badge => getComputedStyle(badge).backgroundColor + getComputedStyle(badge).color"


def top_of(locator: Locator) -> int:
    return round(locator.bounding_box()["y"])


def width_of(page: Page, selector: str) -> float:
    return page.locator(selector).first.bounding_box()["width"]


def test_work_pages_use_the_screen_with_one_visual_system(live_server, browser, make_user, artifacts) -> None:
    owner = make_user("lead")
    project, running = seed(owner)
    page = open_page(browser, live_server, owner)
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))

    page.goto(live_server.url + reverse("job-list", args=[project.slug]))
    assert width_of(page, "main") >= 1400, "the page is capped well short of a 1440 px screen"
    colours = {status: page.locator(f"#run-table .badge.status-{status}").first.evaluate(COLOURS) for status in STATUSES}
    assert len(set(colours.values())) == len(STATUSES), colours
    header = page.locator("#run-table thead th").first
    assert header.evaluate("th => getComputedStyle(th).textTransform") == "none"
    assert header.evaluate("th => getComputedStyle(th).position") == "sticky"
    dates = page.locator("#run-table tbody tr td:last-child")
    assert all(cell.bounding_box()["height"] < 40 for cell in dates.all()[:5]), "dates wrap"
    page.screenshot(path=str(artifacts / "runs-list.png"))
    page.mouse.wheel(0, 900)
    page.wait_for_timeout(200)
    assert header.bounding_box()["y"] <= 1, "the header does not stay at the top"
    page.screenshot(path=str(artifacts / "runs-list-scrolled.png"))

    page.goto(live_server.url + reverse("job-detail", args=[project.slug, running.pk]))
    expect(page.locator("#run-status")).to_have_class("badge status-running")
    page.screenshot(path=str(artifacts / "run-page-1440.png"), full_page=True)

    page.goto(live_server.url + reverse("job-new", args=[project.slug]))
    number = page.locator("#job-new input[type=number]").first
    assert number.bounding_box()["width"] <= 160, "a number gets a box as wide as the page"
    run_fields = page.locator("#job-new .field")
    assert len({top_of(f) for f in run_fields.all()}) < run_fields.count(), "every field on a row of its own"
    page.screenshot(path=str(artifacts / "run-form.png"), full_page=True)

    page.goto(live_server.url + reverse("queue-list", args=[project.slug]))
    assert page.locator("#queues thead th").first.evaluate("th => getComputedStyle(th).textTransform") == "none"
    page.screenshot(path=str(artifacts / "queue-list-1440.png"))

    page.goto(live_server.url + reverse("queue-new", args=[project.slug]))
    fields = page.locator("#queue-form .field:not(.field-actions):not(.field-textarea)")
    tops = [top_of(f) for f in fields.all()]
    lefts = [round(f.bounding_box()["x"]) for f in fields.all()]
    assert len(set(tops)) < len(tops), "every field on a row of its own"
    row = [i for i, top in enumerate(tops) if top == tops[0]]
    assert len(row) > 1 and len({top_of(fields.nth(i).locator("input, select").first) for i in row}) == 1, "ragged row"
    assert min(lefts) == lefts[0]
    assert page.locator("#queue-form input[type=number]").first.bounding_box()["width"] <= 160
    page.screenshot(path=str(artifacts / "queue-form.png"), full_page=True)

    for name in ("export-form", "auto-label-form"):
        page.goto(live_server.url + reverse(name, args=[project.slug]))
        for number in page.locator("form input[type=number]").all():
            assert number.bounding_box()["width"] <= 160
        page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
    assert problems == []
