"""Analysis results in the browser UI (issue 4, item 5): viewer badges and marks, list filter and sort by score.

Expected values are computed in the tests from what they wrote (markers, Score rows) or from the
source file, never read back from the presenters: a mark is checked character by character
against the markers covering that character, and a score order against the Score rows sorted here.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from page_windows import with_hidden_steps
from trace_factory import TraceSpec

from traces.actions.analysis import analyze_traces, store_trace_scores
from traces.actions.store import store_traces
from traces.analysis.engine import METHOD
from traces.formats.base import ParsedTrace
from traces.models import Project, Run, RunKind, Score, Step, Trace, TraceAnalysis
from traces.views import traces as trace_views
from traces.views.presenters import MARK_STYLES, tex_spans

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert(1)</script>"
SKY_T1 = Path("skyt1_math500_traces") / "Sky-T1-math-correct-5K-27B.math500.lines1-300.jsonl"
SKY_T1_LINES = 12  # the first lines hold t*, loops, thought switches and every behaviour but reflection


# --- Reading the marked HTML back -----------------------------------------------------------------


@dataclass
class ShownText:
    """One marked text of the page: its characters, the mark classes over each, and its tags."""

    chars: list[tuple[str, frozenset[str]]] = field(default_factory=list)
    tags: list[tuple[str, str]] = field(default_factory=list)  # (css, title)

    @property
    def text(self) -> str:
        return "".join(char for char, _ in self.chars)


class MarkedTextParser(HTMLParser):
    """Collect every ``div.step-text`` / ``div.part-text``: text, mark classes per character, tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[ShownText] = []
        self.stack: list[tuple[str, set[str]]] = []  # open elements inside the current text
        self.in_tag = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = set((dict(attrs).get("class") or "").split())
        if not self.stack and tag == "div" and {"step-text", "part-text"} & classes:
            self.texts.append(ShownText())
            self.stack.append((tag, set()))
        elif self.stack:
            assert tag == "span", f"only spans inside a marked text, got <{tag}>"
            if "mark-tag" in classes:
                css = next(c.removeprefix("mark-tag-") for c in classes if c.startswith("mark-tag-"))
                self.texts[-1].tags.append((css, dict(attrs).get("title") or ""))
                self.in_tag += 1
            self.stack.append((tag, {c.removeprefix("mark-") for c in classes if c.startswith("mark-")}))

    def handle_endtag(self, tag: str) -> None:
        if self.stack:
            _, classes = self.stack.pop()
            if any(c.startswith("tag") for c in classes):
                self.in_tag -= 1

    def handle_data(self, data: str) -> None:
        if self.stack and not self.in_tag:
            marks = frozenset(c for _, classes in self.stack for c in classes if not c.startswith("tag"))
            self.texts[-1].chars.extend((char, marks) for char in data)


def shown_texts(body: str) -> list[ShownText]:
    parser = MarkedTextParser()
    parser.feed(body)
    return parser.texts


def detail_url(trace: Trace) -> str:
    return reverse("trace-detail", args=[trace.project.slug, trace.pk])


MarkerSpec = tuple[str, int, int, str]  # kind, start, end, label


def analyse(
    trace: Trace, markers: list[MarkerSpec], verdicts: dict | None = None, scores: dict[str, float] | None = None
) -> None:
    """Store an analysis of ``trace`` written by hand: markers as (kind, start, end, label)."""
    TraceAnalysis.objects.create(
        trace=trace,
        version="test",
        verdicts={"mismatch": "undetermined", "think_answer": None, **(verdicts or {})},
        markers=[{"kind": k, "start": s, "end": e, "label": label} for k, s, e, label in markers],
    )
    store_trace_scores(Score(trace=trace, name=n, value=v, method=METHOD) for n, v in (scores or {}).items())


def expected_marks(trace: Trace, step: Step, markers: list[MarkerSpec]) -> list[tuple[str, frozenset[str]]]:
    """Each character a step shows, with the CSS of the markers covering that character."""
    text = trace.raw_text[step.char_start : step.char_end]
    start = step.char_start + len(text) - len(text.lstrip())
    shown = text.strip()
    return [
        (char, frozenset(MARK_STYLES[k].css for k, s, e, _ in markers if s <= start + i < e))
        for i, char in enumerate(shown)
    ]


# --- Viewer -------------------------------------------------------------------------------------


