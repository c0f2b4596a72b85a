"""The side-by-side comparison and pairwise preferences in the browser UI (issue 6 item 4).

Permissions (non-member 404, viewer reads but cannot save 403, annotator saves), the clear error of
traces that cannot be compared, the aligned rows (t* steps on one highlighted row, read back from
the HTML and checked against positions worked out by hand from the specs), hostile model text, and
the entry points in the trace viewer and the trace list.
"""

from __future__ import annotations

import html
import json
import re
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from trace_factory import TraceSpec, build_trace, raw_text_and_spans

from traces.analysis.engine import METHOD
from traces.models import HUMAN, Preference, Project, Role, Score, Step, Trace, TraceAnalysis
from traces.views import windows

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "security"))
from hostile_corpus import looping_record  # noqa: E402

pytestmark = pytest.mark.django_db

PAYLOAD = '<script>alert(1)</script> <img src=x onerror=alert(1)> " onfocus="alert(1)'


def same_problem(traces: list[Trace]) -> list[Trace]:
    """Move every trace to the first one's problem (the factory gives each its own)."""
    Trace.objects.filter(pk__in=[t.pk for t in traces[1:]]).update(problem=traces[0].problem)
    return [Trace.objects.get(pk=t.pk) for t in traces]


def analyse(trace: Trace, spec: TraceSpec, t_star: int | None, ratio: float = 0.0, loops: int = 0) -> None:
    """Store an analysis whose t* marker sits in step ``t_star`` (0-based over think then answer steps)."""
    _, spans, _, _ = raw_text_and_spans(spec)
    markers = []
    if t_star is not None:
        start, end, _ = spans[t_star]
        markers.append({"kind": "t_star", "start": start, "end": end, "label": "t*: reference answer first reached"})
    TraceAnalysis.objects.create(trace=trace, version="1", verdicts={"mismatch": "match"}, markers=markers)
    Score.objects.create(trace=trace, name="overthinking_ratio", value=ratio, method=METHOD)
    Score.objects.create(trace=trace, name="loop_count", value=loops, method=METHOD)


SHORT = TraceSpec(key="short", model="model-a", think=["Try 2+2.", "That is 4."], steps=["So 4.", "Answer: 4"])
LONG = TraceSpec(
    key="long",
    model="model-b",
    think=["Hmm.", "Let me think.", "2+2 could be 5?", "No, it is 4.", "Check: 4.", "Yes 4."],
    steps=["Answer: 4"],
)


@pytest.fixture
def pair(make_traces) -> list[Trace]:
    """A (4 steps, t* at its step 2) and B (7 steps, t* at its step 4) of one problem, both analysed."""
    made = make_traces([SHORT, LONG])
    traces = same_problem([made["short"], made["long"]])
    analyse(traces[0], SHORT, t_star=1, ratio=0.5, loops=0)
    analyse(traces[1], LONG, t_star=3, ratio=0.25, loops=2)
    return traces


def compare_url(traces: list[Trace], slug: str = "test") -> str:
    return reverse("trace-compare", args=[slug]) + "?traces=" + ",".join(str(t.pk) for t in traces)


def save_url(slug: str = "test") -> str:
    return reverse("trace-compare-preference", args=[slug])


def post_preference(client: Client, traces: list[Trace], choice: str, reason: str = "", *, pair=None, htmx=True):
    x, y = pair or (traces[0], traces[1])
    data = {"traces": ",".join(str(t.pk) for t in traces), "pair": f"{x.pk},{y.pk}", "choice": choice, "reason": reason}
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post(save_url(), data, **headers)


