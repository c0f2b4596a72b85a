"""The side-by-side comparison in a real browser (issue 6 items 4 and 6) against a live server.

Two traces of one problem and of very different lengths: a real Sky-T1 long chain of thought
(../shared/data) and a short one written here that reaches the same answer in its third
paragraph; both are analysed by the engine, so each has a t* step. An annotator ticks both in the
trace list and presses "Compare selected" (a plain GET form), checks that the t* steps share the
highlighted row, scrolls one column (by script, then with the mouse wheel) and checks that the
other column shows the same aligned row at its top; then judges the pair by keyboard and by
mouse and checks the database. Console errors, failed requests and JS dialogs fail the test (the
CSP forbids inline scripts, so one would show up as a console error).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect
from test_trace_viewer import sky_t1_record, watch

from traces.actions.analysis import analyze_traces
from traces.actions.store import store_traces
from traces.formats.base import ParsedTrace
from traces.models import HUMAN, Membership, Preference, Project, Role, Run, RunKind, Trace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"
SHORT_THINKING = [
    "Let me think about the cubic $x^3 + ax^2 + ax + 1$.",
    "Note that $x = -1$ is always a root, so it factors as $(x+1)(x^2 + (a-1)x + 1)$.",
    "The quadratic has real roots when $(a-1)^2 \\ge 4$, that is $a \\ge 3$. So the answer is 3.",
    "Let me double-check with $a = 3$: $(x+1)^3$, all roots real.",
    "Yes, that works.",
]

#: The aligned rows [first, last] of the cell at the top of a column: the last cell whose top is at
#: or above the scroll position (a step covers one row; a gap or a collapsed block, several).
TOP_ROWS = """(letter) => {
  const column = document.querySelector(`[data-compare-column="${letter}"]`);
  let top = [0, 0];
  for (const cell of column.querySelectorAll(':scope > [data-rows]')) {
    if (cell.offsetTop <= column.scrollTop + 1) { top = cell.dataset.rows.split('-').map(Number); } else { break; }
  }
  return top;
}"""

ANCHOR = re.compile(r"\bcmp-anchor\b")

SCROLL_TO_ROW = """([letter, row]) => {
  const column = document.querySelector(`[data-compare-column="${letter}"]`);
  column.scrollTop = column.querySelector(`:scope > [data-rows^="${row}-"]`).offsetTop;
}"""


def seed(shared_data: Path, user) -> tuple[int, int]:
    """The long Sky-T1 trace, the short one of the same problem, and a trace of another problem; analysed."""
    project = Project.objects.create(name="Compare", slug="cmp")
    Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
    run = Run.objects.create(project=project, kind=RunKind.IMPORT, name="compare.jsonl")
    record = sky_t1_record(shared_data)
    short_text = "<think>\n" + "\n\n".join(SHORT_THINKING) + "\n</think>\n\nThe smallest value is $\\boxed{3}$."
    parsed = [
        ParsedTrace(line_no=1, prompt="Another problem: 1+1?", reference_answer="2", text="2", model_name="other"),
        ParsedTrace(line_no=2, prompt=record["question"], reference_answer=record["answer"], text=record["code"][0],
                    model_name="Sky-T1-27B", think_format="sky_t1", finish_reason="stop"),
        ParsedTrace(line_no=3, prompt=record["question"], reference_answer=record["answer"], text=short_text,
                    model_name="concise-model", finish_reason="stop"),
    ]  # fmt: skip
    _, long_id, short_id = store_traces(project, run, parsed).trace_ids
    analyze_traces(Trace.objects.filter(project=project))
    return long_id, short_id


def top_rows(page: Page, letter: str) -> tuple[int, int]:
    first, last = page.evaluate(TOP_ROWS, letter)
    return int(first), int(last)


def top_row(page: Page, letter: str) -> int:
    """The first aligned row of the cell at the top of the column."""
    return top_rows(page, letter)[0]


def wait_for_top_row(wait_for, page: Page, letter: str, row: int) -> None:
    """Poll until the column's top cell holds ``row`` (page.wait_for_function would eval, which the CSP forbids)."""
    wait_for(lambda: top_rows(page, letter)[0] <= row <= top_rows(page, letter)[1], 10, 0.05)


