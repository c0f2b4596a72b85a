"""Bounded trace pages (``traces.views.windows``): the viewer and the labeling page show a window of
each part's steps and the first piece of each long text, and every step and character stays
reachable through the htmx fragments that load the rest.

The 1 MB looping trace (``hostile_corpus.looping_record``) goes through the real importer with
analysis, as in production; it made a 9 MB viewer page and a 5 MB labeling page before.
"""

from __future__ import annotations

import html
import json
import re
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse
from page_windows import HIDDEN_ROW, shown_steps, whole_text, with_hidden_steps
from trace_factory import TraceSpec

from traces.actions.queues import QueueSpec, do_create_queue
from traces.models import Step, Trace
from traces.views import windows

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "security"))
from hostile_corpus import looping_record  # noqa: E402

pytestmark = pytest.mark.django_db

PAGES = ("trace-detail", "trace-label")


def import_looping_trace(tmp_path: Path, size: int) -> Trace:
    """The looping trace of ``size`` characters, imported with analysis into the "test" project."""
    path = tmp_path / "looping.jsonl"
    path.write_text(json.dumps(looping_record(size)) + "\n", encoding="utf-8")
    call_command("import_traces", str(path), "--format", "jsonl", "--project", "test")
    return Trace.objects.select_related("analysis").get(run__source_file=str(path))


def loop_repeats(trace: Trace) -> int:
    """How many times the looping trace's one loop repeats, as its analysis found."""
    labels = {m["label"] for m in trace.analysis.markers if m["kind"] == "loop"}
    return int(re.fullmatch(r"loop 1: repeat \d+ of (\d+)", next(iter(labels))).group(1))


def step_texts(trace: Trace) -> list[str]:
    steps = Step.objects.filter(segmentation_id=trace.current_segmentation_id).order_by("index")
    return [trace.raw_text[s.char_start : s.char_end].strip() for s in steps]


def test_the_pages_of_a_1mb_looping_trace_stay_under_2mb(member_client, tmp_path) -> None:
    trace = import_looping_trace(tmp_path, 1_000_000)
    steps = Step.objects.filter(trace=trace).count()
    repeats = loop_repeats(trace)
    assert steps > 8000 and repeats > 2000  # the trace is what the issue measured
    for name in PAGES:
        body = member_client.get(reverse(name, args=["test", trace.pk])).content.decode()
        assert len(body.encode()) < 2_000_000, (name, len(body))
        shown = shown_steps(body)
        assert 2 * windows.KEEP_REPEATS <= len(shown) <= 2 * windows.PAGE_STEPS, name
        assert body.count('class="mark ') <= 2 * windows.PAGE_MARKS
        collapsed = f"The next {repeats - windows.KEEP_REPEATS:,} repeats of this block are collapsed"
        assert collapsed in body, name
        assert f"{steps - 1:,} steps" in body or f"{steps:,} steps" in body  # the part still counts them all


