"""``write_export``: determinism, manifest, split by problem, bounded queries, stream output, CSV."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from export_helpers import SYNTHETIC_SOURCE, read_jsonl, seed_traces

from traces.exports import writers
from traces.exports.policy import LabelPolicy
from traces.exports.query import iter_export_traces
from traces.exports.writers import EXPORT_FORMAT_NAMES, MANIFEST_NAME, write_export
from traces.formats.flat import FLAT_COLUMNS, FLAT_TYPES
from traces.models import Score, Trace

pytestmark = pytest.mark.django_db

POLICY = LabelPolicy(sources=SYNTHETIC_SOURCE)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_flat_types_cover_the_flat_columns() -> None:
    assert tuple(FLAT_TYPES) == FLAT_COLUMNS


@pytest.mark.parametrize("fmt", EXPORT_FORMAT_NAMES)
def test_same_query_and_policy_give_the_same_bytes(project, tmp_path: Path, monkeypatch, fmt: str) -> None:
    monkeypatch.setattr(writers, "ROW_GROUP_ROWS", 8)  # several row groups, filled across chunks
    run = seed_traces(project, 40, problems=10)
    Score.objects.bulk_create(
        [Score(trace=t, name="loop_count", method="analysis", value=t.pk % 3) for t in Trace.objects.filter(run=run)]
    )
    policy = LabelPolicy(sources=SYNTHETIC_SOURCE, test_fraction=0.3, seed=11)
    first = write_export(Trace.objects.filter(run=run), fmt, policy, tmp_path / "a", chunk_size=7)
    second = write_export(Trace.objects.filter(run=run), fmt, policy, tmp_path / "b", chunk_size=13)
    assert [f.name for f in first.files] == [f.name for f in second.files]
    for exported in first.files:
        data = (tmp_path / "a" / exported.name).read_bytes()
        assert data == (tmp_path / "b" / exported.name).read_bytes(), exported.name
        assert exported.sha256 == hashlib.sha256(data).hexdigest()
        assert exported.bytes == len(data)
    manifest = json.loads((tmp_path / "a" / MANIFEST_NAME).read_text())
    assert manifest["format"] == fmt
    assert manifest["policy"] == policy.as_dict()
    assert manifest["schema_version"] == 1
    assert {f["name"]: f["sha256"] for f in manifest["files"]} == {
        f.name: file_sha256(tmp_path / "a" / f.name) for f in first.files
    }
    assert manifest["traces_read"] == 40
    assert sum(f["rows"] for f in manifest["files"]) == manifest["rows_written"] == 40
    assert not list((tmp_path / "a").glob("*.part"))
    if fmt.endswith("parquet"):
        train = pq.ParquetFile(tmp_path / "a" / "train.parquet").metadata
        row_groups = [train.row_group(i).num_rows for i in range(train.num_row_groups)]
        assert row_groups[:-1] == [8] * (len(row_groups) - 1) and 0 < row_groups[-1] <= 8
        assert sum(row_groups) == first.files[0].rows


def test_split_by_problem_never_leaks_a_problem(project, tmp_path: Path) -> None:
    problems, per_problem = 60, 5
    run = seed_traces(project, problems * per_problem, problems=problems)
    policy = LabelPolicy(sources=SYNTHETIC_SOURCE, test_fraction=0.3, seed=5)
    manifest = write_export(Trace.objects.filter(run=run), "trl", policy, tmp_path)
    train = Counter(r["prompt"] for r in read_jsonl(tmp_path / "train.jsonl"))
    test = Counter(r["prompt"] for r in read_jsonl(tmp_path / "test.jsonl"))
    assert train and test
    assert not set(train) & set(test)
    assert len(train) + len(test) == problems
    assert set(train.values()) | set(test.values()) == {per_problem}  # every trace of a problem together
    assert {f.split: f.rows for f in manifest.files} == {"train": sum(train.values()), "test": sum(test.values())}
    reseeded = LabelPolicy(sources=SYNTHETIC_SOURCE, test_fraction=0.3, seed=6)
    write_export(Trace.objects.filter(run=run), "trl", reseeded, tmp_path / "b")
    assert {r["prompt"] for r in read_jsonl(tmp_path / "b" / "test.jsonl")} != set(test)


# Per chunk: steps with their labels (+ scores for flat); once: the trace cursor (+ score columns).
@pytest.mark.parametrize(("fmt", "queries_per_chunk", "fixed"), [("trl", 1, 1), ("flat_parquet", 2, 2)])
def test_export_runs_a_bounded_number_of_queries(
    project, tmp_path: Path, django_assert_max_num_queries, fmt: str, queries_per_chunk: int, fixed: int
) -> None:
    count, chunk_size = 2000, 400
    run = seed_traces(project, count, problems=400)
    traces = Trace.objects.filter(run=run)
    with django_assert_max_num_queries(fixed + queries_per_chunk * math.ceil(count / chunk_size)):
        manifest = write_export(traces, fmt, POLICY, tmp_path, chunk_size=chunk_size)
    assert manifest.traces_read == manifest.rows_written == count


def test_traces_stream_in_id_order_with_their_steps_and_labels(project) -> None:
    run = seed_traces(project, 30, steps=4)
    streamed = list(iter_export_traces(Trace.objects.filter(run=run).order_by("-id"), chunk_size=4))
    assert [t.id for t in streamed] == sorted(Trace.objects.filter(run=run).values_list("id", flat=True))
    assert all(len(t.steps) == 4 for t in streamed)
    assert all(len(step.labels) == 1 for t in streamed for step in t.steps)
    assert streamed[0].steps[2].text == "Trace 0, step 2: carry on."
    only_human = list(iter_export_traces(Trace.objects.filter(run=run), sources=["human"]))
    assert not any(step.labels for t in only_human for step in t.steps)


def test_stream_output_matches_the_file(project, tmp_path: Path) -> None:
    run = seed_traces(project, 12)
    stream = io.BytesIO()
    manifest = write_export(Trace.objects.filter(run=run), "trl_parquet", POLICY, stream)
    write_export(Trace.objects.filter(run=run), "trl_parquet", POLICY, tmp_path)
    assert stream.getvalue() == (tmp_path / "train.parquet").read_bytes()
    assert manifest.files[0].sha256 == hashlib.sha256(stream.getvalue()).hexdigest()
    with pytest.raises(ValueError, match="give a directory"):
        split = LabelPolicy(sources=SYNTHETIC_SOURCE, test_fraction=0.5)
        write_export(Trace.objects.filter(run=run), "trl", split, io.BytesIO())
    with pytest.raises(ValueError, match="unknown export format 'xml'"):
        write_export(Trace.objects.filter(run=run), "xml", POLICY, tmp_path)


def test_flat_exports_carry_scores_and_guard_csv_formulas(project, tmp_path: Path) -> None:
    run = seed_traces(project, 3)
    traces = list(Trace.objects.filter(run=run).order_by("id"))
    answers = ["=HYPERLINK(\"http://x\")", "-3", "@SUM(A1)"]
    for trace, answer in zip(traces, answers, strict=True):
        Trace.objects.filter(pk=trace.pk).update(final_answer=answer)
    Score.objects.bulk_create([Score(trace=traces[0], name="overthinking_ratio", method="analysis", value=0.25)])
    write_export(Trace.objects.filter(run=run), "flat_parquet", POLICY, tmp_path / "parquet")
    write_export(Trace.objects.filter(run=run), "flat_csv", POLICY, tmp_path / "csv")

    table = pq.read_table(tmp_path / "parquet" / "train.parquet")
    assert table.schema.names == [*FLAT_COLUMNS, "score:overthinking_ratio:analysis"]
    assert table.schema.field("is_correct").type == pa.bool_()
    rows = table.to_pylist()
    assert [r["final_answer"] for r in rows] == answers  # Parquet keeps the text as is
    assert [r["score:overthinking_ratio:analysis"] for r in rows] == [0.25, None, None]
    assert [r["step_count"] for r in rows] == [3, 3, 3]
    assert [r["first_error_step"] for r in rows] == [2, -1, -1]  # trace 0 has its last step wrong

    with (tmp_path / "csv" / "train.csv").open(newline="", encoding="utf-8") as fp:
        cells = list(csv.DictReader(fp))
    assert [c["final_answer"] for c in cells] == ["'=HYPERLINK(\"http://x\")", "-3", "'@SUM(A1)"]
    assert [c["trace_id"] for c in cells] == [str(t.pk) for t in traces]


def test_progress_is_reported_after_each_chunk(project, tmp_path: Path) -> None:
    run = seed_traces(project, 25, problems=5)
    seen: list[int] = []
    policy = LabelPolicy(sources=SYNTHETIC_SOURCE)
    manifest = write_export(Trace.objects.filter(run=run), "trl", policy, tmp_path, chunk_size=10, progress=seen.append)
    assert seen == [10, 20] and manifest.traces_read == 25  # the job records the total when it finishes