def columns_of(html: str) -> dict[str, list[tuple[int, str, bool, int | None]]]:
    """Per column letter, its cells: (first aligned row, classes, holds the t* badge, step number shown
    or None for a gap)."""
    found = {}
    chunks = re.split(r'<div class="cmp-column" data-compare-column="([A-F])"', html)[1:]
    for letter, chunk in zip(chunks[::2], chunks[1::2], strict=True):
        cells = []
        cell = r'<div class="cmp-cell([^"]*)" data-rows="(\d+)-\d+"(.*?)(?=<div class="cmp-cell|$)'
        for match in re.finditer(cell, chunk, re.S):
            classes, row, body = match.groups()
            number = re.search(rf">{letter} step (\d+)</a>", body)
            cells.append((int(row), classes, "t-star-badge" in body, int(number.group(1)) if number else None))
        found[letter] = cells
    return found


# --- Permissions ---------------------------------------------------------------------------------


def test_a_non_member_gets_404_for_the_page_and_the_save(pair: list[Trace], outsider_client: Client) -> None:
    assert outsider_client.get(compare_url(pair)).status_code == 404
    assert post_preference(outsider_client, pair, "a").status_code == 404
    assert not Preference.objects.exists()


def test_anonymous_users_are_sent_to_log_in(pair: list[Trace]) -> None:
    response = Client().get(compare_url(pair))
    assert response.status_code == 302 and "/login" in response["Location"]


def test_a_viewer_sees_the_comparison_but_cannot_save_a_preference(pair: list[Trace], member) -> None:
    _, client = member("vic", Role.VIEWER)
    page = client.get(compare_url(pair))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Compare 2 traces" in html and "That is 4." in html and "No, it is 4." in html
    assert "data-preference-form" not in html and "lets you read comparisons" in html
    assert post_preference(client, pair, "a").status_code == 403
    assert post_preference(client, pair, "a", htmx=False).status_code == 403
    assert not Preference.objects.exists()


@pytest.mark.parametrize("role", [Role.ANNOTATOR, Role.REVIEWER, Role.OWNER])
def test_annotators_and_above_save_through_htmx_and_get_the_fragment_back(pair: list[Trace], member, role) -> None:
    user, client = member("ann", role)
    response = post_preference(client, pair, "b", "B reaches 4 without the detour")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="preference"') and "<html" not in html
    assert "Saved: A vs B, B is better." in html
    assert 'data-preference="AB"' in html and "B reaches 4 without the detour" in html
    preference = Preference.objects.get()
    low, high = sorted(t.pk for t in pair)
    assert (preference.trace_a_id, preference.trace_b_id) == (low, high)
    assert (preference.user, preference.source) == (user, HUMAN)
    assert preference.choice == ("b" if pair[0].pk == low else "a")  # B (pair[1]) is the better one


def test_a_pair_shown_the_other_way_round_is_stored_canonically_and_updated_in_place(pair: list[Trace], member) -> None:
    user, client = member("ann")
    reversed_pair = [pair[1], pair[0]]
    post_preference(client, reversed_pair, "a", "first reason")  # A on this page is pair[1]
    post_preference(client, pair, "tie", "on reflection, a tie")
    preference = Preference.objects.get(user=user)
    assert (preference.choice, preference.reason) == ("tie", "on reflection, a tie")
    post_preference(client, reversed_pair, "a")
    preference.refresh_from_db()
    better = preference.trace_a_id if preference.choice == "a" else preference.trace_b_id
    assert better == pair[1].pk
    assert Preference.objects.count() == 1


def test_the_saved_choice_is_pressed_and_its_reason_filled_in_when_the_page_loads(pair: list[Trace], member) -> None:
    _, client = member("ann")
    post_preference(client, pair, "a", "A is <b>shorter</b>")
    html = client.get(compare_url(pair)).content.decode()
    pressed = re.findall(r'data-choice-key="(\w)" aria-pressed="true"', html)
    assert pressed == ["a"]
    assert "A is &lt;b&gt;shorter&lt;/b&gt;</textarea>" in html
    # Shown the other way round, the same preference reads "B is better".
    html = client.get(compare_url([pair[1], pair[0]])).content.decode()
    assert re.findall(r'data-choice-key="(\w)" aria-pressed="true"', html) == ["b"]