def test_every_step_of_a_looping_trace_loads_through_the_windows(member_client, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(windows, "PAGE_STEPS", 7)  # many windows of a small trace
    trace = import_looping_trace(tmp_path, 40_000)
    expected = step_texts(trace)
    assert len(expected) > 4 * windows.PAGE_STEPS
    for name in PAGES:
        first = member_client.get(reverse(name, args=["test", trace.pk])).content.decode()
        assert len(shown_steps(first)) < len(expected)
        whole = shown_steps(with_hidden_steps(member_client, first))
        assert [number for number, _ in whole] == list(range(1, len(expected) + 1)), name
        assert [text for _, text in whole] == expected, name


def test_a_long_step_and_a_long_problem_show_a_piece_and_load_the_rest(member_client, make_traces) -> None:
    step = "".join(f"Line {i} <script>x</script> of a very long step.\n" for i in range(4000))  # ~180k characters
    prompt = "What is $2+2$? " * 6000  # 90k characters
    trace = make_traces([TraceSpec(key="long", prompt=prompt, think=["Short.", step], steps=["It is 4."])])["long"]
    for name in PAGES:
        body = member_client.get(reverse(name, args=["test", trace.pk])).content.decode()
        assert len(body.encode()) < 2 * windows.TEXT_CHARS + 100_000 and "<script>x" not in body
        assert whole_text(member_client, body, "step-1") == step.strip(), name
        assert whole_text(member_client, body, "problem") == prompt, name


def test_a_part_without_steps_shows_a_piece_and_loads_the_rest(member_client, make_traces) -> None:
    think = "Wait, is it 4? " * 8000
    trace = make_traces([TraceSpec(key="bare", think=[think])])["bare"]
    Step.objects.filter(trace=trace, part="think").delete()
    body = member_client.get(reverse("trace-detail", args=["test", trace.pk])).content.decode()
    assert whole_text(member_client, body, "think") == think


def test_a_page_opened_at_a_step_shows_it_after_a_row_of_the_steps_before(member_client, make_traces, monkeypatch) -> None:
    monkeypatch.setattr(windows, "PAGE_STEPS", 5)
    trace = make_traces([TraceSpec(key="many", think=[f"Thought {i}." for i in range(40)])])["many"]
    for name in PAGES:
        body = member_client.get(reverse(name, args=["test", trace.pk]) + "?start=30").content.decode()
        assert [number for number, _ in shown_steps(body)][:5] == [31, 32, 33, 34, 35]
        assert "Steps 1–30 are not shown yet" in body
        assert [number for number, _ in shown_steps(with_hidden_steps(member_client, body))] == list(range(1, 43))


@pytest.mark.parametrize(
    "query",
    ["first=0", "first=3&stop=2", "first=0&stop=5&start=9", "text=problem", "at=5", "text=../x&at=1", "first=x&stop=2"],
)
def test_bad_window_parameters_are_refused(member_client, make_traces, query) -> None:
    trace = make_traces([TraceSpec(key="t", think=["One.", "Two."])])["t"]
    for name in PAGES:
        assert member_client.get(reverse(name, args=["test", trace.pk]) + "?" + query).status_code == 400


@pytest.mark.parametrize("query", ["first=1&stop=3", "first=0&stop=99", "text=step-99&at=1", "text=problem&at=999"])
def test_windows_outside_the_trace_or_across_its_parts_are_404(member_client, make_traces, query) -> None:
    trace = make_traces([TraceSpec(key="t", think=["One.", "Two."])])["t"]  # steps 0-1 think, 2-3 answer
    for name in PAGES:
        response = member_client.get(reverse(name, args=["test", trace.pk]) + "?" + query, HTTP_HX_REQUEST="true")
        assert response.status_code == 404, (name, query)


def test_the_labeling_page_loads_its_windows_in_its_queue(member_client, owner, project, make_traces, monkeypatch) -> None:
    monkeypatch.setattr(windows, "PAGE_STEPS", 3)
    trace = make_traces([TraceSpec(key="q", think=[f"Thought {i}." for i in range(10)])])["q"]
    queue = do_create_queue(project, owner, QueueSpec(name="q"), Trace.objects.filter(pk=trace.pk), {})
    member_client.post(reverse("queue-next", args=["test", queue.pk]))
    body = member_client.get(reverse("trace-label", args=["test", trace.pk]) + f"?queue={queue.pk}").content.decode()
    (row,) = HIDDEN_ROW.findall(body)
    assert f"queue={queue.pk}" in html.unescape(row)
    assert len(shown_steps(with_hidden_steps(member_client, body))) == 12


def test_mark_tags_add_no_words_to_the_text(member_client, tmp_path) -> None:
    trace = import_looping_trace(tmp_path, 5_000)
    body = member_client.get(reverse("trace-detail", args=["test", trace.pk])).content.decode()
    tags = re.findall(r'<span class="mark-tag mark-tag-[\w-]+" data-tag="([^"]+)" title="[^"]*">([^<]*)</span>', body)
    assert {word for word, _ in tags} >= {"↻ loop", "t*"}
    assert {inside for _, inside in tags} == {""}


def number_ranges(numbers: list[int]) -> str:
    """Step numbers as labeling.js sends them: runs of consecutive numbers, ``1-4,2187-2336``."""
    runs: list[list[int]] = []
    for number in numbers:
        if runs and runs[-1][1] == number - 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    return ",".join(f"{first}-{last}" for first, last in runs)


def test_the_first_error_key_on_a_looping_trace_answers_with_the_shown_cells_only(member_client, tmp_path) -> None:
    trace = import_looping_trace(tmp_path, 1_000_000)
    steps = Step.objects.filter(segmentation_id=trace.current_segmentation_id).order_by("index")
    page = member_client.get(reverse("trace-label", args=["test", trace.pk])).content.decode()
    shown = [number for number, _ in shown_steps(page)]
    key_url = reverse("trace-label-step", args=["test", trace.pk])
    last = steps.last()
    assert last is not None and last.index > 8000
    for extra in ({"shown": number_ranges(shown)}, {}):  # what the page says it shows, or nothing said
        answer = member_client.post(key_url, {"action": "first_error", "step": last.pk, **extra}, HTTP_HX_REQUEST="true")
        body = answer.content.decode()
        assert answer.status_code == 200 and len(answer.content) < 150_000, len(answer.content)
        assert f"First error at step {last.index + 1}" in body
        member_client.post(reverse("trace-label-undo", args=["test", trace.pk]), extra, HTTP_HX_REQUEST="true")
    cells = re.findall(r'id="my-label-(\d+)"', body)
    assert 0 < len(cells) <= 2 * windows.PAGE_STEPS + 1
    assert member_client.post(key_url, {"action": "no_error", "shown": "1-x"}, HTTP_HX_REQUEST="true").status_code == 400
