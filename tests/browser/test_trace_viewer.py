"""End to end in a real browser (SPEC §4): log in, filter the list (htmx), open a trace, read it;
the analysis marks in the text (issue 4 item 5), the key that hides them, and the list sorted by a score.

Data: a real Sky-T1 long chain-of-thought trace (LaTeX, closed thinking), a real PRM800K trace
(alternative completions), a trace whose text is an XSS payload, and filler traces enough for
"Load more"; the marks test adds a looping Sky-T1 trace and analyses them all. Every console error,
failed request or JS dialog fails the test; the pages set a Content-Security-Policy without
'unsafe-inline', so an inline script or handler would show up as a console error too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from traces.actions.analysis import analyze_traces
from traces.actions.labels import LabelInput, do_save_labels
from traces.actions.store import store_traces
from traces.formats.base import ParsedStep, ParsedTrace
from traces.formats.prm800k import parse_record
from traces.models import Label, Membership, Project, Role, Run, RunKind, Score, Step, Trace, TraceAnnotation
from traces.views.traces import PAGE_SIZE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PRM800K = Path("prm800k") / "phase1_train.examples.jsonl"
SKY_T1 = Path("skyt1_math500_traces") / "Sky-T1-math-correct-5K-27B.math500.lines1-300.jsonl"
SKY_T1_LINE = 20  # 1-based: ~11k characters, closed thinking with Sky-T1 markers, LaTeX
SKY_T1_LOOP_LINE = 11  # 1-based: one block repeated dozens of times (a loop)
XSS_TEXT = "<script>alert(1)</script> and <img src=x onerror=alert(1)>"
PASSWORD = "correct horse battery"
MONEY_AND_MATH = "Pens cost $2 each and pencils $3 each, so $x=1$."  # two dollar signs, one formula
#: KaTeX has typeset the formulas near the screen (static/js/katex-render.js) and htmx has no request out.
SETTLED = "() => !document.querySelector('.tex:not([data-tex]), .tex[data-tex=pending], .htmx-request')"
FILLERS = PAGE_SIZE + 2


def sky_t1_record(shared_data: Path, wanted: int = SKY_T1_LINE) -> dict:
    with (shared_data / SKY_T1).open(encoding="utf-8") as fp:
        for number, line in enumerate(fp, start=1):
            if number == wanted:
                return json.loads(line)
    raise AssertionError(f"{SKY_T1} has fewer than {wanted} lines")


def seed(shared_data: Path, user) -> dict[str, int]:
    """The demo project: fillers, a PRM800K trace, the Sky-T1 trace with labels from two sources, the XSS trace."""
    project = Project.objects.create(name="Browser demo", slug="demo")
    Membership.objects.create(project=project, user=user, role=Role.OWNER)
    run = Run.objects.create(project=project, kind=RunKind.IMPORT, name="browser.jsonl")
    fillers = [
        ParsedTrace(line_no=i, prompt=f"Filler {i}: what is {i} + 1?", reference_answer=str(i + 1),
                    text=f"{i} + 1 = {i + 1}.\n\nThe answer is {i + 1}.", model_name="filler-model")
        for i in range(FILLERS)
    ]
    record = sky_t1_record(shared_data)
    sky = ParsedTrace(line_no=FILLERS, prompt=record["question"], reference_answer=record["answer"],
                      text=record["code"][0], model_name="Sky-T1-27B", think_format="sky_t1", finish_reason="stop")
    xss = ParsedTrace(line_no=FILLERS + 1, prompt=f"Hostile {XSS_TEXT}", reference_answer="1", model_name="hostile",
                      text="", steps=[ParsedStep(text=f"Step one: {XSS_TEXT}", label=-1), ParsedStep(text=MONEY_AND_MATH)],
                      label_source="import:test")
    with (shared_data / PRM800K).open(encoding="utf-8") as fp:
        prm800k = parse_record(json.loads(fp.readline()), 1)
    ids = store_traces(project, run, [*fillers, *prm800k, sky, xss]).trace_ids
    prm800k_id, sky_id, xss_id = ids[-3], ids[-2], ids[-1]
    steps = list(Step.objects.filter(trace_id=sky_id).order_by("index"))
    do_save_labels(user, [LabelInput(step=steps[0], value=1), LabelInput(step=steps[1], value=-1, note="wrong turn")])
    Label.objects.create(step=steps[1], trace_id=sky_id, value=0, source="mc_rollout", confidence=0.5)
    TraceAnnotation.objects.create(trace_id=sky_id, source="human", user=user, first_error_step=1)
    return {"prm800k": prm800k_id, "sky": sky_id, "xss": xss_id}


def watch(page: Page) -> tuple[list[str], list[str]]:
    """Collect console errors, page errors, failed responses and JS dialogs (the last must stay empty)."""
    problems: list[str] = []
    dialogs: list[str] = []

    def on_console(message) -> None:
        if message.type == "error":
            problems.append(f"console: {message.text}")

    def on_response(response) -> None:
        if response.status >= 400:
            problems.append(f"{response.status}: {response.url}")

    def on_failed(request) -> None:
        # A background request dropped by the page itself (an htmx poll in flight when a form
        # navigates away) shows a person nothing; any other failed request is a problem.
        if not (request.failure == "net::ERR_ABORTED" and request.resource_type in ("xhr", "fetch")):
            problems.append(f"failed: {request.url} {request.failure}")

    def on_dialog(dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    page.on("requestfailed", on_failed)
    page.on("response", on_response)
    page.on("dialog", on_dialog)
    return problems, dialogs


def current_step(page: Page) -> str:
    return page.evaluate("document.activeElement && document.activeElement.id")


def test_login_filter_open_and_read_a_trace(live_server, browser, make_user, shared_data, artifacts) -> None:
    user = make_user("reader", PASSWORD)
    ids = seed(shared_data, user)
    page = browser.new_page(viewport={"width": 1360, "height": 900})
    problems, dialogs = watch(page)

    # Login required: the list redirects to the login form, which brings us back.
    page.goto(live_server.url + reverse("trace-list", args=["demo"]))
    expect(page.locator("h1")).to_have_text("Log in")
    page.fill("#id_username", "reader")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Traces")

    rows = page.locator("#trace-rows > tr:not(#load-more)")
    expect(rows).to_have_count(PAGE_SIZE)
    page.screenshot(path=str(artifacts / "trace-list.png"))
    page.click("#load-more a")  # htmx appends the next keyset page
    expect(rows).to_have_count(FILLERS + 3)
    expect(page.locator("#load-more")).to_have_count(0)
    expect(page.get_by_text(f"Hostile {XSS_TEXT}")).to_be_visible()  # the payload is text in the list too

    page.select_option("#id_model", label="Sky-T1-27B")  # "change" → htmx swaps the results
    expect(rows).to_have_count(1)
    assert "model=" in page.url  # hx-push-url keeps the filter in the address bar

    page.click(f"#trace-rows a[href$='/traces/{ids['sky']}/']")
    expect(page.locator("h1")).to_have_text(f"Trace #{ids['sky']}")
    expect(page.locator(".problem .katex").first).to_be_attached()

    think = page.locator("details#think")
    expect(think).not_to_have_attribute("open", "")  # long thinking starts collapsed
    assert page.locator("#think .katex").count() == 0  # its formulas wait until it is shown
    page.keyboard.press("t")
    expect(think).to_have_attribute("open", "")
    expect(page.locator("#think .katex").first).to_be_attached()
    page.keyboard.press("j")
    assert current_step(page) == "step-1"
    page.keyboard.press("j")
    assert current_step(page) == "step-2"
    expect(page.locator("#step-2")).to_have_class("step first-error is-current")
    page.keyboard.press("k")
    assert current_step(page) == "step-1"
    expect(page.locator("#step-2 .chip")).to_have_count(2)
    page.keyboard.press("?")
    expect(page.locator("#shortcut-help")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#shortcut-help")).to_be_hidden()
    page.keyboard.press("t")
    expect(think).not_to_have_attribute("open", "")
    page.keyboard.press("t")
    page.wait_for_timeout(200)  # let KaTeX's fonts settle before the screenshot
    page.screenshot(path=str(artifacts / "trace-viewer.png"))

    # A PRM800K trace: each step's other completions with their ratings, in a <details>.
    page.goto(live_server.url + reverse("trace-detail", args=["demo", ids["prm800k"]]))
    alternatives = page.locator("details.alternatives").first
    expect(alternatives.locator(".alternative").first).to_be_hidden()
    alternatives.locator("summary").click()
    expect(alternatives.locator(".alternative .rating").first).to_be_visible()
    alternatives.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "trace-viewer-prm800k.png"))

    # The hostile trace: its markup is shown as text and nothing executes.
    page.goto(live_server.url + reverse("trace-detail", args=["demo", ids["xss"]]))
    expect(page.locator("#step-1 .step-text")).to_have_text(f"Step one: {XSS_TEXT}")
    expect(page.locator(".problem .prose")).to_contain_text(f"Hostile {XSS_TEXT}")
    assert page.locator("main script, main img").count() == 0
    expect(page.locator("#step-2 .katex")).to_have_count(1)  # $x=1$; the prices stay text
    expect(page.locator("#step-2 .step-text")).to_contain_text("Pens cost $2 each and pencils $3 each, so")
    page.wait_for_timeout(300)
    page.screenshot(path=str(artifacts / "trace-viewer-xss.png"))

    assert dialogs == []
    assert problems == []


def log_in(page: Page, live_server, url: str) -> None:
    """Open ``url`` through the login form as "reader"."""
    page.goto(live_server.url + url)
    page.fill("#id_username", "reader")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")


#: The text a reader copies after selecting everything inside the element that matches the selector.
COPY_OF = """(selector) => {
  const range = document.createRange();
  range.selectNodeContents(document.querySelector(selector));
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
  const copied = selection.toString();
  selection.removeAllRanges();
  return copied;
}"""


#: The number of formulas KaTeX renders in each plain text, by static/js/katex-render.js's own function.
COUNT_FORMULAS_OF_PLAIN_TEXT = r"""(texts) => texts.map((text) => {
  const probe = document.createElement("div");
  probe.textContent = text;
  document.body.appendChild(probe);
  window.thinkscopeTex.render(probe);
  const count = probe.querySelectorAll(".katex").length;
  probe.remove();
  return count;
})"""


def test_analysis_marks_render_and_m_hides_them(live_server, browser, make_user, shared_data, artifacts) -> None:
    user = make_user("reader", PASSWORD)
    ids = seed(shared_data, user)
    project = Project.objects.get(slug="demo")
    record = sky_t1_record(shared_data, SKY_T1_LOOP_LINE)
    looping = ParsedTrace(line_no=FILLERS + 2, prompt=record["question"], reference_answer=record["answer"],
                          text=record["code"][0], model_name="Sky-T1-27B", think_format="sky_t1")
    loop_id = store_traces(project, Run.objects.get(project=project), [looping]).trace_ids[0]
    analyze_traces(Trace.objects.filter(project=project))
    sky = Trace.objects.select_related("analysis").get(pk=ids["sky"])
    assert sky.analysis.verdicts["t_star"] is not None  # the trace chosen for its t*
    steps = list(Step.objects.filter(trace=sky).order_by("index"))
    plain = [sky.raw_text[s.char_start : s.char_end].strip() for s in steps]

    page = browser.new_page(viewport={"width": 1360, "height": 900})
    problems, dialogs = watch(page)
    log_in(page, live_server, reverse("trace-detail", args=["demo", sky.pk]))
    expect(page.locator("h1")).to_have_text(f"Trace #{sky.pk}")
    expect(page.locator("[data-badge=mismatch]")).to_be_visible()
    t_star_badge = page.locator("[data-badge=t-star]")
    expect(t_star_badge).to_have_text(re.compile(r"t\* at step \d+"))
    page.wait_for_load_state("load")  # the deferred scripts (the keyboard handler) have run
    page.keyboard.press("t")  # the long thinking starts collapsed
    expect(page.locator("details#think")).to_have_attribute("open", "")

    # Marks are in the text: one t* tag, shaded steps after it, tags for behaviours and switches.
    t_star = page.locator(".part .mark-tag-t-star")
    expect(t_star).to_have_count(1)
    expect(t_star).to_be_visible()
    assert page.locator(".part .mark-after-t-star").count() > 10
    assert page.locator(".part .mark-tag-thought-switch").count() > 0
    # KaTeX typesets the steps near the screen and leaves the others for when they come near;
    # typesetAll (what printing runs) does the rest. Then it has rendered every formula it would
    # render in the unmarked text, step by step; the t* mark wraps a whole formula here and KaTeX
    # renders inside it.
    page.wait_for_function(SETTLED)
    assert page.locator(".part .step-text[data-tex=offscreen]").count() > 0
    page.evaluate("window.thinkscopeTex.typesetAll()")
    count_formulas = "(els) => els.map((el) => el.querySelectorAll('.katex').length)"
    shown = page.eval_on_selector_all(".part .step-text", count_formulas)
    assert shown == page.evaluate(COUNT_FORMULAS_OF_PLAIN_TEXT, plain)
    assert sum(shown) > 20
    expect(page.locator(".part .mark-t-star .katex")).to_have_count(1)

    # A tag's word is drawn by CSS and never joins the trace's text: copying the thinking finds none
    # of the tag words the trace itself does not write (searching for them: at the end).
    tag_words = set(page.eval_on_selector_all(".part .mark-tag", "(tags) => tags.map((tag) => tag.dataset.tag)"))
    not_in_trace = {word for word in tag_words if word not in sky.raw_text}
    assert {"t*", "⇄ switch", "subgoal"} <= not_in_trace
    copied = page.evaluate(COPY_OF, "#think .steps")
    assert len(copied) > 1000 and not [word for word in not_in_trace if word in copied]

    # m hides the marks (tags gone, no shading) and shows them again; so does the button.
    toggle = page.locator("[data-toggle-marks]")
    shaded = page.locator(".part .mark-after-t-star").first
    background = "(el) => getComputedStyle(el).backgroundColor"
    assert shaded.evaluate(background) != "rgba(0, 0, 0, 0)"
    page.keyboard.press("m")
    expect(t_star).to_be_hidden()
    expect(toggle).to_have_attribute("aria-pressed", "false")
    assert shaded.evaluate(background) == "rgba(0, 0, 0, 0)"
    page.keyboard.press("m")
    expect(t_star).to_be_visible()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    toggle.click()
    expect(t_star).to_be_hidden()
    toggle.click()
    expect(t_star).to_be_visible()
    page.keyboard.press("?")
    expect(page.locator("#shortcut-help")).to_contain_text("Show or hide the analysis marks")
    page.keyboard.press("Escape")
    page.wait_for_timeout(300)  # KaTeX's fonts
    page.screenshot(path=str(artifacts / "trace-viewer-analysis.png"))  # badges, facts, legend

    t_star_badge.click()  # jumps to the step holding t*
    page.locator(".part .mark-tag-t-star").scroll_into_view_if_needed()
    page.evaluate("window.scrollBy(0, -200)")
    page.wait_for_timeout(300)  # KaTeX's fonts
    page.screenshot(path=str(artifacts / "trace-viewer-marks.png"))

    # Searching the trace's text (find-in-page, with the legend and badges, which name the tags,
    # taken off the page) finds none of the tag words either.
    page.evaluate("document.querySelectorAll('main > :not(.part)').forEach((other) => other.remove())")
    find = "(word) => { window.getSelection().removeAllRanges(); return window.find(word); }"
    assert page.evaluate(find, re.findall(r"[A-Za-z]{7,}", copied)[-1])  # a word of the trace is found
    assert not [word for word in not_in_trace if page.evaluate(find, word)]

    # A looping trace: its badge, its repeats after the second collapsed, and every repeat highlighted.
    page.goto(live_server.url + reverse("trace-detail", args=["demo", loop_id]))
    loop_count = int(Score.objects.get(trace_id=loop_id, name="loop_count").value)
    repeats = sum(1 for m in Trace.objects.get(pk=loop_id).analysis.markers if m["kind"] == "loop")
    expect(page.locator("[data-badge=loops]")).to_contain_text(f"{loop_count} loop")
    page.keyboard.press("t")
    hidden = page.locator(".part .steps-hidden-loop")
    expect(hidden.first).to_contain_text("repeats of this block are collapsed")  # after two of each loop
    hidden.first.evaluate("(row) => row.scrollIntoView({block: 'center'})")
    page.wait_for_timeout(300)  # KaTeX's fonts
    page.screenshot(path=str(artifacts / "trace-viewer-loop-collapsed.png"))
    while hidden.count():  # showing them brings every repeat
        hidden.first.get_by_role("button").click()
        page.wait_for_function("() => !document.querySelector('.htmx-request')")
    expect(page.locator(".part .mark-tag-loop")).to_have_count(repeats)
    page.locator(".part .mark-loop").nth(2).scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    page.screenshot(path=str(artifacts / "trace-viewer-loops.png"))

    # The list sorted by a score from the filter form (htmx), highest first, the score in a column.
    page.goto(live_server.url + reverse("trace-list", args=["demo"]))
    page.select_option("#id_score", "overthinking_ratio")
    expect(page.locator("th.score-column")).to_have_text("Overthinking ratio")
    expect(page.locator("th.score-column abbr")).to_have_attribute("title", "overthinking_ratio (method: analysis)")
    page.select_option("#id_order", "desc")
    expect(page.locator(".score-note")).to_contain_text("Traces without this score are left out")
    highest = Score.objects.filter(trace__project=project, name="overthinking_ratio").order_by("-value", "-trace_id")
    first = highest.first()
    expect(page.locator("#trace-rows > tr").first.locator("td.num").first).to_have_text(str(first.trace_id))
    assert "score=overthinking_ratio" in page.url and "order=desc" in page.url
    page.screenshot(path=str(artifacts / "trace-list-by-score.png"))

    assert dialogs == []
    assert problems == []