def test_a_trace_without_analysis_says_how_to_analyse_it(member_client, make_traces) -> None:
    trace = make_traces([TraceSpec(key="raw", think=["Let me think."])])["raw"]
    body = member_client.get(detail_url(trace)).content.decode()
    assert "Not analysed yet" in body
    assert "manage.py analyze --project test" in body
    assert 'data-badge="' not in body and "data-toggle-marks" not in body
    assert [t.text for t in shown_texts(body)] == ["Let me think.", "Add the numbers.", "So the answer is 4."]


@pytest.mark.parametrize(
    "verdict, badge",
    [("match", "think = answer"), ("mismatch", "think–answer mismatch"), ("undetermined", "think–answer undetermined")],
)
def test_badges_show_the_verdicts_and_scores(member_client, make_traces, verdict, badge) -> None:
    spec = TraceSpec(key="v", think=["First try 5.", "So the answer is 4.", "Let me check: 4."], final_answer="4")
    trace = make_traces([spec])["v"]
    t_star_at = trace.raw_text.index("4.")  # inside the second think step
    analyse(
        trace,
        [("t_star", t_star_at, t_star_at + 1, "t*: reference answer first reached (4)")],
        verdicts={"mismatch": verdict, "think_answer": "5", "truncated": True, "unsupported_answer": True},
        scores={"overthinking_ratio": 0.4, "loop_count": 2.0, "loop_tokens_wasted": 40.0, "t_star_step": 1.0,
                "tokens_after_t_star": 3.0, "reverifications_after_t_star": 1.0},
    )
    body = member_client.get(detail_url(trace)).content.decode()
    badges = dict(re.findall(r'data-badge="([\w-]+)"[^>]*>(.*?)</(?:span|a)>\s*$', body, re.M))
    assert set(badges) == {"mismatch", "truncated", "unsupported", "loops", "t-star", "overthinking"}
    assert badge in badges["mismatch"]
    assert "2 loops · 40 tokens wasted" in badges["loops"]
    assert badges["t-star"] == "t* at step 2"
    assert 'href="#step-2"' in body
    assert badges["overthinking"] == "overthinking 40%"
    assert '<code class="think-conclusion">5</code>' in body and '<code class="final-answer">4</code>' in body
    assert "1 re-verification" in body
    assert "Not analysed yet" not in body


def test_a_trace_without_a_think_part_has_no_think_answer_verdict(member_client, make_traces) -> None:
    """A model that does not think (the demo's) gets no "undetermined" badge on every trace."""
    trace = make_traces([TraceSpec(key="plain", think=[], steps=["2 + 2 = 4.", "The answer is 4."])])["plain"]
    assert not trace.think_split.has_think
    analyse(trace, [], verdicts={"mismatch": "undetermined", "think_answer": None, "truncated": False})
    body = member_client.get(detail_url(trace)).content.decode()
    assert 'data-badge="mismatch"' not in body
    assert "no think part: the completion is all answer" in body and "thinking concluded" not in body


def test_a_trace_without_a_think_part_has_no_overthinking_ratio(member_client, make_traces) -> None:
    """t* of a completion without a think part is in the answer, and its overthinking undetermined."""
    trace = make_traces([TraceSpec(key="plain", think=[], steps=["2 + 2 = 4.", "The answer is 4."])])["plain"]
    t_star_at = trace.raw_text.index("4.")
    analyse(trace, [("t_star", t_star_at, t_star_at + 1, "t*: reference answer first reached (4)")],
            scores={"overthinking_ratio": 0.77, "t_star_step": 0.0, "tokens_after_t_star": 5.0,
                    "reverifications_after_t_star": 0.0})
    body = member_client.get(detail_url(trace)).content.decode()
    assert 'data-badge="overthinking"' not in body and "77%" not in body
    assert "in the thinking" not in body
    assert "first reached in the answer" in body
    assert re.search(r"<dt>Overthinking ratio</dt><dd>—</dd>", body)


def test_badges_stay_quiet_when_nothing_is_wrong(member_client, make_traces) -> None:
    trace = make_traces([TraceSpec(key="calm", think=["So the answer is 4."])])["calm"]
    analyse(trace, [], verdicts={"mismatch": "match", "think_answer": "4", "truncated": False,
                                 "unsupported_answer": False},
            scores={"overthinking_ratio": 0.0, "loop_count": 0.0, "loop_tokens_wasted": 0.0})
    body = member_client.get(detail_url(trace)).content.decode()
    assert re.findall(r'data-badge="([\w-]+)"', body) == ["mismatch"]
    assert "Nothing to mark in this trace" in body and "data-toggle-marks" not in body


