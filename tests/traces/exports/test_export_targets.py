"""Export fidelity on the real samples in ../shared/data (docs/concepts.md §2, "Exports"): PRM800K's
human-written steps under each ``human_completion`` policy, Math-Shepherd step numbering on
ProcessBench and PRMBench steps that number themselves, source ids in the flat table, and the
OpenRLHF and token-classification targets read back by their documented schema."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from export_helpers import read_jsonl

from traces.actions.exports import ExportSpec, RequestRejected, check_spec
from traces.actions.imports import do_import
from traces.exports.policy import HUMAN_WRITTEN_SKIPPED, LabelPolicy
from traces.exports.writers import write_export
from traces.formats.math_shepherd import SPLIT_MARKER_TWICE, numbered_steps, parse_record
from traces.models import Step, Trace

pytestmark = pytest.mark.django_db

PRM800K = LabelPolicy(sources="import:prm800k")
PROCESSBENCH = LabelPolicy(sources="import:processbench")
PROCESSBENCH_SPLITS = ("gsm8k", "math", "olympiadbench", "omnimath")
#: A step that numbers itself: "Step 2:", "### Step 2:" (Qwen and Llama models in ProcessBench).
OWN_NUMBERING = re.compile(r"\s*(#+\s*)?step\s*\d+\s*[:.]", re.IGNORECASE)
#: ProcessBench records whose problem (olympiadbench-79, -564) or first step's text (math-59, mid-text)
#: holds "Step 1:" where no numbering of its own does: read by hand from the sample.
STEP_ONE_ELSEWHERE = 3


def export_rows(traces: Any, fmt: str, policy: LabelPolicy, out: Path, **options: str) -> tuple[list[dict[str, Any]], Any]:
    """The rows of a JSONL export of ``traces`` (one split) and its manifest."""
    manifest = write_export(traces, fmt, policy, out, options=options)
    return read_jsonl(out / "train.jsonl"), manifest


@pytest.fixture
def phase1(shared_data: Path, project) -> Any:
    """The three phase-1 PRM800K records (13 steps written by their labellers), imported."""
    result = do_import(project, shared_data / "prm800k" / "phase1_train.examples.jsonl", "prm800k")
    return Trace.objects.filter(run=result.run)


def test_import_stores_which_steps_a_person_wrote(phase1) -> None:
    written = Step.objects.filter(trace__in=phase1, human_written=True)
    assert written.count() == 13
    assert not written.filter(labels__isnull=False).exists()  # PRM800K leaves them unrated


def test_human_completions_count_as_correct_by_default(phase1, tmp_path: Path) -> None:
    """TRL's PRM800K convention: the labelled prefix no longer stops at a step the labeller wrote."""
    rows, manifest = export_rows(phase1, "trl", PRM800K, tmp_path)
    # Record 2 gave up at its 30th step, which nobody rated: the prefix ends there.
    assert [len(row["completions"]) for row in rows] == [6, 29, 6]
    assert manifest.skipped == {}
    assert manifest.policy["human_completion"] == "correct"


def test_unlabelled_human_completions_cut_the_prefix_as_before(phase1, tmp_path: Path) -> None:
    policy = LabelPolicy(sources="import:prm800k", human_completion="unlabelled")
    rows, manifest = export_rows(phase1, "trl", policy, tmp_path)
    assert [len(row["completions"]) for row in rows] == [1, 1]  # records 1 and 2 stop at their step 1
    assert sum(manifest.skipped.values()) == 1  # record 3's first step is a person's


def test_skip_leaves_traces_with_a_human_step_out(phase1, tmp_path: Path) -> None:
    policy = LabelPolicy(sources="import:prm800k", human_completion="skip")
    for fmt in ("trl", "math_shepherd", "processbench", "prm800k"):
        rows, manifest = export_rows(phase1, fmt, policy, tmp_path / fmt)
        assert rows == [] and manifest.skipped == {HUMAN_WRITTEN_SKIPPED: 3}, fmt


def test_prm800k_shaped_export_keeps_human_completions_native(shared_data: Path, phase1, tmp_path: Path) -> None:
    """The human completion has its own field there: its null rating is not filled in."""
    rows, _ = export_rows(phase1, "prm800k", PRM800K, tmp_path)
    assert rows == read_jsonl(shared_data / "prm800k" / "phase1_train.examples.jsonl")


