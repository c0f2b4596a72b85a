"""ProcessBench reader (docs/concepts.md §2, "ProcessBench"; QwenLM/ProcessBench ``dataset/*.json``).

One solution per record (JSONL, or the original one-JSON-array-per-split layout)::

    {"id": str, "generator": str, "problem": str, "steps": [str, ...],
     "final_answer_correct": bool, "label": int}

``label`` is the 0-based index of the earliest erroneous step, ``-1`` when no step is wrong.

Rules (decisions where docs/concepts.md §2 is silent):

* **Steps** are the record's own, in order; the trace text is the steps joined by ``"\\n\\n"``.
* **Step labels** (source ``import:processbench``): +1 on every step before the first error, −1 on
  the first error, no label on the steps after it (ProcessBench says nothing about them); with
  ``label`` −1 every step is +1. ``first_error`` is ``label`` itself.
* ``model_name`` is ``generator``; ``is_correct`` is ``final_answer_correct`` (true/false, or null
  when absent); there is no reference answer.
* ``source`` is ``"processbench"``; ``split`` is the subset named by the id's prefix before its
  last ``-`` (``"gsm8k-12"`` → ``gsm8k``; ProcessBench's splits are gsm8k, math, olympiadbench,
  omnimath), empty when the id has no ``-``.
* ``meta`` keeps ``id`` and, under ``extra_fields``, any field not listed above.

Required: ``id``, ``generator``, ``problem`` (non-blank strings), ``steps`` (a non-empty list of
strings) and ``label`` (−1 or an index into ``steps``); anything else is a FormatError naming the field.

The export (``EXPORTS``: ``processbench``) writes every step the policy keeps; ``label`` is the
position of the first step labelled false, −1 when none is. Unlabelled steps after the first error
are kept (ProcessBench leaves them unlabelled); an unlabelled step before it leaves the first error
undetermined, and the trace is skipped. ``id`` is the file's own for traces imported from
ProcessBench (``source_id``), else ``thinkscope-<trace id>``.
"""

from __future__ import annotations

from typing import Any, cast

from traces.exports.policy import LabelPolicy
from traces.exports.records import (
    FIRST_ERROR_UNDETERMINED,
    NO_ERROR,
    NO_LABELLED_STEP,
    ExportFormat,
    ExportTrace,
    RenderSettings,
    SkipTrace,
    first_error_position,
    policy_steps,
)
from traces.formats.base import (
    FormatError,
    ParsedStep,
    ParsedTrace,
    expect_int,
    expect_optional_bool,
    expect_str,
    extra_fields,
    require_list,
    require_str,
)

NAME = "processbench"
#: What the format is, in one line (the import page's format choice).
DESCRIPTION = "ProcessBench: steps and the index of the first wrong one (JSONL or one JSON array)"
LABEL_SOURCE = "import:processbench"
STEP_SEPARATOR = "\n\n"

_KNOWN = frozenset({"id", "generator", "problem", "steps", "final_answer_correct", "label"})


def step_labels(step_count: int, first_error: int) -> list[int | None]:
    """+1 before the first error, −1 at it, unrated after it; all +1 when ``first_error`` is −1."""
    if first_error == NO_ERROR:
        return [1] * step_count
    return [1] * first_error + [-1] + [None] * (step_count - first_error - 1)


def split_of(sample_id: str) -> str:
    """The ProcessBench subset an id belongs to: ``"olympiadbench-501"`` → ``"olympiadbench"``."""
    prefix, dash, _ = sample_id.rpartition("-")
    return prefix if dash else ""


def _first_error(record: dict[str, Any], step_count: int, line_no: int) -> int:
    if "label" not in record:
        raise FormatError("missing required field", line_no=line_no, field="label")
    label = cast(int, expect_int(record["label"], line_no, "label"))  # not nullable: never None
    if not NO_ERROR <= label < step_count:
        raise FormatError(
            f"must be -1 (no error) or a step index 0..{step_count - 1}, got {label}", line_no=line_no, field="label"
        )
    return label


def parse_record(record: dict[str, Any], line_no: int) -> list[ParsedTrace]:
    """Read one ProcessBench record (docs/concepts.md §2) into one trace with its first-error labels."""
    sample_id = require_str(record, "id", line_no)
    generator = require_str(record, "generator", line_no)
    problem = require_str(record, "problem", line_no)
    raw_steps = require_list(record, "steps", line_no)
    step_texts = [expect_str(step, line_no, f"steps[{i}]") for i, step in enumerate(raw_steps)]
    if not step_texts:
        raise FormatError("must have at least one step", line_no=line_no, field="steps")
    first_error = _first_error(record, len(step_texts), line_no)
    is_correct = expect_optional_bool(record.get("final_answer_correct"), line_no, "final_answer_correct")

    meta: dict[str, Any] = {"id": sample_id}
    if extra := extra_fields(record, _KNOWN):
        meta["extra_fields"] = extra
    labels = step_labels(len(step_texts), first_error)
    steps = [ParsedStep(text=text, label=label) for text, label in zip(step_texts, labels)]
    return [
        ParsedTrace(
            line_no=line_no,
            prompt=problem,
            text=STEP_SEPARATOR.join(step_texts),
            model_name=generator,
            source=NAME,
            split=split_of(sample_id),
            steps=steps,
            step_separator=STEP_SEPARATOR,
            first_error=first_error,
            is_correct=is_correct,
            label_source=LABEL_SOURCE,
            meta=meta,
        )
    ]


def source_id(meta: dict[str, Any]) -> str:
    """The record's ``id`` (``"gsm8k-0"``): it names one solution, not a problem (problems repeat
    across ids), so it is the trace's source id."""
    return str(meta.get("id", ""))


def render_processbench_record(trace: ExportTrace, policy: LabelPolicy, settings: RenderSettings) -> dict[str, Any]:
    """ProcessBench ``{id, generator, problem, steps, final_answer_correct, label}`` (module docstring)."""
    steps = policy_steps(trace, policy)
    if all(step.label is None for step in steps):
        raise SkipTrace(NO_LABELLED_STEP)
    label = first_error_position(steps)
    if label is None:
        raise SkipTrace(FIRST_ERROR_UNDETERMINED)
    own_id = source_id(trace.meta) if trace.source_format == NAME else ""
    return {
        "id": own_id or f"thinkscope-{trace.id}",
        "generator": trace.model,
        "problem": trace.prompt,
        "steps": [trace.steps[step.position].text for step in steps],
        "final_answer_correct": trace.is_correct,
        "label": label,
    }


EXPORTS = (
    ExportFormat(
        NAME,
        render_processbench_record,
        "jsonl",
        "ProcessBench-shaped JSONL (first-error index)",
        fields=("id", "generator", "problem", "steps", "final_answer_correct", "label"),
    ),
)
