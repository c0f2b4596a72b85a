"""Import → export round trips on the real samples in ../shared/data, and TRL read back by its
consumers (pyarrow, ``datasets``). Expected values are computed from the source files here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from export_helpers import read_jsonl

from traces.actions.imports import do_import
from traces.actions.store import store_traces
from traces.analysis.metrics import processbench_f1
from traces.exports.policy import LabelPolicy
from traces.exports.writers import Manifest, write_export
from traces.formats.base import ParsedTrace
from traces.models import HUMAN, Label, Project, Run, RunKind, Step, Trace

pytestmark = pytest.mark.django_db

PRM800K_TOP_FIELDS = (
    "labeler",
    "timestamp",
    "generation",
    "is_quality_control_question",
    "is_initial_screening_question",
)
PROCESSBENCH_SPLITS = ("gsm8k", "math", "olympiadbench", "omnimath")


def import_and_export(project: Project, path: Path, fmt: str, policy: LabelPolicy, out: Path) -> Manifest:
    """Import ``path`` in format ``fmt`` and export its traces back in the same format."""
    result = do_import(project, path, fmt)
    return write_export(Trace.objects.filter(run=result.run), fmt, policy, out)


@pytest.mark.parametrize("name", ["phase1_train.examples.jsonl", "phase2_train.examples.jsonl"])
def test_prm800k_keeps_every_rating_flag_and_alternative(shared_data: Path, project, tmp_path: Path, name: str) -> None:
    path = shared_data / "prm800k" / name
    source = read_jsonl(path)
    manifest = import_and_export(project, path, "prm800k", LabelPolicy(sources="import:prm800k"), tmp_path)
    exported = read_jsonl(tmp_path / "train.jsonl")
    assert manifest.rows_written == len(exported) == len(source)
    for line, (original, out) in enumerate(zip(source, exported, strict=True), start=1):
        original_steps, out_steps = original["label"]["steps"], out["label"]["steps"]
        assert len(out_steps) == len(original_steps), f"line {line}"
        for k, (want, got) in enumerate(zip(original_steps, out_steps, strict=True)):
            where = f"line {line} step {k}"
            assert got["chosen_completion"] == want["chosen_completion"], where
            assert got["human_completion"] == want["human_completion"], where
            assert len(got["completions"]) == len(want["completions"]), where
            for j, (alternative, copy) in enumerate(zip(want["completions"], got["completions"], strict=True)):
                for field in ("text", "rating", "flagged"):
                    assert copy[field] == alternative[field], f"{where} completion {j} {field}"
        for field in PRM800K_TOP_FIELDS:
            assert out[field] == original[field], f"line {line} {field}"
        assert out["question"] == original["question"], f"line {line}"
        assert out["label"]["finish_reason"] == original["label"]["finish_reason"]
        assert out["label"]["total_time"] == original["label"]["total_time"]
        assert out == original, f"line {line}: a field differs"
    alternatives = sum(len(step["completions"]) for record in source for step in record["label"]["steps"])
    assert alternatives == sum(len(step["completions"]) for record in exported for step in record["label"]["steps"])


def test_prm800k_export_shows_a_persons_rating_on_the_path(
    shared_data: Path, project, make_user, tmp_path: Path
) -> None:
    path = shared_data / "prm800k" / "phase2_train.examples.jsonl"
    source = read_jsonl(path)
    result = do_import(project, path, "prm800k")
    first = Trace.objects.filter(run=result.run).order_by("id").first()
    step = Step.objects.get(segmentation=first.current_segmentation, index=0)
    Label.objects.create(step=step, trace=first, value=-1, flagged=True, source=HUMAN, user=make_user("rater"))
    policy = LabelPolicy(sources="human-else-auto", auto_method="import:prm800k")
    write_export(Trace.objects.filter(run=result.run), "prm800k", policy, tmp_path)
    exported = read_jsonl(tmp_path / "train.jsonl")
    changed = exported[0]["label"]["steps"][0]
    original = source[0]["label"]["steps"][0]
    assert changed["completions"][original["chosen_completion"]]["rating"] == -1
    assert changed["completions"][original["chosen_completion"]]["flagged"] is True
    assert exported[0]["label"]["steps"][1:] == source[0]["label"]["steps"][1:]
    assert exported[1:] == source[1:]


def test_math_shepherd_reproduces_input_and_label_text(shared_data: Path, project, tmp_path: Path) -> None:
    path = shared_data / "math_shepherd" / "openr_samples.jsonl"
    source = read_jsonl(path)
    policy = LabelPolicy(sources="import:math_shepherd", after_error="keep")
    import_and_export(project, path, "math_shepherd", policy, tmp_path)
    exported = read_jsonl(tmp_path / "train.jsonl")
    fields = ("input", "label", "task")
    assert [[r[f] for f in fields] for r in exported] == [[r[f] for f in fields] for r in source]


def cut_after_first_minus(label: str) -> str:
    """A Math-Shepherd label text cut after its first " -" step mark (independent of the exporter)."""
    marks = [i for i in range(len(label)) if label.startswith(" -", i) and label[i + 2 : i + 3] in ("", "\n")]
    return label[: marks[0] + 2] if marks else label


def test_math_shepherd_cut_ends_at_the_first_minus(shared_data: Path, project, tmp_path: Path) -> None:
    path = shared_data / "math_shepherd" / "openr_samples.jsonl"
    source = read_jsonl(path)
    policy = LabelPolicy(sources="import:math_shepherd", after_error="cut")
    import_and_export(project, path, "math_shepherd", policy, tmp_path)
    exported = read_jsonl(tmp_path / "train.jsonl")
    expected = [cut_after_first_minus(r["label"]) for r in source]
    assert any(e != r["label"] for e, r in zip(expected, source, strict=True))  # the sample has steps after an error
    assert [r["label"] for r in exported] == expected


@pytest.mark.parametrize("split", PROCESSBENCH_SPLITS)
def test_processbench_round_trip_and_f1(shared_data: Path, project, tmp_path: Path, split: str) -> None:
    path = shared_data / "processbench" / f"{split}.jsonl"
    source = read_jsonl(path)
    import_and_export(project, path, "processbench", LabelPolicy(sources="import:processbench"), tmp_path)
    exported = read_jsonl(tmp_path / "train.jsonl")
    fields = ("id", "generator", "problem", "steps", "final_answer_correct", "label")
    assert [{f: r[f] for f in fields} for r in exported] == [{f: r[f] for f in fields} for r in source]

    reference = [r["label"] for r in source]
    assert processbench_f1([r["label"] for r in exported], reference).f1 == 1.0
    # Shift the first error one step later on the first 10 erroneous traces that have a later step.
    shiftable = [i for i, r in enumerate(source) if 0 <= r["label"] < len(r["steps"]) - 1][:10]
    shifted = [r["label"] + 1 if i in shiftable else r["label"] for i, r in enumerate(exported)]
    erroneous = sum(1 for label in reference if label >= 0)
    erroneous_accuracy = (erroneous - len(shiftable)) / erroneous
    by_hand = 2 * erroneous_accuracy * 1.0 / (erroneous_accuracy + 1.0)  # error-free accuracy is 1
    assert processbench_f1(shifted, reference).f1 == pytest.approx(by_hand)


def trl_expected(record: dict[str, Any]) -> dict[str, Any]:
    """The TRL example of a ProcessBench record: steps up to the first error, trailing space removed."""
    end = record["label"] + 1 if record["label"] >= 0 else len(record["steps"])
    labels = [True] * end if record["label"] < 0 else [True] * record["label"] + [False]
    return {"prompt": record["problem"], "completions": [s.rstrip() for s in record["steps"][:end]], "labels": labels}


def test_trl_read_back_with_pyarrow_and_datasets(shared_data: Path, project, tmp_path: Path) -> None:
    path = shared_data / "processbench" / "gsm8k.jsonl"
    source = read_jsonl(path)
    result = do_import(project, path, "processbench")
    traces = Trace.objects.filter(run=result.run)
    policy = LabelPolicy(sources="import:processbench", after_error="cut")
    write_export(traces, "trl", policy, tmp_path / "jsonl", options={"step_separator": "\n\n"})
    write_export(traces, "trl_parquet", policy, tmp_path / "parquet", options={"step_separator": "\n\n"})
    expected = [trl_expected(r) for r in source]
    assert read_jsonl(tmp_path / "jsonl" / "train.jsonl") == expected

    table = pq.read_table(tmp_path / "parquet" / "train.parquet")
    assert table.schema.field("prompt").type == pa.string()
    assert table.schema.field("completions").type.equals(pa.list_(pa.string()))
    assert table.schema.field("labels").type.equals(pa.list_(pa.bool_()))
    assert table.to_pylist() == expected

    cache = str(tmp_path / "hf-cache")
    for builder, name in (("json", "jsonl/train.jsonl"), ("parquet", "parquet/train.parquet")):
        dataset = datasets.load_dataset(builder, data_files=str(tmp_path / name), split="train", cache_dir=cache)
        assert dataset.features["prompt"] == datasets.Value("string")
        assert dataset.features["completions"].feature == datasets.Value("string")
        assert dataset.features["labels"].feature == datasets.Value("bool")
        assert dataset.to_list() == expected
        # What PRMTrainer tokenizes (each completion, then the separator) is the source's steps
        # joined by the separator, without a doubled separator.
        for row, record in zip(dataset, source, strict=True):
            end = record["label"] + 1 if record["label"] >= 0 else len(record["steps"])
            read = "".join(completion + "\n\n" for completion in row["completions"])
            assert read == "\n\n".join(step.rstrip() for step in record["steps"][:end]) + "\n\n"


def test_trl_separator_is_not_doubled_on_segmented_steps(project, make_user, tmp_path: Path) -> None:
    paragraphs = ["First add 2 and 2.", "That gives 4.", "So the answer is 4."]
    run = Run.objects.create(project=project, kind=RunKind.GENERATION, name="generated")
    store_traces(project, run, [ParsedTrace(line_no=1, prompt="What is 2 + 2?", text="\n\n".join(paragraphs))])
    trace = Trace.objects.get(run=run)
    steps = list(Step.objects.filter(segmentation=trace.current_segmentation).order_by("index"))
    assert len(steps) == len(paragraphs)
    assert trace.raw_text[steps[0].char_start : steps[0].char_end].endswith("\n\n")  # spans tile the text
    person = make_user("rater")
    Label.objects.bulk_create([Label(step=s, trace=trace, value=1, source=HUMAN, user=person) for s in steps])
    write_export(Trace.objects.filter(run=run), "trl", LabelPolicy(sources=HUMAN), tmp_path, options={"step_separator": "\n"})
    (row,) = read_jsonl(tmp_path / "train.jsonl")
    assert row == {"prompt": "What is 2 + 2?", "completions": paragraphs, "labels": [True, True, True]}