def test_a_plain_post_redirects_back_to_the_comparison(pair: list[Trace], member) -> None:
    _, client = member("ann")
    response = post_preference(client, pair, "a", htmx=False)
    assert response.status_code == 302
    assert response["Location"] == compare_url(pair)
    page = client.get(response["Location"]).content.decode()
    assert "<strong>A vs B</strong>: A is better" in page


def test_a_bad_choice_is_a_form_error_and_saves_nothing(pair: list[Trace], member) -> None:
    _, client = member("ann")
    response = post_preference(client, pair, "A-ish")
    assert response.status_code == 200
    assert "choice: Select a valid choice" in response.content.decode()
    assert not Preference.objects.exists()
    plain = post_preference(client, pair, "A-ish", htmx=False)
    assert plain.status_code == 400 and "data-compare-column" in plain.content.decode()


def test_only_my_own_preferences_are_listed(pair: list[Trace], member) -> None:
    other, _ = member("other")
    me, client = member("me")
    low, high = sorted(pair, key=lambda t: t.pk)
    Preference.objects.create(trace_a=low, trace_b=high, choice="tie", reason="someone else's reason", user=other)
    html = client.get(compare_url(pair)).content.decode()
    assert "someone else" not in html and "None yet." in html


# --- What cannot be compared ------------------------------------------------------------------


def test_traces_of_different_problems_get_a_clear_error(make_traces, member) -> None:
    _, client = member("ann")
    made = make_traces([TraceSpec(key="one"), TraceSpec(key="two")])
    traces = [made["one"], made["two"]]
    response = client.get(compare_url(traces))
    assert response.status_code == 400
    html = response.content.decode()
    assert "Cannot compare these traces" in html
    assert "only traces of the same problem can be compared" in html
    assert f"#{traces[0].pk} answers problem #{traces[0].problem_id}" in html
    assert post_preference(client, traces, "a").status_code == 400
    assert not Preference.objects.exists()


@pytest.mark.parametrize(
    "query, message",
    [
        ("", "choose 2 to 6 traces to compare; got 0"),
        ("traces=1", "got 1"),
        ("traces=1,2,3,4,5,6,7", "got 7"),
        ("traces=1,abc", "&#x27;abc&#x27; is not a trace number"),
        ("traces=1,%EF%BC%91", "is not a trace number"),  # a full-width digit
        ("traces=1,99999999999999999999", "is not a trace number"),
    ],
)
def test_bad_trace_lists_get_a_clear_error(pair: list[Trace], member, query: str, message: str) -> None:
    _, client = member("ann")
    response = client.get(reverse("trace-compare", args=["test"]) + "?" + query)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_a_trace_of_another_project_is_not_found_without_saying_it_exists(pair: list[Trace], member) -> None:
    _, client = member("ann")
    other = Project.objects.create(name="Other", slug="other")
    hidden = build_trace(other, TraceSpec(key="zzsecret", steps=["zzsecret step"]), 0)
    response = client.get(compare_url([pair[0], hidden]))
    assert response.status_code == 400
    html = response.content.decode()
    assert f"has no trace #{hidden.pk}" in html
    assert "zzsecret" not in html  # nothing of its text


def test_repeated_traces_params_from_the_list_form_are_accepted(pair: list[Trace], member) -> None:
    _, client = member("ann")
    url = reverse("trace-compare", args=["test"]) + f"?traces={pair[0].pk}&traces={pair[1].pk}"
    assert client.get(url).status_code == 200


# --- What the page shows ------------------------------------------------------------------------


def test_steps_are_aligned_on_t_star_and_the_t_star_row_is_highlighted(pair: list[Trace], member) -> None:
    _, client = member("vic", Role.VIEWER)
    html = client.get(compare_url(pair)).content.decode()
    columns = columns_of(html)
    # By hand: A's t* is its step 2 and B's its step 4, so A starts two rows down, after one gap
    # cell, and row 3 is the t* row; B's 7 steps make 7 rows, A's 4 steps fill rows 2–5.
    assert [(row, number) for row, _, _, number in columns["A"]] == [(0, None), (2, 1), (3, 2), (4, 3), (5, 4)]
    assert 'data-rows="0-1" aria-hidden="true"' in html
    assert [(row, number) for row, _, _, number in columns["B"]] == [(r, r + 1) for r in range(7)]
    for letter in "AB":
        anchors = [row for row, classes, _, _ in columns[letter] if "cmp-anchor" in classes]
        badges = [row for row, _, t_star, _ in columns[letter] if t_star]
        assert anchors == [3] and badges == [3]
    assert 'data-jump-row="3"' in html
    assert html.count("cmp-gap") == 1


