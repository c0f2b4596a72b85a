"""TRL stepwise-supervision reader and writer (docs/concepts.md §2, "TRL stepwise supervision").

The dataset shape TRL's ``PRMTrainer`` consumes, one example per line::

    {"prompt": str, "completions": [str, ...], "labels": [bool, ...]}

``completions`` are the steps of one solution and ``labels`` says, step by step, whether it is
correct; both lists have the same length.

Rules (decisions where docs/concepts.md §2 is silent):

* **Step separator**: the trace text is the completions joined by the separator, ``"\\n"`` by
  default as in TRL's ``PRMConfig.step_separator``; ``make_parser(step_separator)`` builds a reader
  for another one (``import_traces --step-separator``).
* **Labels** (source ``import:trl``): ``true`` → +1, ``false`` → −1; anything else is a
  FormatError (TRL labels are booleans). ``first_error`` is the first step labeled false, else −1.
* There is no generator, reference answer or final-answer verdict in the format: ``model_name`` is
  ``"unknown"``, ``is_correct`` None (the answer is graded from the text only when a reference is
  added later).
* Any other field (``id``, ``source``, … as PRM datasets carry them) is kept in
  ``meta["extra_fields"]``.

``render_trl`` is the exporter's half: from a prompt, step texts and ±1 labels it writes the line.
"""

from __future__ import annotations

from typing import Any

from traces.formats.base import (
    FormatError,
    ParsedStep,
    ParsedTrace,
    RecordParser,
    expect_str,
    extra_fields,
    json_type,
    require_list,
    require_str,
)

NAME = "trl"
#: What the format is, in one line (the import page's format choice).
DESCRIPTION = "TRL stepwise supervision: prompt, completions as steps, true/false labels"
LABEL_SOURCE = "import:trl"
DEFAULT_STEP_SEPARATOR = "\n"

_KNOWN = frozenset({"prompt", "completions", "labels"})


def _labels(record: dict[str, Any], step_count: int, line_no: int) -> list[int]:
    raw = require_list(record, "labels", line_no)
    if len(raw) != step_count:
        raise FormatError(f"has {len(raw)} labels for {step_count} completions", line_no=line_no, field="labels")
    labels = []
    for i, value in enumerate(raw):
        if not isinstance(value, bool):
            raise FormatError(f"expected true or false, got {json_type(value)}", line_no=line_no, field=f"labels[{i}]")
        labels.append(1 if value else -1)
    return labels


def make_parser(step_separator: str = DEFAULT_STEP_SEPARATOR) -> RecordParser:
    """A TRL record reader that joins the completions with ``step_separator``."""

    def parse_record(record: dict[str, Any], line_no: int) -> list[ParsedTrace]:
        """Read one TRL stepwise-supervision line (docs/concepts.md §2) into one trace with ±1 step labels."""
        prompt = require_str(record, "prompt", line_no)
        raw = require_list(record, "completions", line_no)
        completions = [expect_str(step, line_no, f"completions[{i}]") for i, step in enumerate(raw)]
        if not completions:
            raise FormatError("must have at least one step", line_no=line_no, field="completions")
        labels = _labels(record, len(completions), line_no)
        meta: dict[str, Any] = {}
        if extra := extra_fields(record, _KNOWN):
            meta["extra_fields"] = extra
        return [
            ParsedTrace(
                line_no=line_no,
                prompt=prompt,
                text=step_separator.join(completions),
                steps=[ParsedStep(text=text, label=label) for text, label in zip(completions, labels)],
                step_separator=step_separator,
                first_error=next((i for i, label in enumerate(labels) if label == -1), -1),
                label_source=LABEL_SOURCE,
                meta=meta,
            )
        ]

    return parse_record


parse_record = make_parser()


def render_trl(prompt: str, step_texts: list[str], labels: list[int | None]) -> dict[str, Any]:
    """A TRL stepwise-supervision line from a trace's steps (docs/concepts.md §2 export).

    Every label must be +1 or −1: the export's label policy (how 0 and unrated steps map,
    truncation after the first error) is applied before. Raises ValueError otherwise, or when there
    are no steps or the counts differ.
    """
    if not step_texts:
        raise ValueError("a TRL example needs at least one step")
    if len(step_texts) != len(labels):
        raise ValueError(f"{len(step_texts)} steps but {len(labels)} labels")
    flags = []
    for i, label in enumerate(labels):
        if isinstance(label, bool) or label not in (1, -1):
            raise ValueError(f"step {i}: TRL labels are +1 or -1, got {label!r}")
        flags.append(label == 1)
    return {"prompt": prompt, "completions": list(step_texts), "labels": flags}