def test_overlapping_markers_crossing_steps_are_clipped_per_step(member_client, make_traces) -> None:
    spec = TraceSpec(key="overlap", think=["Wait, let me check the sum.", "Alternatively, add again.", "The sum is 4."])
    trace = make_traces([spec])["overlap"]
    raw = trace.raw_text
    check = raw.index("let me check")
    alt = raw.index("Alternatively")
    markers = [
        ("behaviour_backtracking", raw.index("Wait"), raw.index("Wait") + 4, "Wait"),
        ("behaviour_verification", check, check + len("let me check"), "let me check"),
        ("reverification", check, check + len("let me check"), "let me check"),
        ("loop", raw.index("the sum"), raw.index("again") + 5, "loop 1: repeat 1 of 3"),  # crosses steps 1 → 2
        ("thought_switch", alt, alt + len("Alternatively"), "Alternatively"),
        ("after_t_star", raw.index("sum."), raw.index("The sum is 4.") + 13, "5 tokens after t*"),  # three steps
    ]
    analyse(trace, markers)
    body = member_client.get(detail_url(trace)).content.decode()
    shown = shown_texts(body)
    steps = list(Step.objects.filter(trace=trace).order_by("index"))
    assert len(shown) == len(steps)
    for text, step in zip(shown, steps, strict=True):
        assert text.chars == expected_marks(trace, step, markers), step.index
    # Each marker's tag shows once, in the step where the marker starts.
    tags = [[css for css, _ in text.tags] for text in shown]
    assert tags[0] == ["backtracking", "verification", "reverification", "loop", "after-t-star"]
    assert tags[1] == ["thought-switch"]
    assert tags[2] == []
    legend = re.findall(r'<li[^>]*>(?:<button[^>]*>)?<span class="mark-tag mark-tag-([\w-]+)">', body)
    assert legend == [MARK_STYLES[k].css for k in MARK_STYLES if k in {m[0] for m in markers}]


def test_hostile_text_in_a_loop_span_and_in_labels_stays_escaped(member_client, make_traces) -> None:
    step = f"Repeat {SCRIPT} now."
    trace = make_traces([TraceSpec(key="xss", think=[step, step, step])])["xss"]
    raw = trace.raw_text
    starts = [m.start() for m in re.finditer(re.escape(step), raw)]
    markers = [("loop", s, s + len(step), f"loop 1: repeat {i + 1} of 3 {SCRIPT}") for i, s in enumerate(starts)]
    inside = raw.index("alert")
    markers.append(("behaviour_reflection", inside, inside + 5, f"aha {SCRIPT}"))  # a mark inside the payload
    analyse(trace, markers, scores={"loop_count": 1.0, "loop_tokens_wasted": 10.0})
    body = member_client.get(detail_url(trace)).content.decode()
    assert SCRIPT not in body and "<script>alert" not in body
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert f'<span class="mark mark-loop" title="loop 1: repeat 1 of 3 {escaped}">Repeat &lt;script&gt;' in body
    assert 'data-tag="aha" title="aha &lt;script&gt;alert(1)&lt;/script&gt;"></span>' in body
    shown = shown_texts(body)
    assert [t.text for t in shown[:3]] == [step] * 3
    assert all(marks >= {"loop"} for t in shown[:3] for _, marks in t.chars)


def test_marks_wrap_whole_formulas(member_client, make_traces) -> None:
    think = ["So we get $x = 42$, done.", "Check \\(y + 42 = 84\\) and $$z$$ again."]
    trace = make_traces([TraceSpec(key="tex", think=think)])["tex"]
    raw = trace.raw_text
    first = raw.index("42")
    second = raw.index("42 = 84")
    markers = [
        ("t_star", first, first + 2, "t*: reference answer first reached (42)"),  # inside $…$
        ("behaviour_verification", raw.index("Check"), second + 2, "Check … 42"),  # ends inside \(…\)
    ]
    analyse(trace, markers)
    shown = shown_texts(member_client.get(detail_url(trace)).content.decode())
    marked = [("".join(c for c, m in t.chars if m), t.tags) for t in shown[:2]]
    assert marked[0][0] == "$x = 42$"
    assert marked[1][0] == "Check \\(y + 42 = 84\\)"
    assert [t.text for t in shown[:2]] == think


