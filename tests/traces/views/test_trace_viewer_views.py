"""The trace viewer (SPEC §4): steps with labels from every source, alternatives, markers, escaping."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass

import pytest
from django.urls import reverse
from page_windows import with_hidden_steps
from trace_factory import LabelSpec, TraceSpec

from traces.actions.labels import LabelInput, do_save_labels
from traces.actions.store import store_traces
from traces.formats.prm800k import parse_record
from traces.models import Run, RunKind, Step
from traces.views.presenters import COLLAPSE_THINK_OVER_CHARS

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
ATTRIBUTE = '" autofocus onfocus="alert(1)'
PAYLOAD = f"{SCRIPT} {IMG} {ATTRIBUTE}"


@dataclass
class ShownStep:
    """What the page shows for one step (read from the HTML, whose markup the template fixes)."""

    number: int
    classes: str
    text: str
    chips: list[tuple[str, str, str]]  # (chip-auto|chip-human, rating css, source)
    alternative_ratings: list[str]


def shown_steps(body: str) -> list[ShownStep]:
    steps = []
    for chunk in body.split('<li class="step')[1:]:
        steps.append(
            ShownStep(
                number=int(re.search(r'id="step-(\d+)"', chunk).group(1)),
                classes=chunk[: chunk.index('"')],
                text=html.unescape(re.search(r'<div class="step-text tex"[^>]*>(.*?)</div>', chunk, re.S).group(1)),
                chips=re.findall(
                    r'<li class="chip (chip-auto|chip-human)".*?<span class="rating rating-(\w+)".*?'
                    r'<span class="chip-source"><abbr class="key-name" title="([^"]*)">',
                    chunk,
                    re.S,
                ),
                alternative_ratings=re.findall(r'<li class="alternative">\s*<span class="rating rating-(\w+)"', chunk),
            )
        )
    return steps


def detail_url(trace) -> str:
    return reverse("trace-detail", args=[trace.project.slug, trace.pk])


def test_viewer_shows_problem_answers_steps_and_labels_from_two_sources(member_client, owner, make_traces) -> None:
    spec = TraceSpec(
        key="labeled",
        think=["Let me compute $2+2$.", "Wait, check it again."],
        steps=["The sum is \\(4\\).", "So the answer is 4."],
        labels=[
            LabelSpec(step=1, value=-1, source="mc_rollout", confidence=0.25),
            LabelSpec(step=2, value=0, source="mc_rollout", confidence=0.5, flagged=True),
        ],
        first_error=1,
    )
    trace = make_traces([spec])["labeled"]
    steps = list(Step.objects.filter(trace=trace).order_by("index"))
    do_save_labels(owner, [LabelInput(step=steps[1], value=1, note="fine by me"), LabelInput(step=steps[3], value=1)])

    response = member_client.get(detail_url(trace))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Problem labeled: what is $2+2$?" in body
    assert '<details id="think" class="part part-think" open>' in body  # short thinking starts open

    shown = shown_steps(body)
    assert [s.number for s in shown] == [1, 2, 3, 4]
    assert [s.text for s in shown] == spec.think + spec.steps
    assert shown[0].chips == []
    assert shown[1].chips == [("chip-human", "pos", "human"), ("chip-auto", "neg", "mc_rollout")]
    assert shown[2].chips == [("chip-auto", "zero", "mc_rollout")]
    assert shown[3].chips == [("chip-human", "pos", "human")]
    assert "first-error" in shown[1].classes and "first-error" not in shown[2].classes
    assert "first error: step 2" in body
    # Values carry a symbol and a signed number, not only a colour; the flag and note are words too.
    assert '<span class="rating-symbol" aria-hidden="true">✗</span>−1' in body
    assert '<span class="rating-symbol" aria-hidden="true">✓</span>+1' in body
    assert "⚑</span> flagged" in body
    assert "fine by me" in body and '<span class="chip-who">owner</span>' in body


def test_correctness_tokens_finish_reason_and_truncated_thinking(member_client, make_traces) -> None:
    trace = make_traces(
        [TraceSpec(key="cut", think=["I keep thinking"] * 3, think_closed=False, steps=[], is_correct=False,
                   final_answer="", finish_reason="length")]
    )["cut"]
    body = member_client.get(detail_url(trace)).content.decode()
    assert 'class="badge bad"' in body and "incorrect" in body
    assert "finish: length" in body
    assert "Truncated thinking" in body and "hit its length limit" in body
    assert f"<dt>Think tokens</dt><dd>≈{trace.think_tokens}</dd>" in body
    assert "No answer part: the thinking never finished" in body


def test_long_thinking_starts_collapsed(member_client, make_traces) -> None:
    paragraph = "Hmm, let me reconsider the whole computation once more. " * 10
    think = [paragraph] * (COLLAPSE_THINK_OVER_CHARS // len(paragraph) + 2)
    trace = make_traces([TraceSpec(key="long", think=think)])["long"]
    body = member_client.get(detail_url(trace)).content.decode()
    assert '<details id="think" class="part part-think">' in body
    assert len(shown_steps(body)) == len(think) + 2


def test_untouched_text_renders_when_a_trace_has_no_steps(member_client, make_traces) -> None:
    trace = make_traces([TraceSpec(key="bare")])["bare"]
    Step.objects.filter(trace=trace).delete()
    body = member_client.get(detail_url(trace)).content.decode()
    assert '<div class="part-text tex" id="text-answer">Add the numbers.\n\nSo the answer is 4.</div>' in body


def test_every_piece_of_model_text_is_escaped(member_client, owner, make_traces) -> None:
    spec = TraceSpec(
        key="xss",
        model=f"evil {SCRIPT}",
        run=f"run {IMG}",
        prompt=f"Problem xss: {PAYLOAD}",
        answer=f"ref {PAYLOAD}",
        think=[f"think {PAYLOAD}"],
        steps=[f"answer {PAYLOAD}", "So the answer is 4."],
        final_answer=f"final {PAYLOAD}",
        labels=[LabelSpec(step=1, value=-1, source=f"llm_judge:{SCRIPT}", note=f"note {PAYLOAD}")],
        annotation_note=f"annotation {PAYLOAD}",
        alternatives={1: {"completions": [{"text": f"alt {PAYLOAD}", "rating": 0, "flagged": None}]}},
    )
    trace = make_traces([spec])["xss"]
    for url in (detail_url(trace), reverse("trace-list", args=["test"])):
        body = member_client.get(url).content.decode()
        assert SCRIPT not in body
        assert IMG not in body
        assert 'onfocus="alert(1)"' not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
        assert "&lt;img src=x onerror=alert(1)&gt;" in body
    detail = member_client.get(detail_url(trace)).content.decode()
    for place in ("Problem xss:", "ref", "think", "answer", "final", "note", "annotation", "alt", "evil", "run"):
        assert f"{place} &lt;script&gt;" in detail or f"{place} &lt;img" in detail, place


RATING_CSS = {1: "pos", 0: "zero", -1: "neg", None: "none"}


def path_completion(raw: dict) -> dict:
    """The completion the labeller went on with (PRM800K: chosen, else the human one, else the first −1)."""
    if raw["chosen_completion"] is not None:
        return raw["completions"][raw["chosen_completion"]]
    if raw["human_completion"]:
        return raw["human_completion"]
    return next((c for c in raw["completions"] if c["rating"] == -1), raw["completions"][0])


def test_prm800k_alternatives_and_ratings_of_every_step(member_client, project, shared_data) -> None:
    path = shared_data / "prm800k" / "phase1_train.examples.jsonl"
    records = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    run = Run.objects.create(project=project, kind=RunKind.IMPORT, name=path.name)
    report = store_traces(project, run, [t for n, r in enumerate(records, 1) for t in parse_record(r, n)])
    record, trace_id = records[1], report.trace_ids[1]  # 30 steps, human completions, give_up

    shown = shown_steps(member_client.get(reverse("trace-detail", args=["test", trace_id])).content.decode())

    raw_steps = record["label"]["steps"]
    assert len(shown) == len(raw_steps)
    for step, raw in zip(shown, raw_steps, strict=True):
        options = raw["completions"] + ([raw["human_completion"]] if raw["human_completion"] else [])
        taken = path_completion(raw)
        others = [o for o in options if o["text"].strip() != taken["text"].strip()]
        assert step.text == taken["text"].strip()
        assert step.alternative_ratings == [RATING_CSS[o["rating"]] for o in others], step.number
        chip = ("chip-auto", RATING_CSS[taken["rating"]], "import:prm800k")
        assert step.chips == ([chip] if taken["rating"] is not None else []), step.number
    assert sum(len(s.alternative_ratings) for s in shown) > 20


def test_viewer_query_count_does_not_grow_with_steps_or_labels(
    member_client, owner, make_traces, django_assert_max_num_queries
) -> None:
    many = 300
    sources = ("mc_rollout", "import:test")
    labels = [LabelSpec(step=i, value=(i % 3) - 1, source=source) for i in range(many) for source in sources]
    think = [f"thought {i}" for i in range(many - 2)]
    trace = make_traces([TraceSpec(key="big", think=think, labels=labels, first_error=5)])["big"]
    steps = list(Step.objects.filter(trace=trace).order_by("index"))
    do_save_labels(owner, [LabelInput(step=step, value=1) for step in steps])
    with django_assert_max_num_queries(9):  # 8th: "Compare with…"; 9th: the gold sources hidden from the person
        body = member_client.get(detail_url(trace)).content.decode()
    body = with_hidden_steps(member_client, body)  # the steps past the page's window, loaded
    assert len(shown_steps(body)) == many
    assert all(len(s.chips) == 3 for s in shown_steps(body))