def test_header_cards_show_answers_correctness_tokens_and_key_scores(pair: list[Trace], member) -> None:
    Trace.objects.filter(pk=pair[1].pk).update(is_correct=False, final_answer="5")
    _, client = member("ann")
    html = client.get(compare_url(pair)).content.decode()
    assert "Problem short: what is $2+2$?" in html and "Reference answer:" in html
    assert html.count('class="cmp-letter"') == 2
    assert "model-a" in html and "model-b" in html
    assert '<span class="tex cmp-final">5</span>' in html and "incorrect" in html
    assert '<dd data-score="overthinking">50%</dd>' in html and '<dd data-score="overthinking">25%</dd>' in html
    assert re.search(r'<dd data-score="loops">2 ', html)
    assert '<dd data-score="mismatch">match</dd>' in html


def test_without_any_t_star_steps_are_aligned_by_position(make_traces, member) -> None:
    made = make_traces([SHORT, LONG])
    traces = same_problem([made["short"], made["long"]])
    _, client = member("ann")
    html = client.get(compare_url(traces)).content.decode()
    columns = columns_of(html)
    assert [number for _, _, _, number in columns["A"]] == [1, 2, 3, 4]
    assert "cmp-anchor" not in html and "data-jump-row" not in html
    assert "not analysed yet" in html


def test_hostile_model_text_is_escaped(make_traces, member) -> None:
    specs = [
        TraceSpec(key="x", model=PAYLOAD, think=[PAYLOAD], steps=[PAYLOAD], final_answer=PAYLOAD),
        TraceSpec(key="y", model="plain", steps=["fine"]),
    ]
    made = make_traces(specs)
    traces = same_problem([made["x"], made["y"]])
    traces[0].problem.prompt = PAYLOAD
    traces[0].problem.answer = PAYLOAD
    traces[0].problem.save()
    user, client = member("ann")
    low, high = sorted(traces, key=lambda t: t.pk)
    Preference.objects.create(trace_a=low, trace_b=high, choice="a", reason=PAYLOAD, user=user, source=HUMAN)
    html = client.get(compare_url(traces)).content.decode()
    assert "<script>alert(1)</script>" not in html and "<img src=x" not in html
    assert '" onfocus="' not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 6  # prompt, answer, model, final, steps, reason


# --- More than two traces: the pair selector --------------------------------------------------------


@pytest.fixture
def three(make_traces) -> list[Trace]:
    made = make_traces([TraceSpec(key="p", model="m1"), TraceSpec(key="q", model="m2"), TraceSpec(key="r", model="m3")])
    return same_problem([made["p"], made["q"], made["r"]])


def test_with_three_traces_a_pair_is_chosen_and_judged_with_its_letters(three: list[Trace], member) -> None:
    user, client = member("ann")
    html = client.get(compare_url(three)).content.decode()
    assert html.count('aria-label="Pair to judge"') == 1
    for label in ("A–B", "A–C", "B–C"):
        assert f">{label}</a>" in html
    fragment = client.get(compare_url(three) + f"&pair={three[0].pk},{three[2].pk}", HTTP_HX_REQUEST="true")
    body = fragment.content.decode()
    assert body.lstrip().startswith('<section id="preference"')
    assert "C is better <kbd>b</kbd>" in body and 'aria-current="true">A–C</a>' in body
    response = post_preference(client, three, "b", pair=(three[0], three[2]))
    assert "Saved: A vs C, C is better." in response.content.decode()
    preference = Preference.objects.get(user=user)
    assert {preference.trace_a_id, preference.trace_b_id} == {three[0].pk, three[2].pk}
    better = preference.trace_a_id if preference.choice == "a" else preference.trace_b_id
    assert better == three[2].pk