def test_markers_moved_to_one_formula_edge_share_one_tag(member_client, make_traces) -> None:
    trace = make_traces([TraceSpec(key="nested", think=["So $\\frac{\\frac{1}{2}}{2}$ it is."])])["nested"]
    raw = trace.raw_text
    inside = [raw.index("{1}"), raw.index("{2}}"), raw.index("}{2}$")]  # three repeats inside one formula
    analyse(trace, [("loop", s, s + 3, f"loop 1: repeat {i + 1} of 3") for i, s in enumerate(inside)])
    body = member_client.get(detail_url(trace)).content.decode()
    labels = " · ".join(f"loop 1: repeat {i} of 3" for i in (1, 2, 3))
    assert f'<span class="mark-tag mark-tag-loop" data-tag="↻ loop ×3" title="{labels}"></span>' in body
    assert body.count("mark-tag-loop") == 2  # this tag and the legend's


@pytest.mark.parametrize(
    "text, formulas",
    [
        ("a $x$ b $$y$$ c", ["$x$", "$$y$$"]),
        ("\\(a\\) and \\[b\\]", ["\\(a\\)", "\\[b\\]"]),
        ("cost \\$5 and $x$", ["$5 and $", "$"]),  # auto-render does not skip \$ outside a formula
        ("$\\frac{a}{b$}$ end", ["$\\frac{a}{b$}$"]),  # a $ inside braces does not close
        ("open $x and never closed", ["$x and never closed"]),  # the unclosed rest is left alone
        ("no math here", []),
    ],
)
def test_formula_spans_follow_katex_auto_render(text: str, formulas: list[str]) -> None:
    assert [text[s:e] for s, e in tex_spans(text)] == formulas


def test_a_part_without_steps_is_marked_too(member_client, make_traces) -> None:
    trace = make_traces([TraceSpec(key="bare", think=["Hmm, wait."])])["bare"]
    Step.objects.filter(trace=trace).delete()
    wait = trace.raw_text.index("wait")
    analyse(trace, [("behaviour_backtracking", wait, wait + 4, "wait")])
    shown = shown_texts(member_client.get(detail_url(trace)).content.decode())
    assert shown[0].text == "Hmm, wait."
    assert [c for c, m in shown[0].chars if m == {"backtracking"}] == list("wait")
    assert shown[1].text == "Add the numbers.\n\nSo the answer is 4."


@pytest.fixture
def sky_traces(project: Project, shared_data: Path) -> list[Trace]:
    """The first Sky-T1 traces (real long chains of thought with LaTeX), stored and analysed."""
    with (shared_data / SKY_T1).open(encoding="utf-8") as fp:
        records = [json.loads(line) for _, line in zip(range(SKY_T1_LINES), fp)]
    run = Run.objects.create(project=project, kind=RunKind.IMPORT, name=SKY_T1.name)
    parsed = [ParsedTrace(line_no=n, prompt=r["question"], reference_answer=r["answer"], text=r["code"][0],
                          model_name="Sky-T1-27B", think_format="sky_t1") for n, r in enumerate(records, 1)]
    ids = store_traces(project, run, parsed).trace_ids
    traces = Trace.objects.filter(pk__in=ids)
    analyze_traces(traces)
    return list(traces.select_related("analysis").order_by("id"))


def test_real_traces_keep_their_text_and_show_every_marker(member_client, sky_traces) -> None:
    kinds: Counter[str] = Counter()
    for trace in sky_traces:
        markers = trace.analysis.markers
        kinds.update(m["kind"] for m in markers)
        body = with_hidden_steps(member_client, member_client.get(detail_url(trace)).content.decode())
        shown = shown_texts(body)
        steps = list(Step.objects.filter(trace=trace).order_by("index"))
        raw = trace.raw_text
        # Marking never loses, duplicates or reorders a character of any step (collapsed loop
        # repeats loaded as the page loads them).
        assert [t.text for t in shown] == [raw[s.char_start : s.char_end].strip() for s in steps]
        # Every marker that covers shown text gets exactly one tag; t* has one, inside the t* step.
        visible = [m for m in markers if any(raw[max(m["start"], s.char_start) : min(m["end"], s.char_end)].strip()
                                             for s in steps)]
        tags = Counter(css for t in shown for css, _ in t.tags)
        assert tags == Counter(MARK_STYLES[m["kind"]].css for m in visible), trace.pk
        if trace.analysis.verdicts["t_star"] is not None:
            t_star = next(m for m in markers if m["kind"] == "t_star")
            number = next(s.index + 1 for s in steps if s.char_start <= t_star["start"] < s.char_end)
            assert f"t* at step {number}</a>" in body
            assert [css for css, _ in shown[number - 1].tags].count("t-star") == 1
        # Every character shows at least the marks of the markers over it (more only where a
        # mark widens to a whole formula).
        spans = [(m["kind"], m["start"], m["end"], m["label"]) for m in markers]
        for text, step in zip(shown, steps, strict=True):
            for (_char, marks), (_, expected) in zip(text.chars, expected_marks(trace, step, spans), strict=True):
                assert expected <= marks, (trace.pk, step.index)
        if any(m["kind"] == "loop" for m in markers):
            count = int(Score.objects.get(trace=trace, name="loop_count").value)
            assert f"{count} loop{'s' if count > 1 else ''} · " in body
    assert set(kinds) <= set(MARK_STYLES)  # the viewer has a style for every kind the engine makes
    assert {"t_star", "after_t_star", "loop", "thought_switch"} <= set(kinds)