def import_processbench(shared_data: Path, project) -> Any:
    ids = []
    for split in PROCESSBENCH_SPLITS:
        ids += [do_import(project, shared_data / "processbench" / f"{split}.jsonl", "processbench").run.pk]
    return Trace.objects.filter(run__in=ids)


def test_math_shepherd_steps_are_numbered_once(shared_data: Path, project, tmp_path: Path) -> None:
    """ProcessBench steps that number themselves ("Step 1: Raymond had…", after an unnumbered first
    step) get one "Step k: " each, k their position, and the line reads back as the same steps."""
    source = {r["id"]: r for split in PROCESSBENCH_SPLITS for r in read_jsonl(shared_data / "processbench" / f"{split}.jsonl")}
    numbering = {key for key, r in source.items() if any(OWN_NUMBERING.match(step) for step in r["steps"])}
    assert {"gsm8k-233", "math-9", "olympiadbench-22", "olympiadbench-569"} <= numbering
    assert {source[key]["generator"][:4] for key in numbering} == {"Qwen", "Llam"}  # two model families
    traces = import_processbench(shared_data, project)
    policy = LabelPolicy(sources="import:processbench", after_error="cut")
    rows, manifest = export_rows(traces, "math_shepherd", policy, tmp_path)
    # Only the records holding "Step 1:" elsewhere are left out, under their own reason.
    assert manifest.skipped == {SPLIT_MARKER_TWICE: STEP_ONE_ELSEWHERE}
    assert len(rows) == len(source) - STEP_ONE_ELSEWHERE
    for line_no, row in enumerate(rows, start=1):
        assert row["input"].count("Step 1:") == 1
        parsed = parse_record(row, line_no)[0]
        for k, step in enumerate(parsed.steps, start=1):
            assert step.text.startswith(f"Step {k}: ")
            assert not OWN_NUMBERING.match(step.text[len(f"Step {k}: ") :]), step.text[:60]
    raymond = next(row for row in rows if "Raymond had $21" in row["input"])
    assert "Step 2: Raymond had $21 initially." in raymond["input"]


def test_enumerations_of_our_own_making_are_renumbered() -> None:
    """Enumerated solutions ("1.", "2)"), headings and bold numberings get one "Step k: " each;
    a decimal number opening a step is text, not a numbering."""
    steps = ["1. Add them.", "2) Then halve.", "**Step 3:** Check.", "## step 4. Done", "3.5 is more than 3"]
    assert numbered_steps(steps) == [
        "Step 1: Add them.", "Step 2: Then halve.", "Step 3: Check.", "Step 4: Done", "Step 5: 3.5 is more than 3",
    ]  # fmt: skip


def test_flat_export_carries_source_ids(shared_data: Path, project, phase1, tmp_path: Path) -> None:
    traces = import_processbench(shared_data, project)
    write_export(traces, "flat_csv", PROCESSBENCH, tmp_path / "pb")
    with (tmp_path / "pb" / "train.csv").open(newline="", encoding="utf-8") as fp:
        rows = list(csv.DictReader(fp))
    source_ids = [r["id"] for split in PROCESSBENCH_SPLITS for r in read_jsonl(shared_data / "processbench" / f"{split}.jsonl")]
    assert [row["source_id"] for row in rows] == source_ids
    assert {row["source_format"] for row in rows} == {"processbench"}

    write_export(phase1, "flat_parquet", PRM800K, tmp_path / "prm")
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "prm" / "train.parquet").to_pylist()
    records = read_jsonl(shared_data / "prm800k" / "phase1_train.examples.jsonl")
    assert [row["source_id"] for row in table] == [f"{r['labeler']}/{r['timestamp']}" for r in records]