def test_a_pair_that_is_not_two_shown_traces_is_refused(three: list[Trace], member) -> None:
    _, client = member("ann")
    response = client.get(compare_url(three) + f"&pair={three[2].pk},{three[0].pk}")  # not in column order
    assert response.status_code == 400 and "is not two of the shown traces" in response.content.decode()
    posted = post_preference(client, three, "a", pair=(three[0], three[0]))
    assert "Select a valid choice" in posted.content.decode()
    assert not Preference.objects.exists()


# --- Entry points --------------------------------------------------------------------------------------


def test_the_trace_viewer_offers_the_other_traces_of_the_same_problem(pair: list[Trace], make_traces, member) -> None:
    unrelated = make_traces([TraceSpec(key="unrelated")])["unrelated"]
    _, client = member("vic", Role.VIEWER)
    html = client.get(reverse("trace-detail", args=["test", pair[0].pk])).content.decode()
    assert "Compare with…" in html
    assert f'href="{compare_url(pair)}"' in html.replace("&amp;", "&")
    assert f"traces={pair[0].pk},{unrelated.pk}" not in html
    alone = client.get(reverse("trace-detail", args=["test", unrelated.pk])).content.decode()
    assert "Compare with…" not in alone


def test_the_trace_list_has_checkboxes_and_a_compare_button(pair: list[Trace], member) -> None:
    _, client = member("vic", Role.VIEWER)
    html = client.get(reverse("trace-list", args=["test"])).content.decode()
    assert f'action="{reverse("trace-compare", args=["test"])}"' in html
    for trace in pair:
        assert f'name="traces" value="{trace.pk}"' in html
    assert "Compare selected" in html


# --- Bounded columns ----------------------------------------------------------------------------------

#: A cell standing for steps not shown yet, with the URL of the fragment that loads them.
HIDDEN_CELL = re.compile(
    r'<div class="cmp-cell cmp-hidden[^"]*"[^>]*>.*?hx-get="([^"]+)".*?</button>\s*</div>\s*</div>', re.S
)


def looping_pair(tmp_path: Path, size: int) -> list[Trace]:
    """Two looping traces of ``size`` characters of one problem, imported with analysis: A reaches the
    answer in its first steps, B after 300 more steps of its own, so A's column starts far down."""
    first = looping_record(size, model="loops-at-once")
    second = looping_record(size, model="loops-later")
    preamble = "".join(
        f"Consider pile {spelled(i)} of the pencils: a box of twelve, stacked on the shelf by the window, "
        "where the light is good enough to count every box twice before writing anything down.\n\n"
        for i in range(300)
    )
    second["completion"] = second["completion"].replace("<think>", "<think>" + preamble, 1)
    path = tmp_path / "looping.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in (first, second)), encoding="utf-8")
    call_command("import_traces", str(path), "--format", "jsonl", "--project", "test")
    return list(Trace.objects.filter(run__source_file=str(path)).order_by("model__name"))


def spelled(number: int) -> str:
    """``number`` in letters (a paragraph with digits could reach the reference answer)."""
    return "".join("abcdefghij"[int(digit)] for digit in str(number))


def step_texts(trace: Trace) -> list[str]:
    steps = Step.objects.filter(segmentation_id=trace.current_segmentation_id).order_by("index")
    return [trace.raw_text[s.char_start : s.char_end].strip() for s in steps]


def column_steps(body: str, letter: str) -> list[tuple[int, str]]:
    """The steps column ``letter`` shows: number and text (marks removed, unescaped), in page order."""
    found = re.findall(rf'<div class="step-text tex" id="text-{letter}-step-(\d+)">(.*?)</div>', body, re.S)
    return [(int(index) + 1, html.unescape(re.sub(r"<[^>]+>", "", text))) for index, text in found]