def test_viewer_query_count_is_bounded_with_an_analysis(member_client, make_traces, django_assert_max_num_queries) -> None:
    think = [f"Wait, thought {i}." for i in range(300)]
    trace = make_traces([TraceSpec(key="big", think=think)])["big"]
    starts = [m.start() for m in re.finditer("Wait", trace.raw_text)]
    analyse(trace, [("behaviour_backtracking", s, s + 4, "Wait") for s in starts], scores={"loop_count": 0.0})
    with django_assert_max_num_queries(10):  # the viewer's 9 (with "Compare with…") + the analysis row
        body = member_client.get(detail_url(trace)).content.decode()
    body = with_hidden_steps(member_client, body)  # the steps past the page's window, loaded
    assert [css for t in shown_texts(body) for css, _ in t.tags] == ["backtracking"] * len(think)


# --- Trace list: filter and sort by any score ---------------------------------------------------


def list_url(**params: object) -> str:
    return reverse("trace-list", args=["test"]) + ("?" + urlencode(params) if params else "")


def walk(client, url: str) -> list[Trace]:
    """Every trace of every page, following the "Load more" cursor."""
    seen: list[Trace] = []
    while url:
        response = client.get(url)
        assert response.status_code == 200
        page = response.context["page"]
        seen.extend(page.traces)
        url = f"{list_url()}?{page.next_query}" if page.next_query else ""
    return seen


#: Scores of the list tests: many ties, one trace without a value, one value under another method.
VALUES = [0.5, 0.25, 0.5, None, 1.0, 0.5, 0.0, 0.25, 0.5, 0.75, 0.5, 0.0, 1.0, 0.5, 0.25, 0.5, 0.5, None, 0.75, 0.5]


@pytest.fixture
def scored(make_traces, monkeypatch: pytest.MonkeyPatch) -> list[Trace]:
    """Traces with ``overthinking_ratio`` values (ties, gaps) and a judge's score of the same name."""
    monkeypatch.setattr(trace_views, "PAGE_SIZE", 4)  # many pages from few traces
    traces = list(make_traces([TraceSpec(key=f"s{i}") for i in range(len(VALUES))]).values())
    store_trace_scores(
        Score(trace=trace, name="overthinking_ratio", value=value, method=METHOD)
        for trace, value in zip(traces, VALUES) if value is not None
    )
    store_trace_scores(
        Score(trace=t, name="loop_count", value=float(i % 3), method=METHOD) for i, t in enumerate(traces)
    )
    store_trace_scores([Score(trace=traces[3], name="overthinking_ratio", value=9.0, method="llm_judge:x")])
    return traces


def expected_order(name: str, method: str, *, descending: bool, low: float | None = None,
                   high: float | None = None) -> list[int]:
    rows = Score.objects.filter(name=name, method=method, step__isnull=True).values_list("value", "trace_id")
    kept = [(v, t) for v, t in rows if (low is None or v >= low) and (high is None or v <= high)]
    return [t for _, t in sorted(kept, reverse=descending)]


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize(
    "bounds", [{}, {"score_min": 0.25}, {"score_max": 0.5}, {"score_min": 0.25, "score_max": 0.75}]
)
def test_sorting_by_a_score_walks_every_trace_once_in_order(member_client, scored, order, bounds) -> None:
    seen = walk(member_client, list_url(score="overthinking_ratio", order=order, **bounds))
    expected = expected_order("overthinking_ratio", METHOD, descending=order == "desc",
                              low=bounds.get("score_min"), high=bounds.get("score_max"))
    assert len(expected) > 4 and len(set(expected)) == len(expected)
    assert [t.pk for t in seen] == expected
    values = dict(Score.objects.filter(name="overthinking_ratio", method=METHOD).values_list("trace_id", "value"))
    assert [t.score_value for t in seen] == [values[t.pk] for t in seen]


