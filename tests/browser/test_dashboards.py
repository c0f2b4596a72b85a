"""The dashboards in a real browser (issue 8 item 5): with demo-like data, each dashboard draws its
charts (every canvas has pixels), writes their tables, and a click on a bar opens the trace list
filtered to it. Screenshots go to test-artifacts/. A console error (a CSP violation included) fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from playwright.sync_api import Page, expect

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "traces" / "dashboards"))
from dashboard_seed import seed_annotation, seed_models  # noqa: E402

from traces.models import Membership, Project, Role, Trace  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAINTED = """canvas => {
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
  return painted;
}"""


def logged_in_page(browser, live_server, user) -> tuple[Page, list[str]]:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    return page, problems


def assert_charts_drawn(page: Page) -> int:
    expect(page.locator("#dashboard[data-ready=true]")).to_be_attached()
    canvases = page.locator("#dashboard canvas")
    assert canvases.count() > 0
    for i in range(canvases.count()):
        assert canvases.nth(i).evaluate(PAINTED) > 0, f"canvas {i} is blank"
    return canvases.count()


def test_model_and_annotation_dashboards_draw_their_charts(live_server, browser, make_user, artifacts) -> None:  # type: ignore[no-untyped-def]
    user, second = make_user("viewer"), make_user("bob")
    project = Project.objects.create(name="Dashboard demo", slug="demo")
    Membership.objects.create(project=project, user=user, role=Role.OWNER)
    Membership.objects.create(project=project, user=second, role=Role.ANNOTATOR)
    seed_models(project)
    seed_annotation(project, [user, second], list(Trace.objects.filter(project=project).order_by("id")[:6]))
    page, problems = logged_in_page(browser, live_server, user)

    page.goto(live_server.url + reverse("dashboard", args=["demo", "models"]) + "?dataset=gsm8k")
    assert assert_charts_drawn(page) >= 9
    expect(page.locator("table[data-chart=accuracy] tbody tr")).to_have_count(3)
    expect(page.locator("table[data-chart=difficulty] tbody tr").first).to_contain_text("every model fails")
    csv_link = page.locator("#chart-accuracy a[download]")
    assert "dataset=gsm8k" in csv_link.get_attribute("href") and "chart=accuracy" in csv_link.get_attribute("href")
    page.screenshot(path=str(artifacts / "dashboard-models.png"), full_page=True)

    # A click on the first accuracy bar opens that model's correct traces in the trace list.
    position = page.locator("#chart-accuracy canvas").evaluate(
        "canvas => { const bar = Chart.getChart(canvas).getDatasetMeta(0).data[0]; return {x: bar.x, y: bar.y + 5}; }"
    )
    page.locator("#chart-accuracy canvas").click(position=position)
    page.wait_for_url("**/traces/?*correct=yes*")
    assert "model=" in page.url
    expect(page.locator("h1")).to_have_text("Traces")

    page.goto(live_server.url + reverse("dashboard", args=["demo", "annotation"]) + "?period=day")
    assert assert_charts_drawn(page) >= 5
    expect(page.locator("table[data-chart=gold_accuracy] tbody tr")).to_have_count(2)
    page.screenshot(path=str(artifacts / "dashboard-annotation.png"), full_page=True)
    assert problems == []


def test_an_empty_project_shows_an_empty_state(live_server, browser, make_user, artifacts) -> None:  # type: ignore[no-untyped-def]
    user = make_user("viewer")
    project = Project.objects.create(name="Empty", slug="empty")
    Membership.objects.create(project=project, user=user, role=Role.VIEWER)
    page, problems = logged_in_page(browser, live_server, user)
    for kind in ("models", "annotation"):
        page.goto(live_server.url + reverse("dashboard", args=["empty", kind]))
        expect(page.locator("#dashboard-empty")).to_be_visible()
    assert problems == []
