"""TRL stepwise-supervision reader and writers (docs/concepts.md §2, "TRL stepwise supervision").

The dataset shape of TRL's PRM trainer, up to TRL 1.13.0 (there ``trl.experimental.prm.PRMTrainer``;
later releases have none), one example per line::

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
The exports (``EXPORTS``: ``trl`` as JSONL, ``trl_parquet``) write the labelled prefix of each trace
under the policy: the example ends before its first unlabelled step (TRL needs a label per step).
The trainer appends ``step_separator`` to every completion when it tokenizes
(``PRMTrainer.tokenize_row``), so each completion is the step text with the whitespace and
separators at its end removed: the separator is never doubled, and ``"".join(c + sep for c in
completions)`` is what the trainer reads.
"""

from __future__ import annotations

from typing import Any

from traces.exports.policy import LabelPolicy
from traces.exports.records import (
    ExportFormat,
    ExportTrace,
    FormatOption,
    RenderSettings,
    labelled_prefix_or_skip,
    signs,
)
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


#: The separator the trainer appends to each step (``PRMConfig.step_separator``).
STEP_SEPARATOR_OPTION = FormatOption(
    "step_separator",
    DEFAULT_STEP_SEPARATOR,
    "the separator TRL's PRM trainer appends to each step (PRMConfig.step_separator; default a newline)",
)
#: The columns of TRL's stepwise-supervision dataset and their Arrow types (by name).
COLUMN_TYPES = (("prompt", "string"), ("completions", "list<string>"), ("labels", "list<bool>"))


def trl_completion(text: str, separator: str) -> str:
    """A step as a TRL completion: trailing whitespace and separators removed (TRL appends one)."""
    trimmed = text.rstrip()
    while separator.strip() and trimmed.endswith(separator):
        trimmed = trimmed[: -len(separator)].rstrip()
    return trimmed


def render_trl_record(trace: ExportTrace, policy: LabelPolicy, settings: RenderSettings) -> dict[str, Any]:
    """TRL stepwise supervision ``{prompt, completions, labels}`` of the labelled prefix (module docstring)."""
    steps = labelled_prefix_or_skip(trace, policy)
    separator = settings.value(STEP_SEPARATOR_OPTION)
    texts = [trl_completion(trace.steps[step.position].text, separator) for step in steps]
    return render_trl(trace.prompt, texts, signs(steps))


_TARGET = "TRL stepwise supervision (TRL <= 1.13 PRM trainer)"
EXPORTS = (
    ExportFormat(
        "trl",
        render_trl_record,
        "jsonl",
        f"{_TARGET}, JSONL",
        fields=tuple(name for name, _ in COLUMN_TYPES),
        options=(STEP_SEPARATOR_OPTION,),
    ),
    ExportFormat(
        "trl_parquet", render_trl_record, "parquet", f"{_TARGET}, Parquet", column_types=COLUMN_TYPES, options=(STEP_SEPARATOR_OPTION,)
    ),
)