def with_hidden_cells(client: Client, body: str) -> str:
    """``body`` with every cell of hidden steps replaced by the cells it loads, as htmx swaps them in."""
    while found := HIDDEN_CELL.search(body):
        fragment = client.get(html.unescape(found.group(1)), HTTP_HX_REQUEST="true")
        assert fragment.status_code == 200, fragment.content[:300]
        body = body[: found.start()] + fragment.content.decode() + body[found.end() :]
    return body


def test_the_compare_page_of_two_1mb_looping_traces_is_bounded_and_opens_at_t_star(member_client, tmp_path) -> None:
    traces = looping_pair(tmp_path, 1_000_000)
    assert all(Step.objects.filter(trace=trace).count() > 8000 for trace in traces)
    body = member_client.get(compare_url(traces)).content.decode()
    assert len(body.encode()) < 2_000_000, len(body)
    anchor = int(re.search(r'data-jump-row="(\d+)"', body).group(1))
    assert anchor > 250
    for letter in "AB":
        column = columns_of(body)[letter]
        assert [row for row, _, t_star, _ in column if t_star] == [anchor], letter
        assert len(column_steps(body, letter)) <= windows.PAGE_STEPS
    assert "repeats of this block are collapsed" in body
    assert re.search(r'data-rows="0-2\d\d" aria-hidden="true"', body)  # A's gap above its first step: one cell


def test_every_step_of_both_columns_loads_through_the_fragments(member_client, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(windows, "PAGE_STEPS", 14)  # many windows: 7 rows a column
    traces = looping_pair(tmp_path, 40_000)
    body = member_client.get(compare_url(traces)).content.decode()
    whole = with_hidden_cells(member_client, body)
    for letter, trace in zip("AB", traces, strict=True):
        expected = step_texts(trace)
        assert len(column_steps(body, letter)) < len(expected)
        assert [number for number, _ in column_steps(whole, letter)] == list(range(1, len(expected) + 1)), letter
        assert [text for _, text in column_steps(whole, letter)] == expected, letter
    rows = [int(row) for row in re.findall(r'data-rows="(\d+)-\d+"', whole.split('data-compare-column="B"')[1])]
    assert rows == sorted(rows) and len(rows) == len(set(rows))  # loaded cells keep their aligned rows


@pytest.mark.parametrize("query", ["column=G&first=0&stop=2", "column=A&first=0&stop=99999", "first=0&stop=2"])
def test_bad_column_windows_are_refused(member_client, pair, query) -> None:
    response = member_client.get(compare_url(pair) + "&" + query, HTTP_HX_REQUEST="true")
    assert response.status_code in (400, 404), (query, response.status_code)


def test_a_long_step_in_a_column_shows_a_piece_and_loads_the_rest_there(member_client, make_traces) -> None:
    step = "".join(f"Line {i} <b>of</b> a very long step.\n" for i in range(3000))  # ~100k characters
    made = make_traces([TraceSpec(key="long", think=["Short.", step]), TraceSpec(key="other", think=["Also short."])])
    traces = same_problem([made["long"], made["other"]])
    body = member_client.get(compare_url(traces)).content.decode()
    assert len(body) < 2 * windows.TEXT_CHARS and "<b>of</b>" not in body
    button = re.search(r'id="rest-A-step-1" hx-get="([^"]+)" hx-target="#text-A-step-1"', body)
    assert button is not None and 'id="text-A-step-1"' in body
    (shown,) = [text for number, text in column_steps(body, "A") if number == 2]
    while button is not None:
        piece = member_client.get(html.unescape(button.group(1)), HTTP_HX_REQUEST="true").content.decode()
        shown += html.unescape(re.sub(r"<[^>]+>", "", re.match(r'<span class="tex">(.*?)</span>', piece, re.S).group(1)))
        button = re.search(r'id="rest-A-step-1" hx-get="([^"]+)"', piece)
    assert shown == step.strip()
