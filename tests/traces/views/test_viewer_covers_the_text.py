"""The viewer shows every character of a completion (docs/concepts.md §1, Trace): the steps it shows
cover each real trace's raw text -- think delimiters, text before an opening tag, a thinking cut at
its token limit -- and every step of a long trace loads through the page's bounded windows.

The real files go through the real importer: the Sky-T1 sample as thinkscope JSONL written at run
time, the R1-family and Kimi-K2 files as they are.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.urls import reverse
from page_windows import shown_steps, with_hidden_steps

from traces.actions.imports import do_import
from traces.models import Project, Trace
from traces.queries.traces import step_rows
from traces.views import windows
from traces.views.windows import TraceWindow

pytestmark = pytest.mark.django_db

SKYT1 = "skyt1_math500_traces/Sky-T1-math-correct-5K-27B.math500.lines1-300.jsonl"
REASONING_FILES = ("reasoning_traces/math500_r1_family.jsonl", "reasoning_traces/mmlupro_kimi_k2.jsonl")
SPACE = re.compile(r"\s+")


def skyt1_as_jsonl(shared_data: Path, tmp_path: Path) -> Path:
    """The Sky-T1 sample as thinkscope JSONL: its question, its raw output and its reference."""
    path = tmp_path / "skyt1.jsonl"
    with (shared_data / SKYT1).open(encoding="utf-8") as source, path.open("w", encoding="utf-8") as out:
        for line in source:
            record = json.loads(line)
            out.write(json.dumps({"prompt": record["question"], "completion": record["code"][0],
                                  "reference_answer": record["answer"], "model": "Sky-T1"}) + "\n")  # fmt: skip
    return path


def uncovered(trace: Trace) -> str:
    """The characters of ``trace`` that none of the viewer's steps shows, whitespace aside."""
    shown = [False] * len(trace.raw_text)
    for start, end in TraceWindow(trace, step_rows(trace), []).spans:
        shown[start:end] = [True] * (end - start)
    return "".join(char for char, seen in zip(trace.raw_text, shown) if not seen and not char.isspace())


def import_text(project: Project, tmp_path: Path, record: dict[str, object]) -> Trace:
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    return Trace.objects.get(run=do_import(project, path, "jsonl").run)


def whole_page(client, trace: Trace) -> list[str]:
    """The viewer's step texts of ``trace``, every hidden window loaded."""
    body = client.get(reverse("trace-detail", args=[trace.project.slug, trace.pk])).content.decode()
    return [text for _, text in shown_steps(with_hidden_steps(client, body))]


def test_the_viewers_steps_cover_every_character_of_every_real_trace(project, shared_data: Path, tmp_path: Path) -> None:
    paths = [skyt1_as_jsonl(shared_data, tmp_path), *(shared_data / name for name in REASONING_FILES)]
    runs = [do_import(project, path, "jsonl").run for path in paths]
    traces = list(Trace.objects.filter(run__in=runs))
    assert len(traces) == 300 + 70 + 110  # every record, the Kimi-K2 one with no output too
    assert {trace.pk: uncovered(trace) for trace in traces if uncovered(trace)} == {}


def test_text_before_an_opening_tag_is_in_the_thinking_on_the_page(project, member_client, tmp_path: Path) -> None:
    """A model that writes before its ``<|begin_of_thought|>`` (15 kB here, as in a real Sky-T1
    trace): that text is the thinking's first steps, and every step loads through the windows."""
    before = "".join(f"Let me restate part {i} of the problem before I start.\n\n" for i in range(280))
    text = f"{before}<|begin_of_thought|>\n\nSo 2+2=4.\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\n\\boxed{{4}}\n\n<|end_of_solution|>"
    trace = import_text(project, tmp_path, {"prompt": "2+2?", "completion": text, "reference_answer": "4"})
    assert trace.think_split.think_text(text).startswith(before) and trace.final_answer == "4"
    assert uncovered(trace) == ""
    shown = whole_page(member_client, trace)
    assert SPACE.sub("", "".join(shown)) == SPACE.sub("", text)
    assert shown[0].startswith("Let me restate part 0")


def test_a_thinking_cut_at_its_limit_is_shown_whole(project, member_client, shared_data: Path, tmp_path, monkeypatch) -> None:
    """The R1-Distill-Qwen-7B output that runs to its 32,768-token limit inside its thinking (no
    ``</think>``): all of it is thinking, truncated, and every step loads through small windows."""
    monkeypatch.setattr(windows, "PAGE_STEPS", 40)
    run = do_import(project, shared_data / REASONING_FILES[0], "jsonl").run
    [trace] = [t for t in Trace.objects.filter(run=run, model__name__endswith="Qwen-7B") if "</think>" not in t.raw_text]
    end = len(trace.raw_text)
    assert (trace.think_closed, trace.think_start, trace.think_end, trace.answer_start, trace.final_answer) == (
        False, 0, end, end, "")  # fmt: skip
    shown = whole_page(member_client, trace)
    assert len(shown) > windows.PAGE_STEPS
    assert SPACE.sub("", "".join(shown)) == SPACE.sub("", trace.raw_text)