def test_filtering_by_a_score_keeps_newest_first(member_client, scored) -> None:
    seen = walk(member_client, list_url(score="loop_count", score_min=1))
    rows = Score.objects.filter(name="loop_count").values_list("value", "trace_id")
    expected = sorted((t for v, t in rows if v >= 1), reverse=True)
    assert [t.pk for t in seen] == expected


def test_a_score_of_another_method_is_its_own_choice(member_client, scored) -> None:
    response = member_client.get(list_url(score="llm_judge:x:overthinking_ratio", order="desc"))
    assert [t.pk for t in response.context["page"].traces] == [scored[3].pk]
    body = response.content.decode()
    options = re.findall(r'<option value="([^"]*)"', body[body.index('name="score"') :].split("</select>")[0])
    assert options == ["", "loop_count", "overthinking_ratio", "llm_judge:x:overthinking_ratio"]
    # Options read as display names, with the key on hover.
    assert re.search(r'<option value="llm_judge:x:overthinking_ratio"[^>]* title="llm_judge:x:overthinking_ratio">'
                     r'Overthinking ratio \(LLM judge x\)</option>', body)


def test_choosing_a_score_alone_adds_its_column_without_excluding(member_client, scored) -> None:
    response = member_client.get(list_url(score="overthinking_ratio"))
    page = response.context["page"]
    newest = sorted((t.pk for t in scored), reverse=True)[: trace_views.PAGE_SIZE]
    assert [t.pk for t in page.traces] == newest
    values = dict(Score.objects.filter(name="overthinking_ratio", method=METHOD).values_list("trace_id", "value"))
    assert [t.score_value for t in page.traces] == [values.get(pk) for pk in newest]
    body = response.content.decode()
    assert '<th class="num score-column"' in body and "Traces without this score are left out" not in body


def test_the_list_says_traces_without_the_score_are_left_out(member_client, scored) -> None:
    body = member_client.get(list_url(score="overthinking_ratio", order="desc", score_min=0.5)).content.decode()
    assert "Ordered by <strong>Overthinking ratio</strong>, highest first · at least 0.5." in body
    assert "Traces without this score are left out." in body
    assert body.count('class="num score-cell"') == trace_views.PAGE_SIZE


def test_the_cursor_and_filters_stay_in_the_url(member_client, scored) -> None:
    page = member_client.get(list_url(score="overthinking_ratio", order="asc", score_max=0.5)).context["page"]
    params = dict(pair.split("=") for pair in page.next_query.split("&"))
    last = page.traces[-1]
    assert params["score"] == "overthinking_ratio" and params["order"] == "asc" and params["score_max"] == "0.5"
    assert params["after"] == str(last.pk) and float(params["after_value"]) == last.score_value
    rows = member_client.get(f"{list_url()}?{page.next_query}", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="load-more")
    fragment = rows.content.decode().strip()
    assert fragment.startswith("<tr>") and fragment.count('class="num score-cell"') == trace_views.PAGE_SIZE


@pytest.mark.parametrize(
    "params, field, message",
    [
        ({"order": "desc"}, "score", "Choose a score"),
        ({"score_min": 1}, "score", "Choose a score"),
        ({"score": "no_such_score"}, "score", "Select a valid choice"),
        ({"score": "loop_count", "score_min": 2, "score_max": 1}, "score_max", "below min"),
        ({"score": "loop_count", "order": "asc", "after": 5}, "after_value", "needs the score value"),
        ({"score": "loop_count", "after": 5, "after_value": 1.0}, "after_value", "only valid in a score order"),
        ({"score": "loop_count", "order": "asc", "score_min": "nan"}, "score_min", "Enter a number"),
    ],
)
def test_bad_score_parameters_are_form_errors(member_client, scored, params, field, message) -> None:
    response = member_client.get(list_url(**params))
    assert response.status_code == 200
    assert response.context["page"].traces == []
    assert message in " ".join(response.context["form"].errors[field])
    assert "Some filters are not valid" in response.content.decode()


def test_score_list_query_count_is_bounded(member_client, scored, django_assert_max_num_queries) -> None:
    with django_assert_max_num_queries(8):
        response = member_client.get(list_url(score="overthinking_ratio", order="desc", score_min=0.1, q="Problem"))
    assert len(response.context["page"].traces) == trace_views.PAGE_SIZE
    with django_assert_max_num_queries(8):
        member_client.get(list_url(score="overthinking_ratio"))
