"""The flat table of traces and scores (docs/concepts.md §2, "Exports"): written, never read.

One row per trace, never skipped: the trace and its problem, its source (``source_format``, the
import's format, and ``source_id``, the record's own id in that file: ProcessBench's ``id``,
PRMBench's ``idx``, PRM800K's ``labeler/timestamp``; empty for generated traces and formats without
ids), label counts under the policy, ``first_error_step`` (the trace's step index of the first
false label; −1 when every step is labelled and none is false; null when undetermined), then one
column per trace-level score, named ``score:<name>:<method>``.

``problem_external_id`` is the problem's id in its source (generic JSONL's ``problem_id``) and
``sample_index`` the file's own ``sample_index``, else, for an import, the record's line number.
A source id names a record, not a problem: ProcessBench's ids name solutions, and one problem has
several. Under ``human_completion: skip`` the row is kept, its human-written steps unlabelled.
"""

from __future__ import annotations

from typing import Any

from traces.exports.policy import HumanCompletion, LabelPolicy, trace_steps
from traces.exports.records import (
    NO_ERROR,
    ExportFormat,
    ExportTrace,
    RenderSettings,
    human_written_positions,
    labels_per_step,
)

NAME = "flat"

#: Arrow type (by name) of each fixed column, in file order (score columns follow, sorted, as float64).
FLAT_TYPES: dict[str, str] = {
    "trace_id": "int64",
    "problem_id": "int64",
    "problem_hash": "string",
    "problem_source": "string",
    "problem_external_id": "string",
    "source_format": "string",
    "source_id": "string",
    "model": "string",
    "run_id": "int64",
    "sample_index": "int64",
    "finish_reason": "string",
    "is_correct": "bool",
    "final_answer": "string",
    "think_tokens": "int64",
    "answer_tokens": "int64",
    "generation_ms": "int64",
    "step_count": "int64",
    "labelled_steps": "int64",
    "positive_steps": "int64",
    "negative_steps": "int64",
    "first_error_step": "int64",
}
FLAT_COLUMNS = tuple(FLAT_TYPES)


def render_flat_record(trace: ExportTrace, policy: LabelPolicy, settings: RenderSettings) -> dict[str, Any]:
    """One flat row: trace columns, label counts under the policy, scores (module docstring)."""
    human_written = human_written_positions(trace) if policy.human_completion != HumanCompletion.SKIP else ()
    steps = trace_steps(policy, labels_per_step(trace), human_written)
    first_error = next((step.position for step in steps if step.label is False), None)
    if first_error is None and all(step.label is not None for step in steps) and trace.steps:
        first_error = NO_ERROR
    row: dict[str, Any] = {
        "trace_id": trace.id,
        "problem_id": trace.problem_id,
        "problem_hash": trace.problem_hash,
        "problem_source": trace.problem_source,
        "problem_external_id": trace.problem_external_id,
        "source_format": trace.source_format,
        "source_id": trace.source_id,
        "model": trace.model,
        "run_id": trace.run_id,
        "sample_index": trace.sample_index,
        "finish_reason": trace.finish_reason,
        "is_correct": trace.is_correct,
        "final_answer": trace.final_answer,
        "think_tokens": trace.think_tokens,
        "answer_tokens": trace.answer_tokens,
        "generation_ms": trace.generation_ms,
        "step_count": len(trace.steps),
        "labelled_steps": sum(step.label is not None for step in steps),
        "positive_steps": sum(step.label is True for step in steps),
        "negative_steps": sum(step.label is False for step in steps),
        "first_error_step": first_error,
    }
    row.update({column: trace.scores.get(column) for column in settings.score_columns})
    return row


_DESCRIPTION = "one row per trace with its source id and scores"
EXPORTS = (
    ExportFormat("flat_csv", render_flat_record, "csv", f"{_DESCRIPTION}, CSV", column_types=tuple(FLAT_TYPES.items()), scores=True),
    ExportFormat("flat_parquet", render_flat_record, "parquet", f"{_DESCRIPTION}, Parquet", column_types=tuple(FLAT_TYPES.items()), scores=True),
)
