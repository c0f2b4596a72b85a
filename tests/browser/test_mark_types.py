"""The viewer's marks in a trace dense with behaviour cues, in a real browser: one type of mark at a
time (the legend's entries are toggles), loops only by default when the cues would cover most of the
text, the choice kept over a reload, the key c cycling the types and m hiding every mark."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from traces.actions.analysis import analyze_traces
from traces.actions.store import store_traces
from traces.formats.base import ParsedTrace
from traces.models import Membership, Project, Role, Run, RunKind, Trace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"
CHECKS = 40  # verification sentences: far more of the text than the 30% that makes the default loops only
LOOP = "I add the two numbers once more."


def dense_text() -> str:
    """Thinking that reaches the answer 7, re-checks it in almost every sentence, and loops."""
    checks = " ".join(f"Let me verify step {i}: 3 + 4 = 7." for i in range(CHECKS))
    loop = " ".join([LOOP] * 6)  # a short sentence loops from its fifth repeat (docs/concepts.md §3.4)
    return f"<think>We need 3 + 4.\n\n{checks}\n\n{loop}\n\nSo it is 7.</think>The answer is 7."


def seed_dense_trace(user) -> int:
    project = Project.objects.create(name="Dense marks", slug="dense")
    Membership.objects.create(project=project, user=user, role=Role.OWNER)
    run = Run.objects.create(project=project, kind=RunKind.IMPORT, name="dense.jsonl")
    trace = ParsedTrace(line_no=1, prompt="What is 3 + 4?", reference_answer="7", text=dense_text(), model_name="dense")
    trace_id = store_traces(project, run, [trace]).trace_ids[0]
    analyze_traces(Trace.objects.filter(pk=trace_id))
    return trace_id


def open_as_reader(page: Page, url: str) -> None:
    page.goto(url)
    page.fill("#id_username", "reader")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")  # the deferred viewer script has run


def test_one_mark_type_at_a_time_loops_only_when_dense(live_server, browser, make_user, artifacts) -> None:
    trace_id = seed_dense_trace(make_user("reader", PASSWORD))
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    open_as_reader(page, live_server.url + reverse("trace-detail", args=["dense", trace_id]))

    verify_tags = page.locator(".part .mark-tag-verification")
    loop_tags = page.locator(".part .mark-tag-loop")
    t_star = page.locator(".part .mark-tag-t-star")
    assert verify_tags.count() >= CHECKS
    assert loop_tags.count() > 0

    # Dense: only t* and loops show, and a note says why.
    expect(t_star).to_be_visible()
    expect(loop_tags.first).to_be_visible()
    expect(verify_tags.first).to_be_hidden()
    note = page.locator("[data-marks-note]")
    expect(note).to_be_visible()
    expect(note).to_contain_text("Showing loops only")
    expect(note).to_contain_text(f"{verify_tags.count()} “verify” marks")
    loop_button = page.locator("[data-mark-type=loop]")
    expect(loop_button).to_have_attribute("aria-pressed", "true")
    page.screenshot(path=str(artifacts / "trace-viewer-dense-marks.png"))

    # A legend entry shows its type only; the choice survives a reload.
    verify_button = page.locator("[data-mark-type=verification]")
    verify_button.click()
    expect(verify_button).to_have_attribute("aria-pressed", "true")
    expect(loop_button).to_have_attribute("aria-pressed", "false")
    expect(verify_tags.first).to_be_visible()
    expect(loop_tags.first).to_be_hidden()
    expect(t_star).to_be_visible()
    expect(note).to_be_hidden()
    page.reload()
    page.wait_for_load_state("load")
    expect(verify_tags.first).to_be_visible()
    expect(loop_tags.first).to_be_hidden()
    expect(page.locator("[data-mark-type=verification]")).to_have_attribute("aria-pressed", "true")
    page.locator("[data-mark-type=verification]").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "trace-viewer-verify-marks.png"))

    # m hides every mark, t* included, and shows them again.
    page.keyboard.press("m")
    expect(t_star).to_be_hidden()
    expect(verify_tags.first).to_be_hidden()
    page.keyboard.press("m")
    expect(verify_tags.first).to_be_visible()

    # c cycles the types: after the last one in the legend come all types together.
    types = page.eval_on_selector_all("[data-mark-type]", "(els) => els.map((el) => el.dataset.markType)")
    assert types[-1] == "all"
    for _ in range(len(types) - 1 - types.index("verification")):
        page.keyboard.press("c")
    expect(page.locator("[data-mark-type=all]")).to_have_attribute("aria-pressed", "true")
    expect(verify_tags.first).to_be_visible()
    expect(loop_tags.first).to_be_visible()
    page.keyboard.press("?")
    expect(page.locator("#shortcut-help")).to_contain_text("Cycle the type of mark shown")
    assert errors == []