def test_compare_two_traces_scroll_in_sync_and_judge_them(
    live_server, browser, make_user, shared_data, artifacts, wait_for
) -> None:
    user = make_user("judge", PASSWORD)
    long_id, short_id = seed(shared_data, user)
    page = browser.new_page(viewport={"width": 1360, "height": 900})
    problems, dialogs = watch(page)
    saves: list[str] = []
    page.on("request", lambda request: saves.append(request.url) if "/compare/preference/" in request.url else None)

    # From the trace list: tick the two traces of the problem, "Compare selected" (a GET form).
    page.goto(live_server.url + reverse("trace-list", args=["cmp"]))
    page.fill("#id_username", "judge")
    page.fill("#id_password", PASSWORD)
    page.press("#id_password", "Enter")
    expect(page.locator("h1")).to_have_text("Traces")
    page.check(f"input[name=traces][value='{long_id}']")
    page.check(f"input[name=traces][value='{short_id}']")
    page.click("text=Compare selected")
    expect(page.locator("h1")).to_have_text("Compare 2 traces")
    # The list shows the newest first, so the short trace is column A and the long one column B.
    expect(page.locator("[data-compare-column=A]")).to_have_attribute("aria-label", f"Steps of trace A (#{short_id})")
    expect(page.locator(".katex").first).to_be_attached()

    # The t* steps of both share the highlighted row; the short trace waits for it behind a gap.
    anchor = int(page.get_attribute("[data-jump-row]", "data-jump-row") or "-1")
    assert anchor > 5, "the long trace reaches the answer well after the short one"
    for letter in "AB":
        badge_rows = page.eval_on_selector_all(
            f"[data-compare-column={letter}] .t-star-badge",
            "badges => badges.map(b => b.closest('[data-rows]').dataset.rows)",
        )
        assert badge_rows == [f"{anchor}-{anchor}"]
        expect(page.locator(f"[data-compare-column={letter}] > [data-rows='{anchor}-{anchor}']")).to_have_class(ANCHOR)
    assert page.locator("[data-compare-column=B] > [data-rows]").count() > anchor
    gap = page.locator("[data-compare-column=A] > .cmp-gap")  # the rows above A's first step: one cell
    expect(gap).to_have_count(1)
    assert gap.get_attribute("data-rows") == f"0-{anchor - 3}"
    page.screenshot(path=str(artifacts / "compare.png"), full_page=True)

    # Scroll the long column B to the t* row: the short column A follows to the same aligned row.
    assert top_row(page, "A") == 0
    page.evaluate(SCROLL_TO_ROW, ["B", anchor])
    wait_for_top_row(wait_for, page, "A", anchor)
    assert top_row(page, "B") == anchor
    # And the other way round, with the mouse wheel over column A.
    page.hover("[data-compare-column=A]")
    page.mouse.wheel(0, -300)
    wait_for(lambda: top_row(page, "A") < anchor, 10, 0.05)
    wait_for(lambda: top_rows(page, "A")[0] <= top_row(page, "B") <= top_rows(page, "A")[1] < anchor, 10, 0.05)
    # Keys: j moves every column one row on, s back to the t* row.
    page.evaluate(SCROLL_TO_ROW, ["B", 1])
    wait_for_top_row(wait_for, page, "A", 1)
    page.keyboard.press("j")
    wait_for_top_row(wait_for, page, "A", 2)
    wait_for_top_row(wait_for, page, "B", 2)
    page.keyboard.press("s")
    wait_for_top_row(wait_for, page, "A", anchor)
    wait_for_top_row(wait_for, page, "B", anchor)
    page.screenshot(path=str(artifacts / "compare-scrolled-to-t-star.png"))

    # Judge by keyboard: "a" says the short trace (A) is better.
    page.keyboard.press("a")
    expect(page.locator("#preference-status")).to_have_text("Saved: A vs B, A is better.")
    preference = Preference.objects.get(user=user, source=HUMAN)
    better = preference.trace_a_id if preference.choice == "a" else preference.trace_b_id
    assert better == short_id
    # Then by mouse with a reason: a tie; the same row is updated. Keys typed into the reason judge nothing.
    page.click("#id_reason")
    page.keyboard.type("both right, but B checks a bit more")
    before = (preference.choice, preference.reason)
    preference.refresh_from_db()
    assert (preference.choice, preference.reason) == before
    page.click("button[data-choice-key=t]")
    expect(page.locator("#preference-status")).to_have_text("Saved: A vs B, tie.")
    preference.refresh_from_db()
    assert (preference.choice, preference.reason) == ("tie", "both right, but B checks a bit more")
    assert Preference.objects.count() == 1
    assert len(saves) == 2  # the "a" key and the click: the letters typed into the reason saved nothing
    expect(page.locator("[data-preference=AB]")).to_contain_text("A vs B: tie")
    page.screenshot(path=str(artifacts / "compare-preference.png"), full_page=True)

    assert dialogs == []
    assert problems == []


def test_escape_leaves_the_reason_and_a_saved_preference_shows_after_reload(
    live_server, browser, make_user, shared_data, artifacts
) -> None:
    """Esc leaves the reason box so that the next key judges; a reload shows the saved choice pressed
    and its reason in the box."""
    user = make_user("judge", PASSWORD)
    long_id, short_id = seed(shared_data, user)
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    problems, dialogs = watch(page)
    url = live_server.url + reverse("trace-compare", args=["cmp"]) + f"?traces={short_id},{long_id}"
    page.goto(url)
    page.fill("#id_username", "judge")
    page.fill("#id_password", PASSWORD)
    page.press("#id_password", "Enter")
    expect(page.locator("h1")).to_have_text("Compare 2 traces")

    page.click("#id_reason")
    page.keyboard.type("B checks its result")
    page.keyboard.press("Escape")
    expect(page.locator("#id_reason")).not_to_be_focused()
    page.keyboard.press("b")
    expect(page.locator("#preference-status")).to_have_text("Saved: A vs B, B is better.")
    preference = Preference.objects.get(user=user, source=HUMAN)
    assert preference.reason == "B checks its result"

    page.reload()
    chosen = page.locator("button[data-choice-key=b]")
    expect(chosen).to_have_attribute("aria-pressed", "true")
    expect(chosen).to_have_class(re.compile(r"\bis-chosen\b"))
    expect(page.locator("button[data-choice-key=a]")).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#id_reason")).to_have_value("B checks its result")
    page.locator("#preference").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "compare-saved-preference.png"))
    assert dialogs == []
    assert problems == []
