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


def logged_in_page(browser, live_server, user, viewport=(1400, 1000)) -> tuple[Page, list[str]]:
    client = Client()
    client.force_login(user)
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
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


def test_model_and_annotation_dashboards_draw_their_charts(live_server, browser, make_user, artifacts) -> None:
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


def test_an_empty_project_shows_an_empty_state(live_server, browser, make_user, artifacts) -> None:
    user = make_user("viewer")
    project = Project.objects.create(name="Empty", slug="empty")
    Membership.objects.create(project=project, user=user, role=Role.VIEWER)
    page, problems = logged_in_page(browser, live_server, user)
    for kind in ("models", "annotation"):
        page.goto(live_server.url + reverse("dashboard", args=["empty", kind]))
        expect(page.locator("#dashboard-empty")).to_be_visible()
    assert problems == []


#: Per chart with series: its datasets' labels and colours, the plot's bottom edge and whether Chart.js draws a legend.
SERIES = """canvas => {
  const chart = Chart.getChart(canvas);
  return {
    labels: chart.data.datasets.map(d => d.label),
    colors: chart.data.datasets.map(d => d.backgroundColor),
    legendDrawn: chart.options.plugins.legend.display !== false,
    bottom: canvas.getBoundingClientRect().bottom,
  };
}"""
Y_TICKS = "canvas => Chart.getChart(canvas).scales.y.ticks.map(t => t.value)"


def test_many_models_keep_apart_with_legends_outside_and_whole_counts(live_server, browser, make_user, artifacts) -> None:
    """15 models: the 8 with the most traces are drawn, each in one colour of its own on every chart,
    with the legend under the plot; the others are a click away in the picker; count axes tick in
    whole numbers; the difficulty table fits its card and speaks only of the models that tried."""
    user, second = make_user("viewer"), make_user("bob")
    project = Project.objects.create(name="Many models", slug="many")
    Membership.objects.create(project=project, user=user, role=Role.OWNER)
    Membership.objects.create(project=project, user=second, role=Role.ANNOTATOR)
    for prefix in ("a-", "b-", "c-", "d-", "e-"):
        seed_models(project, prefix=prefix)
    Trace.objects.filter(model__name__startswith="e-", sample_index__gt=0).delete()
    seed_annotation(project, [user, second], list(Trace.objects.filter(project=project).order_by("id")[:6]))
    page, problems = logged_in_page(browser, live_server, user, viewport=(1440, 900))

    page.goto(live_server.url + reverse("dashboard", args=["many", "models"]))
    assert_charts_drawn(page)
    expect(page.locator("#dashboard-note")).to_contain_text("Showing the 8 models with the most traces, of 15")
    colors: dict[str, str] = {}
    for card in page.locator(".chart-card:has(.chart-legend)").all():
        series = card.locator("canvas").evaluate(SERIES)
        assert not series["legendDrawn"], "the legend is drawn inside the plot"
        assert len(series["labels"]) <= 8 and len(set(series["colors"])) == len(series["colors"])
        for label, color in zip(series["labels"], series["colors"], strict=True):
            assert colors.setdefault(label, color) == color, f"{label} changes colour between charts"
        legend = card.locator(".chart-legend")
        assert legend.bounding_box()["y"] >= series["bottom"] - 1  # under the plot, not over it
        expect(legend.locator("button")).to_have_count(len(series["labels"]))
    assert len(colors) == 8
    page.screenshot(path=str(artifacts / "dashboard-models-many.png"), full_page=True)
    difficulty = page.locator("#chart-difficulty .table-wrap")
    assert difficulty.evaluate("wrap => wrap.scrollWidth <= wrap.clientWidth + 1"), "the difficulty table is clipped"
    expect(page.locator("table[data-chart=difficulty]")).not_to_contain_text("every model fails")

    # A legend entry hides its series; the picker offers every model and shows the ones picked.
    first = page.locator("#chart-pass_at_k .chart-legend button").first
    first.click()
    expect(first).to_have_attribute("aria-pressed", "false")
    page.locator(".picker summary").click()
    expect(page.locator(".picker-options input[name=models]")).to_have_count(15)
    page.screenshot(path=str(artifacts / "dashboard-models-picker.png"))
    for name in ("e-alpha-7b", "e-beta-14b"):
        page.locator(".picker-options label", has_text=name).locator("input").check()
    page.click("#dashboard-filters button[type=submit]")
    assert_charts_drawn(page)
    expect(page.locator("#chart-accuracy tbody tr")).to_have_count(2)
    expect(page.locator(".picker summary")).to_contain_text("2 picked")

    page.goto(live_server.url + reverse("dashboard", args=["many", "annotation"]))
    assert_charts_drawn(page)
    ticks = page.locator("#chart-annotators canvas").evaluate(Y_TICKS)
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
    page.screenshot(path=str(artifacts / "dashboard-annotation-1440.png"), full_page=True)
    assert problems == []