def test_flat_export_keeps_generic_jsonl_ids(project, tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    lines = [{"prompt": "What is 2+2?", "completion": "4", "problem_id": "p-17", "sample_index": 3}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    run = do_import(project, path, "jsonl").run
    write_export(Trace.objects.filter(run=run), "flat_csv", LabelPolicy(sources="import:jsonl"), tmp_path / "out")
    with (tmp_path / "out" / "train.csv").open(newline="", encoding="utf-8") as fp:
        (row,) = list(csv.DictReader(fp))
    assert (row["problem_external_id"], row["sample_index"], row["source_format"]) == ("p-17", "3", "jsonl")


def test_openrlhf_records_match_its_documented_schema(shared_data: Path, project, tmp_path: Path) -> None:
    """Math-Shepherd's layout with the placeholder at each step's end, one reward token per placeholder."""
    traces = import_processbench(shared_data, project)
    policy = LabelPolicy(sources="import:processbench", after_error="cut")
    rows, manifest = export_rows(traces, "openrlhf", policy, tmp_path / "default")
    shepherd, _ = export_rows(traces, "math_shepherd", policy, tmp_path / "shepherd")
    assert manifest.options["placeholder_token"] == "ки" and manifest.fields == ["input", "label"]
    assert [row["input"] for row in rows] == [row["input"] for row in shepherd]  # the same tag, " ки"
    for row, twin in zip(rows, shepherd, strict=True):
        assert set(row) == {"input", "label"} and set(row["label"]) <= {"+", "-"}
        assert row["input"].count("ки") == len(row["label"])
        assert [mark == "+" for mark in re.findall(r" ([+-])(?=\n|$)", twin["label"])] == [m == "+" for m in row["label"]]

    custom, _ = export_rows(
        traces, "openrlhf", policy, tmp_path / "custom", placeholder_token="<|step|>", positive_token="good",
        negative_token="bad",
    )  # fmt: skip
    assert all(row["input"].count(" <|step|>") == len(row["label"]) for row in custom)
    assert {mark for row in custom for mark in row["label"]} == {"good", "bad"}


def test_format_options_are_checked_before_anything_runs(project, tmp_path: Path) -> None:
    with pytest.raises(RequestRejected, match="has no option 'placeholder_token'"):
        check_spec(project, ExportSpec("trl", PRM800K, options={"placeholder_token": "x"}))
    with pytest.raises(RequestRejected, match="must not be blank"):
        check_spec(project, ExportSpec("openrlhf", PRM800K, options={"placeholder_token": " "}))
    with pytest.raises(CommandError, match="has no option 'colour'"):
        call_command("export", "--project", project.slug, "--format", "openrlhf", "--sources", "human",
                     "--option", "colour=red", "--out", str(tmp_path))  # fmt: skip


def test_token_classification_spans_point_at_the_steps(shared_data: Path, project, tmp_path: Path) -> None:
    traces = import_processbench(shared_data, project).filter(run__name__startswith="gsm8k")
    rows, _ = export_rows(traces, "token_classification", PROCESSBENCH, tmp_path)
    source = read_jsonl(shared_data / "processbench" / "gsm8k.jsonl")
    assert len(rows) == len(source)
    for row, record in zip(rows, source, strict=True):
        assert row["text"].startswith(record["problem"].strip())
        assert [row["text"][start:end] for start, end in row["step_spans"]] == [s.strip() for s in record["steps"]]
        first_error = record["label"]
        expected = [1 if k < first_error or first_error < 0 else 0 if k == first_error else None
                    for k in range(len(record["steps"]))]  # fmt: skip
        assert row["labels"] == expected


@pytest.mark.model
def test_token_classification_labels_reach_a_tokenizers_tokens(shared_data: Path, project, tmp_path: Path) -> None:
    """The documented recipe: a fast tokenizer's offsets put each step's label on the token holding
    its last character, one distinct token per step, in order (SmolLM2's tokenizer)."""
    from django.conf import settings
    from transformers import AutoTokenizer

    from workers.backends.embedded import embedded_model_dir

    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir(settings.MODEL_CACHE_DIR))
    traces = import_processbench(shared_data, project).filter(run__name__startswith="olympiadbench")
    rows, _ = export_rows(traces, "token_classification", PROCESSBENCH, tmp_path)
    for row in rows:
        offsets = tokenizer(row["text"], return_offsets_mapping=True, add_special_tokens=False)["offset_mapping"]
        ends = [next(i for i, (start, end) in enumerate(offsets) if start <= last - 1 < end) for _, last in row["step_spans"]]
        assert ends == sorted(set(ends)), "one token per step, in order"
        for token, (start, last) in zip(ends, row["step_spans"], strict=True):
            assert start < offsets[token][1] <= last + 1 and row["text"][offsets[token][0] : last].strip()


def test_every_jsonl_export_declares_its_fields(shared_data: Path, project, tmp_path: Path) -> None:
    traces = import_processbench(shared_data, project).filter(run__name__startswith="math")
    for fmt in ("openrlhf", "token_classification", "processbench", "math_shepherd", "trl"):
        rows, manifest = export_rows(traces, fmt, PROCESSBENCH, tmp_path / fmt)
        assert rows and all(sorted(row) == sorted(manifest.fields) for row in rows), fmt
