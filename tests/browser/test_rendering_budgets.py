"""Rendering budgets in chromium: hostile LaTeX, a queue item whose page cannot be used, a 1 MB loop.

* 150 nested fractions (1.5 KB of LaTeX) crashed chromium's tab once KaTeX typeset them: the viewer
  and the labeling page show them as text, marked as refused, and stay usable.
* A queue's item in progress can be skipped from the queue page, without opening its labeling page
  (an annotator whose item crashes that page is never stuck on it).
* A 1 MB looping trace (a reasoning model repeating one paragraph to its token limit) made a 9 MB
  viewer page and a 5 MB labeling page: both stay under 2 MB and show the loop's repeats collapsed
  into one row, whose steps load in place; a link to a step past the window opens the page there.
* Two such traces side by side made a comparison page of tens of MB: it stays under 2 MB, opens
  each column at its t* step, loads a collapsed block in place, and its columns still scroll together.
* A real 60-step Sky-T1 trace made ~6,400 elements, ~5,800 of them KaTeX's markup of formulas off
  the screen: the page keeps a few elements per step, and typesets only the formulas near the screen.

Traces come through the real importer with analysis (``manage.py import_traces``), as in production.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse
from playwright.sync_api import Browser, Locator, Page, expect
from test_compare import SCROLL_TO_ROW, TOP_ROWS
from test_trace_viewer import sky_t1_record, watch

from traces.actions.queues import QueueSpec, do_create_queue
from traces.models import AssignmentStatus, Membership, Project, QueueAssignment, QueueItem, Role, Step, Trace
from traces.views.windows import KEEP_REPEATS, PAGE_STEPS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "security"))
from hostile_corpus import NESTED_FRACTIONS, looping_record  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"
SLUG = "budgets"

#: The page has run its scripts: KaTeX has typeset the formulas near the screen (katex-render.js) and htmx
#: has no request out.
SETTLED = "() => !document.querySelector('.tex:not([data-tex]), .tex[data-tex=pending], .htmx-request')"


def import_records(tmp_path: Path, records: list[dict[str, str]]) -> list[int]:
    """Import the records as one thinkscope JSONL file, analysis included; their trace ids in order."""
    path = tmp_path / f"records-{len(list(tmp_path.iterdir()))}.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    call_command("import_traces", str(path), "--format", "jsonl", "--project", SLUG)
    return list(Trace.objects.filter(run__source_file=str(path)).order_by("pk").values_list("pk", flat=True))


def record(prompt: str, completion: str, model: str = "model-a") -> dict[str, str]:
    return {"prompt": prompt, "completion": completion, "reference_answer": "1", "model": model}


def log_in(browser: Browser, live_server, username: str) -> Page:
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
def owner(make_user):
    user = make_user("owner", PASSWORD)
    project = Project.objects.create(name="Budgets", slug=SLUG)
    Membership.objects.create(project=project, user=user, role=Role.OWNER)
    return user


def test_nested_latex_is_shown_as_text_on_the_viewer_and_the_labeling_page(
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


def test_the_item_in_progress_can_be_skipped_from_the_queue_page(
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


#: Each step row's number and the words of its text (textContent: what copying or searching finds),
#: its typeset formulas left out (KaTeX's markup has its own text); ``shown_step_texts`` leaves out
#: those still waiting to be typeset (off the screen) too.
STEP_WORDS = """(els) => els.map((el) => {
  const text = el.querySelector('.step-text').cloneNode(true);
  text.querySelectorAll('.katex').forEach((formula) => formula.remove());
  return [el.id, text.textContent];
})"""

#: A formula as auto-render finds it, its delimiters included.
FORMULA = re.compile(r"\$\$.*?\$\$|\$.*?\$|\\\(.*?\\\)|\\\[.*?\\\]", re.S)


def shown_step_texts(page: Page) -> dict[int, str]:
    """The words of each step row on the page (formulas left out), by step number."""
    rows = page.eval_on_selector_all("li[id^=step-]", STEP_WORDS)
    return {int(row_id.removeprefix("step-")): words_of(text) for row_id, text in rows}


def centre(locator: Locator) -> None:
    """Scroll ``locator`` to the middle of the window (for a screenshot), once KaTeX's fonts are in."""
    locator.evaluate("(el) => el.scrollIntoView({block: 'center'})")
    locator.page.wait_for_timeout(300)


def words_of(text: str) -> str:
    """A step's text without its formulas, as ``shown_step_texts`` reads it back."""
    return FORMULA.sub("", text)


