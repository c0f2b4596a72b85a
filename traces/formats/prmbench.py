"""PRMBench reader (docs/concepts.md §2, "PRMBench"; ssmisya/PRMBench ``prmtest_classified`` files).

One error-injected solution per line: a PRM800K test solution that a model rewrote to hold one
class of error::

    {"idx": str, "classification": str, "original_question": str, "modified_question": str,
     "original_process": [str, ...], "modified_process": [str, ...],
     "modified_steps": [int, ...], "error_steps": [int, ...], "reason": str, "question": str}

Step numbers are 1-based. Rules (decisions where docs/concepts.md §2 is silent), following what
PRMBench's own evaluation reads of a line:

* The trace is the modified solution: ``prompt`` is ``modified_question``, the steps are
  ``modified_process`` joined by ``"\\n\\n"``.
* **Step labels** (source ``import:prmbench``): −1 on each step listed in ``error_steps``, +1 on the
  others; an error step past the last step labels nothing (the sample has such lines; PRMBench's
  evaluation only scores steps that exist). ``first_error`` is the first labelled −1, −1 when
  ``error_steps`` is empty, None when every listed error lies past the end.
* ``source`` is ``"prmbench"``, ``split`` the ``classification`` (circular, confidence, …);
  ``model_name`` is ``"prmbench"`` (the file does not name the model that rewrote the solution);
  there is no reference answer, and ``is_correct`` is None.
* ``meta`` keeps every other field under its own name (the original question and solution, the
  modified and error step numbers, the reason), and ``extra_fields`` for unknown ones. A line's
  source id is PRMBench's evaluation key ``"<classification>_<idx>"`` (``idx`` repeats across the
  classification files).
"""

from __future__ import annotations

from typing import Any

from traces.formats.base import (
    FormatError,
    ParsedStep,
    ParsedTrace,
    expect_int,
    expect_str,
    extra_fields,
    require_list,
    require_str,
)

NAME = "prmbench"
#: What the format is, in one line (the import page's format choice).
DESCRIPTION = "PRMBench: a solution rewritten to hold one class of error, with its error steps"
LABEL_SOURCE = "import:prmbench"
STEP_SEPARATOR = "\n\n"
MODEL_NAME = "prmbench"

_KEPT = ("original_question", "original_process", "modified_steps", "error_steps", "reason", "question")
_KNOWN = frozenset({"idx", "classification", "modified_question", "modified_process", *_KEPT})


def _step_numbers(record: dict[str, Any], key: str, line_no: int) -> list[int]:
    numbers = []
    for i, value in enumerate(require_list(record, key, line_no)):
        number = expect_int(value, line_no, f"{key}[{i}]")
        if number is None or number < 1:
            raise FormatError(f"step numbers start at 1, got {number}", line_no=line_no, field=f"{key}[{i}]")
        numbers.append(number)
    return numbers


def parse_record(record: dict[str, Any], line_no: int) -> list[ParsedTrace]:
    """Read one PRMBench line (docs/concepts.md §2) into the modified solution with its error steps."""
    idx = require_str(record, "idx", line_no)
    classification = require_str(record, "classification", line_no)
    prompt = require_str(record, "modified_question", line_no)
    raw_steps = require_list(record, "modified_process", line_no)
    texts = [expect_str(step, line_no, f"modified_process[{i}]") for i, step in enumerate(raw_steps)]
    if not texts:
        raise FormatError("must have at least one step", line_no=line_no, field="modified_process")
    errors = set(_step_numbers(record, "error_steps", line_no))
    _step_numbers(record, "modified_steps", line_no)
    for key in ("original_question", "reason", "question"):
        if record.get(key) is not None:
            expect_str(record[key], line_no, key)
    for i, step in enumerate(record.get("original_process") or []):
        expect_str(step, line_no, f"original_process[{i}]")

    labels = [-1 if k in errors else 1 for k in range(1, len(texts) + 1)]
    first_error = next((i for i, label in enumerate(labels) if label == -1), None)
    if first_error is None and not errors:
        first_error = -1
    meta: dict[str, Any] = {"idx": idx, "classification": classification}
    meta.update({key: record[key] for key in _KEPT if key in record})
    if extra := extra_fields(record, _KNOWN):
        meta["extra_fields"] = extra
    return [
        ParsedTrace(
            line_no=line_no,
            prompt=prompt,
            text=STEP_SEPARATOR.join(texts),
            model_name=MODEL_NAME,
            source=NAME,
            split=classification,
            steps=[ParsedStep(text=text, label=label) for text, label in zip(texts, labels)],
            step_separator=STEP_SEPARATOR,
            first_error=first_error,
            label_source=LABEL_SOURCE,
            meta=meta,
        )
    ]


def source_id(meta: dict[str, Any]) -> str:
    """PRMBench's evaluation key of a line: ``"<classification>_<idx>"``."""
    if "idx" not in meta:
        return ""
    return f"{meta.get('classification', '')}_{meta['idx']}"
