"""Each model's think format is decided once per import (docs/concepts.md §1, Trace): the import's
choice, else a line's own, else the model's setting, else what its traces in the file show -- and
every trace of the model is read with it, whichever comes first in the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.db.models.functions import Length

from traces.actions.imports import do_import
from traces.models import LanguageModel, Project, Trace

pytestmark = pytest.mark.django_db

THOUGHT = "Okay, so 2+2. Let me add: 2+2=4. So the answer is 4."


def line(completion: str, model: str = "r1-distill", **fields: Any) -> dict[str, Any]:
    return {"prompt": "What is 2+2?", "completion": completion, "reference_answer": "4", "model": model, **fields}


def write(tmp_path: Path, records: list[dict[str, Any]]) -> Path:
    path = tmp_path / "traces.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


def formats(project: Project, path: Path, **options: Any) -> tuple[dict[str, str], list[Trace]]:
    """Each model's format in the import's report, and the import's traces in file order."""
    run = do_import(project, path, "jsonl", **options).run
    report = {entry["model"]: entry["think_format"] for entry in run.report["think_formats"]}
    return report, list(Trace.objects.filter(run=run).order_by("sample_index"))


def test_a_tagless_trace_first_in_the_file_is_read_with_its_models_format(project: Project, tmp_path: Path) -> None:
    """An R1-Distill output cut before ``</think>`` comes first: it is still read as that model's
    truncated thinking (no answer part, no answer graded from its thinking), as its siblings show."""
    path = write(tmp_path, [line(THOUGHT), *(line(f"{THOUGHT}</think>\n\nThe answer is {n}.") for n in (4, 5))])
    report, (cut, *closed) = formats(project, path)
    assert report == {"r1-distill": "think_in_prompt"}
    assert (cut.think_closed, cut.think_start, cut.think_end, cut.final_answer, cut.is_correct) == (
        False, 0, len(THOUGHT), "", False)  # fmt: skip
    assert all(trace.think_closed and trace.think_end == len(THOUGHT) for trace in closed)
    assert [trace.final_answer for trace in closed] == ["4", "5"]


def test_the_same_trace_stopped_by_the_model_is_all_answer(project: Project, tmp_path: Path) -> None:
    """``finish_reason: stop`` without ``</think>``: the template had closed the thinking as well."""
    path = write(tmp_path, [line(THOUGHT, finish_reason="stop"), line(f"{THOUGHT}</think>The answer is 4.")])
    _, (stopped, _) = formats(project, path)
    assert (stopped.think_closed, stopped.think_end, stopped.answer_start, stopped.final_answer) == (True, 0, 0, "4")


def test_the_import_option_then_a_lines_own_then_the_models_setting_then_the_traces(project: Project, tmp_path: Path) -> None:
    LanguageModel.objects.create(project=project, name="set", think_format="none")
    records = [
        line(f"<think>{THOUGHT}</think>4", model="set"),
        line(f"<think>{THOUGHT}</think>4", model="own", think_format="none"),
        line(f"<think>{THOUGHT}</think>4", model="shown"),
        line("The answer is 4.", model="silent"),
    ]
    report, traces = formats(project, write(tmp_path, records))
    assert report == {"set": "none", "own": "none", "shown": "think_tags", "silent": "none"}
    assert [trace.think_closed and trace.think_end > 0 for trace in traces] == [False, False, True, False]
    run = Trace.objects.get(model__name="silent").run
    silent = next(entry for entry in run.report["think_formats"] if entry["model"] == "silent")
    assert (silent["source"], silent["reason"]) == (
        "undetermined", "undetermined, read with no think part: of 1 trace, 1 has no think delimiter")  # fmt: skip

    chosen, _ = formats(project, write(tmp_path, [*records, line("x", model="new")]), think_format="sky_t1")
    assert set(chosen.values()) == {"sky_t1"}
    assert LanguageModel.objects.get(name="shown").think_format == "auto"  # an import decides, never stores


def test_an_unknown_think_format_is_refused_before_anything_is_written(project: Project, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown think format 'xml'"):
        do_import(project, write(tmp_path, [line(THOUGHT)]), "jsonl", think_format="xml")
    assert not Trace.objects.exists()


def test_each_model_of_the_real_files_and_why(project: Project, shared_data: Path) -> None:
    """The R1-family and Kimi-K2 files: one entry per model, with the counts that decided it; the
    R1 file's reasoning_content is a copy of each output's thinking, so nothing is stored twice."""
    r1 = do_import(project, shared_data / "reasoning_traces" / "math500_r1_family.jsonl", "jsonl").run
    kimi = do_import(project, shared_data / "reasoning_traces" / "mmlupro_kimi_k2.jsonl", "jsonl").run
    reasons = {entry["model"]: (entry["think_format"], entry["reason"]) for entry in r1.report["think_formats"]}
    assert reasons["deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"] == (
        "think_in_prompt", "detected: of 20 traces, 19 close </think> without opening it, 1 has no think delimiter")  # fmt: skip
    [entry] = kimi.report["think_formats"]
    assert entry["think_format"] == "reasoning_content" and entry["traces"] == 110
    raw = {json.loads(text)["completion"] for text in (shared_data / "reasoning_traces" / "math500_r1_family.jsonl").open()}
    assert {trace.raw_text for trace in Trace.objects.filter(run=r1)} == raw
    empty = Trace.objects.filter(run=kimi, answer_start=Length("raw_text"))  # an empty answer part
    assert empty.count() == 14 and not empty.filter(think_closed=False).exists()
    assert set(empty.values_list("final_answer", flat=True)) == {""}