def test_a_1mb_looping_trace_shows_its_loop_collapsed_in_bounded_pages(
    live_server, browser, owner, tmp_path, artifacts
) -> None:
    (trace_id,) = import_records(tmp_path, [looping_record(1_000_000)])
    trace = Trace.objects.select_related("analysis").get(pk=trace_id)
    steps = list(Step.objects.filter(trace=trace).order_by("index"))
    texts = {s.index + 1: trace.raw_text[s.char_start : s.char_end].strip() for s in steps}
    words = {number: words_of(text) for number, text in texts.items()}
    repeats = sum(1 for m in trace.analysis.markers if m["kind"] == "loop")
    page = log_in(browser, live_server, "owner")
    problems, dialogs = watch(page)
    viewer = live_server.url + reverse("trace-detail", args=[SLUG, trace_id])

    # The viewer: a few steps, the loop's other repeats in one row; marks drawn beside the text, not in it.
    response = page.goto(viewer)
    assert response is not None and len(response.body()) < 2_000_000
    page.wait_for_function(SETTLED)
    page.keyboard.press("t")  # the long thinking starts collapsed
    loop_row = page.locator("#think .steps-hidden-loop")
    expect(loop_row).to_have_count(1)
    expect(loop_row).to_contain_text(f"The next {repeats - KEEP_REPEATS:,} repeats of this block are collapsed")
    shown = shown_step_texts(page)
    assert 2 * KEEP_REPEATS <= len(shown) <= 2 * PAGE_STEPS
    assert shown == {number: words[number] for number in shown}  # no tag word joined the text
    assert page.locator("#think .mark-tag-loop").count() == KEEP_REPEATS
    centre(loop_row)
    page.screenshot(path=str(artifacts / "budget-loop-collapsed.png"))

    # Showing the repeats loads a window of them in place of the row, and a row for the rest.
    loop_row.get_by_role("button").click()
    expect(page.locator("#think li.step")).to_have_count(len([n for n in shown if n <= len(texts) - 1]) + PAGE_STEPS)
    page.wait_for_function(SETTLED)
    more = page.locator("#think .steps-hidden")
    expect(more).to_have_count(1)
    loaded = shown_step_texts(page)
    assert loaded == {number: words[number] for number in loaded}
    centre(more)
    page.screenshot(path=str(artifacts / "budget-loop-expanded.png"))

    # A link to a step past the window opens the page at it.
    page.goto(viewer + "#step-6000")
    expect(page.locator("#step-6000")).to_be_attached()
    assert "start=5999" in page.url
    page.wait_for_function(SETTLED)
    assert shown_step_texts(page)[6000] == words[6000]
    centre(page.locator("#think .steps-hidden").first)
    page.screenshot(path=str(artifacts / "budget-opened-at-step.png"))

    # The labeling page: bounded too; a loaded step is labeled by keyboard like the others.
    label = live_server.url + reverse("trace-label", args=[SLUG, trace_id])
    response = page.goto(label)
    assert response is not None and len(response.body()) < 2_000_000
    page.wait_for_function(SETTLED)
    loop_row = page.locator(".part-think .steps-hidden-loop")
    expect(loop_row).to_contain_text(f"The next {repeats - KEEP_REPEATS:,} repeats of this block are collapsed")
    centre(loop_row)
    page.screenshot(path=str(artifacts / "budget-loop-labeling.png"))
    first_hidden = int(loop_row.get_attribute("data-hidden-steps").split("-")[0])
    loop_row.get_by_role("button").click()
    first_loaded = page.locator(f"#step-{first_hidden}")
    expect(first_loaded).to_be_attached()
    first_loaded.locator(".step-text").click()
    page.keyboard.press("3")
    expect(page.locator("#label-progress")).to_have_text(f"1 / {len(steps)} rated by you")
    expect(page.locator(f"#my-label-{steps[first_hidden - 1].pk}")).to_have_attribute("data-value", "1")
    assert problems == [] and dialogs == []


def top_rows(page: Page, letter: str) -> tuple[int, int]:
    """The aligned rows of the cell at the top of column ``letter``."""
    first, last = page.evaluate(TOP_ROWS, letter)
    return int(first), int(last)


def shows_row(page: Page, letter: str, row: int) -> bool:
    first, last = top_rows(page, letter)
    return first <= row <= last


