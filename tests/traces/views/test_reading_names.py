"""What people read for scores, label sources, t* and generation times, page by page.

One numbering of steps everywhere (the viewer's, from 1): a stored 0-based t* step shows 1-based in
the trace list's score column, its filter and the viewer's score table. Score keys and label
sources read as display names with the key on hover. A generation time is a human duration, and a
batch's time says it is one, shared by its traces.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from trace_factory import LabelSpec, TraceSpec

from traces.actions.analysis import store_trace_scores
from traces.analysis.engine import METHOD
from traces.display_names import display_name, shown_score, stored_score
from traces.models import RunKind, Score, Trace, TraceAnalysis

pytestmark = pytest.mark.django_db

T_STAR_STORED = 2  # the third step, 0-based as stored


def list_url(**params: object) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return reverse("trace-list", args=["test"]) + (f"?{query}" if query else "")


@pytest.fixture
def t_star_trace(make_traces) -> Trace:
    spec = TraceSpec(key="t", think=["Try 2+2.", "Maybe 5.", "No: 4.", "Check: 4."], steps=["Answer: 4"])
    trace = make_traces([spec])["t"]
    store_trace_scores([Score(trace=trace, name="t_star_step", value=T_STAR_STORED, method=METHOD)])
    TraceAnalysis.objects.create(trace=trace, version="1", verdicts={}, markers=[])
    return trace


def test_display_names_cover_scores_sources_and_unknown_keys() -> None:
    assert display_name("t_star_step") == "t* step"
    assert display_name("overthinking_ratio") == "Overthinking ratio"
    assert display_name("import:processbench") == "ProcessBench (imported)"
    assert display_name("llm_judge:qwen-7b") == "LLM judge qwen-7b"
    assert display_name("human") == "People"
    assert display_name("some_new_score") == "some new score"
    assert (shown_score("t_star_step", 2.0), stored_score("t_star_step", 3.0)) == (3.0, 2.0)
    assert shown_score("overthinking_ratio", 0.25) == 0.25


def test_the_list_shows_t_star_as_the_viewers_step_number(member_client, t_star_trace) -> None:
    body = member_client.get(list_url(score="t_star_step")).content.decode()
    cell = re.search(r'<td class="num score-cell">(.*?)</td>', body, re.S).group(1)
    assert re.sub(r"<[^>]+>", "", cell).strip() == str(T_STAR_STORED + 1)
    assert '<abbr class="key-name" title="t_star_step (method: analysis)">t* step</abbr>' in body
    # The viewer calls the same step by the same number.
    viewer = member_client.get(reverse("trace-detail", args=["test", t_star_trace.pk])).content.decode()
    assert '<td><abbr class="key-name" title="t_star_step">t* step</abbr></td>' in viewer
    assert re.search(r'title="t_star_step">t\* step</abbr></td><td class="muted">.*?</td><td class="num">3</td>', viewer)


def test_filtering_t_star_reads_bounds_as_step_numbers(member_client, t_star_trace) -> None:
    shown = T_STAR_STORED + 1
    kept = member_client.get(list_url(score="t_star_step", score_min=shown, score_max=shown)).context["page"]
    assert [t.pk for t in kept.traces] == [t_star_trace.pk]
    left_out = member_client.get(list_url(score="t_star_step", score_min=shown + 1)).context["page"]
    assert left_out.traces == []


def test_the_viewer_names_label_sources_with_the_key_on_hover(member_client, make_traces) -> None:
    labels = [LabelSpec(step=0, value=1, source="import:processbench"), LabelSpec(step=0, value=1, source="mc_rollout")]
    trace = make_traces([TraceSpec(key="l", labels=labels)])["l"]
    body = member_client.get(reverse("trace-detail", args=["test", trace.pk])).content.decode()
    assert '<abbr class="key-name" title="import:processbench">ProcessBench (imported)</abbr>' in body
    assert '<abbr class="key-name" title="mc_rollout">Monte Carlo rollouts</abbr>' in body
    assert ">import:processbench<" not in body


def test_a_batch_generation_time_is_a_human_duration_shared_by_its_traces(member_client, make_traces) -> None:
    made = make_traces([TraceSpec(key=f"g{i}", run="demo generation") for i in range(8)])
    Trace.objects.filter(pk__in=[t.pk for t in made.values()]).update(generation_ms=181912)
    made["g0"].run.__class__.objects.filter(pk=made["g0"].run_id).update(kind=RunKind.GENERATION)
    body = member_client.get(reverse("trace-detail", args=["test", made["g0"].pk])).content.decode()
    fact = re.search(r'<dd data-fact="generation"[^>]*>(.*?)</dd>', body, re.S).group(1)
    text = " ".join(re.sub(r"<[^>]+>", "", fact).split())
    assert text == "23 s · its share of a batch that took 3 min 02 s for 8 traces"
    assert "181912 ms</dd>" not in body


def test_a_lone_generation_time_is_a_human_duration(member_client, make_traces) -> None:
    trace = make_traces([TraceSpec(key="one")])["one"]
    Trace.objects.filter(pk=trace.pk).update(generation_ms=850)
    body = member_client.get(reverse("trace-detail", args=["test", trace.pk])).content.decode()
    assert re.search(r'<dd data-fact="generation" title="850 ms">850 ms</dd>', body)