def test_the_comparison_of_two_1mb_looping_traces_is_bounded_and_scrolls_together(
    live_server, browser, owner, tmp_path, artifacts, wait_for
) -> None:
    # B thinks through 300 paragraphs of its own before it loops, so its t* comes ~300 steps after A's.
    late = looping_record(1_000_000, model="loops-later")
    preamble = "".join(
        f"Consider pile {''.join('abcdefghij'[int(d)] for d in str(i))} of the pencils: a box of twelve on the "
        "shelf by the window, where the light is good enough to count every box twice.\n\n"
        for i in range(300)
    )
    late["completion"] = late["completion"].replace("<think>", "<think>" + preamble, 1)
    ids = import_records(tmp_path, [looping_record(1_000_000, model="loops-at-once"), late])
    page = log_in(browser, live_server, "owner")
    page.set_viewport_size({"width": 1440, "height": 900})
    problems, dialogs = watch(page)
    url = live_server.url + reverse("trace-compare", args=[SLUG]) + "?traces=" + ",".join(map(str, ids))

    response = page.goto(url)
    assert response is not None and len(response.body()) < 2_000_000
    page.wait_for_function(SETTLED)
    anchor = int(page.get_attribute("[data-jump-row]", "data-jump-row") or "-1")
    assert anchor > 250
    for letter in "AB":  # each column's first window holds its t* step, on the t* row
        badge = page.locator(f"[data-compare-column={letter}] .t-star-badge")
        expect(badge).to_have_count(1)
        assert badge.evaluate("(b) => b.closest('[data-rows]').dataset.rows") == f"{anchor}-{anchor}"

    # Show the collapsed repeats of A's loop: they load in place, each cell on its own aligned row.
    column_a = page.locator("[data-compare-column=A]")
    loop_cell = column_a.locator(".steps-hidden-loop").first
    expect(loop_cell).to_contain_text("repeats of this block are collapsed")
    before = column_a.locator("[data-rows]").count()
    loop_cell.get_by_role("button").click()
    wait_for(lambda: column_a.locator("[data-rows]").count() > before, 10, 0.05)
    page.wait_for_function(SETTLED)
    spans = column_a.locator("[data-rows]").evaluate_all("(cells) => cells.map((cell) => cell.dataset.rows)")
    rows = [int(span.split("-")[0]) for span in spans]
    assert rows == sorted(rows) and len(rows) == len(set(rows))

    # Scroll A into the loaded steps: B follows to the same aligned row, and back to t* with "s".
    loaded_row = rows[before + 5]
    page.evaluate(SCROLL_TO_ROW, ["A", loaded_row])
    wait_for(lambda: shows_row(page, "B", loaded_row), 10, 0.05)
    page.locator("[data-compare]").evaluate("(el) => el.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(300)
    page.screenshot(path=str(artifacts / "budget-compare-loops.png"))
    page.keyboard.press("s")
    wait_for(lambda: shows_row(page, "A", anchor) and shows_row(page, "B", anchor), 10, 0.05)
    assert problems == [] and dialogs == []


#: 1-based line of a Sky-T1 trace of 60 steps (the 300 samples average 60), with formulas throughout.
SKY_T1_60_STEPS_LINE = 85
#: Elements of a trace page apart from its steps (navigation, facts, analysis panel, legend, dialogs).
PAGE_FRAME = 500
#: Elements of a step row: the row, its number, body and text, and its marks (about one a step).
PER_STEP = 8

#: The page's elements, those of KaTeX's markup counted apart, and each step text of the thinking
#: holding a formula: whether it is typeset and how far its top is below the top of the window, in
#: windows.
ELEMENTS = """() => ({
  all: document.querySelectorAll("*").length,
  katex: document.querySelectorAll(".katex, .katex *").length,
  math: Array.from(document.querySelectorAll("#think .step-text[data-tex=done], #think .step-text[data-tex=offscreen]"))
    .filter((text) => text.getAttribute("data-tex") === "offscreen" || text.querySelector(".katex"))
    .map((text) => [text.getAttribute("data-tex"), text.getBoundingClientRect().top / window.innerHeight]),
})"""


def test_a_60_step_trace_keeps_a_few_elements_a_step_and_typesets_near_the_screen(
    live_server, browser, owner, tmp_path, shared_data, artifacts
) -> None:
    sky = sky_t1_record(shared_data, SKY_T1_60_STEPS_LINE)
    (trace_id,) = import_records(tmp_path, [{**record(sky["question"], sky["code"][0], "Sky-T1-27B"),
                                             "reference_answer": sky["answer"], "think_format": "sky_t1"}])
    steps = Step.objects.filter(trace_id=trace_id).count()
    assert 55 <= steps <= 65, f"line {SKY_T1_60_STEPS_LINE} was chosen for its 60 steps, it has {steps}"
    page = log_in(browser, live_server, "owner")
    problems, dialogs = watch(page)
    open_settled(page, live_server.url + reverse("trace-detail", args=[SLUG, trace_id]))
    page.keyboard.press("t")  # the long thinking starts collapsed
    expect(page.locator("#think")).to_have_attribute("open", "")
    page.wait_for_function(SETTLED)

    counts = page.evaluate(ELEMENTS)
    print(f"\n{steps}-step Sky-T1 trace, every step shown: {counts['all']:,} elements, {counts['katex']:,} of them KaTeX's")
    assert counts["all"] - counts["katex"] <= PAGE_FRAME + PER_STEP * steps
    typeset = [top for state, top in counts["math"] if state == "done"]
    waiting = [top for state, top in counts["math"] if state == "offscreen"]
    assert typeset and waiting  # the thinking's formulas on the screen are typeset, those further down wait
    assert max(typeset) < 2 and min(waiting) > 1  # "near": within half a window of it (katex-render.js)
    page.screenshot(path=str(artifacts / "budget-60-steps.png"))

    # Scrolling to the end typesets the formulas that come near and leaves those it passed typeset.
    page.locator(".part .step-text").last.scroll_into_view_if_needed()
    page.wait_for_function(SETTLED)
    expect(page.locator(".part .step-text").last).to_have_attribute("data-tex", "done")
    every = page.evaluate("window.thinkscopeTex.typesetAll().then(() => document.querySelectorAll('*').length)")
    print(f"with every formula typeset: {every:,} elements")
    page.wait_for_timeout(300)  # KaTeX's fonts
    page.screenshot(path=str(artifacts / "budget-60-steps-end.png"))
    assert problems == [] and dialogs == []

