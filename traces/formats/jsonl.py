"""thinkscope's own generic JSONL format (docs/concepts.md §2, "Generic JSONL").

One JSON object per line, one trace (completion) per line. Every field but the prompt and the
completion is optional; ``null`` is the same as absent, except that a ``completion`` of ``null`` is
an empty one. Aliases are read in the order listed and the first one present wins (the others are
kept under ``meta.extra_fields``).

=====================  =============================  ====================================================
field                  JSON type                      meaning
=====================  =============================  ====================================================
``prompt``             string, not blank (required)   the problem as given to the model.
  alias ``problem``
``completion``         string or null (required       the model's raw output. The think part may be inline
  aliases ``text``,    unless ``steps`` is given)     (``<think>…</think>``, Sky-T1 markers) or given
  ``output``                                          separately in ``reasoning_content``. ``null``: the
                                                      model returned nothing (an empty completion).
``reasoning_content``  string                         the think part returned separately by an
                                                      OpenAI-compatible server (vLLM ``--reasoning-parser``);
                                                      ``completion`` is then the answer part only.
``reference_answer``   string or number               the reference (ground-truth) answer.
  alias ``answer``
``answer_type``        string                         how to grade it (e.g. ``numeric``, ``math``, ``mc``,
                                                      ``text``); inferred from the answer when absent.
``model``              string or number               the generator's name (default ``"unknown"``).
``source``             string or number               source data set, e.g. ``gsm8k``.
``split``              string or number               its split, e.g. ``test``.
``problem_id``         string or number               the problem's id in its source.
``finish_reason``      string                         ``stop``, ``length`` (truncated) or ``error``; other
                                                      values are stored as ``unknown``.
``think_format``       string                         ``auto`` (default: the import decides it once
                                                      per model, docs/concepts.md §1), ``think_tags``,
                                                      ``think_in_prompt``, ``sky_t1``,
                                                      ``reasoning_content`` or ``none``.
``steps``              array                          the trace's own segmentation: each item a string, or
                                                      an object ``{"text": str, "label": L, "flagged":
                                                      bool|null}``. When given, the stored raw text is the
                                                      steps joined by ``step_separator`` (docs/concepts.md §1: a step is
                                                      a span of the trace), so they should cover the
                                                      completion; ``completion`` defaults to that join.
``labels``             array of L, same length as     one label per step; a step object's own non-null
                       ``steps``                      ``label`` must agree with it.
``step_separator``     string                         what joins the steps (default ``"\\n\\n"``).
``first_error``        integer ≥ −1 or null           0-based index of the first wrong step, −1 = none.
``is_correct``         boolean                        the file's own final-answer verdict.
``meta``               object                         free metadata, stored with the trace.
``sample_index``       integer ≥ 0                    which of the n samples of this problem it is.
``think_tokens``,      integer ≥ 0                    exact token counts from the model's tokenizer (both
``answer_tokens``                                     or neither are used).
``generation_ms``      integer ≥ 0                    generation time.
``logprobs``           array                          per-token logprobs, stored as given.
=====================  =============================  ====================================================

A label ``L`` is −1, 0, +1 (PRM800K semantics: wrong, neutral, correct), ``true`` (= +1),
``false`` (= −1) or ``null`` (unrated). Labels are stored under the source ``import:jsonl``.
Fields not listed above are kept in ``meta["extra_fields"]`` (so ``meta`` must not itself
use that key when the line has unknown fields).

Example::

    {"prompt": "What is 2+3?", "completion": "<think>2+3=5</think>The answer is 5.",
     "reference_answer": "5", "model": "qwen3-0.6b", "source": "demo", "finish_reason": "stop"}
"""

from __future__ import annotations

from typing import Any

from traces.formats.base import (
    FormatError,
    ParsedStep,
    ParsedTrace,
    expect_dict,
    expect_int,
    expect_list,
    expect_optional_bool,
    expect_rating,
    expect_str,
    extra_fields,
    optional_str,
)

NAME = "jsonl"
#: What the format is, in one line (the import page's format choice).
DESCRIPTION = "thinkscope's own: one completion per line (prompt, completion, optional steps and labels)"
LABEL_SOURCE = "import:jsonl"

PROMPT_KEYS = ("prompt", "problem")
COMPLETION_KEYS = ("completion", "text", "output")
ANSWER_KEYS = ("reference_answer", "answer")
THINK_FORMATS = ("auto", "think_tags", "think_in_prompt", "sky_t1", "reasoning_content", "none")
STEP_KEYS = frozenset({"text", "label", "flagged"})
_COUNTS = ("sample_index", "think_tokens", "answer_tokens", "generation_ms")

KNOWN_FIELDS = frozenset(
    {
        *PROMPT_KEYS,
        *COMPLETION_KEYS,
        *ANSWER_KEYS,
        "answer_type",
        "model",
        "source",
        "split",
        "problem_id",
        "reasoning_content",
        "finish_reason",
        "think_format",
        "steps",
        "labels",
        "step_separator",
        "first_error",
        "is_correct",
        "meta",
        "logprobs",
        *_COUNTS,
    }
)


def _first_present(record: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    """The first of ``keys`` whose value is not null (aliases, docs/concepts.md §2 generic JSONL)."""
    for key in keys:
        if record.get(key) is not None:
            return key
    return None


def _nullable_str(record: dict[str, Any], key: str, line_no: int) -> str | None:
    value = record.get(key)
    return None if value is None else expect_str(value, line_no, key)


def _parse_steps(record: dict[str, Any], line_no: int) -> list[ParsedStep] | None:
    """``steps`` (strings or ``{text, label, flagged}``) with ``labels`` applied (docs/concepts.md §2)."""
    raw = record.get("steps")
    raw_labels = record.get("labels")
    if raw is None:
        if raw_labels is not None:
            raise FormatError("labels given without steps", line_no=line_no, field="labels")
        return None
    items = expect_list(raw, line_no, "steps")
    steps: list[ParsedStep] = []
    for i, item in enumerate(items):
        where = f"steps[{i}]"
        if isinstance(item, str):
            steps.append(ParsedStep(text=item))
            continue
        obj = expect_dict(item, line_no, where)
        unknown = sorted(set(obj) - STEP_KEYS)
        if unknown:
            raise FormatError(
                "unknown step field (expected text, label, flagged)", line_no=line_no, field=f"{where}.{unknown[0]}"
            )
        if "text" not in obj:
            raise FormatError("missing required field", line_no=line_no, field=f"{where}.text")
        steps.append(
            ParsedStep(
                text=expect_str(obj["text"], line_no, f"{where}.text"),
                label=expect_rating(obj.get("label"), line_no, f"{where}.label", allow_bool=True),
                flagged=expect_optional_bool(obj.get("flagged"), line_no, f"{where}.flagged"),
            )
        )
    if raw_labels is not None:
        labels = expect_list(raw_labels, line_no, "labels")
        if len(labels) != len(steps):
            raise FormatError(
                f"has {len(labels)} labels for {len(steps)} steps", line_no=line_no, field="labels"
            )
        for i, (step, value) in enumerate(zip(steps, labels)):
            label = expect_rating(value, line_no, f"labels[{i}]", allow_bool=True)
            if step.label is not None and label is not None and step.label != label:
                raise FormatError(
                    f"{label} contradicts steps[{i}].label {step.label}", line_no=line_no, field=f"labels[{i}]"
                )
            if label is not None:
                step.label = label
    return steps


def parse_record(record: dict[str, Any], line_no: int) -> list[ParsedTrace]:
    """Read one generic-JSONL line (docs/concepts.md §2) into one trace; see the module docstring for fields."""
    prompt_key = _first_present(record, PROMPT_KEYS)
    if prompt_key is None:
        raise FormatError("missing required field", line_no=line_no, field="prompt")
    prompt = expect_str(record[prompt_key], line_no, prompt_key, allow_empty=False)

    step_separator = record.get("step_separator")
    separator = "\n\n" if step_separator is None else expect_str(step_separator, line_no, "step_separator")
    steps = _parse_steps(record, line_no)

    completion_key = _first_present(record, COMPLETION_KEYS)
    if completion_key is not None:
        text = expect_str(record[completion_key], line_no, completion_key)
    elif steps is not None:
        text = separator.join(step.text for step in steps)
    elif any(key in record for key in COMPLETION_KEYS):
        text = ""  # an explicit null: the model returned nothing
    else:
        raise FormatError("missing required field", line_no=line_no, field="completion")

    answer_key = _first_present(record, ANSWER_KEYS)
    reference_answer = optional_str(record, answer_key, line_no) if answer_key else ""

    reasoning_content = _nullable_str(record, "reasoning_content", line_no)
    think_format = _nullable_str(record, "think_format", line_no)
    if think_format is None:
        think_format = "auto"
    elif think_format not in THINK_FORMATS:
        raise FormatError(f"expected one of {', '.join(THINK_FORMATS)}", line_no=line_no, field="think_format")

    first_error = expect_int(record.get("first_error"), line_no, "first_error", nullable=True)
    if first_error is not None and (first_error < -1 or (steps is not None and first_error >= len(steps))):
        bound = f" and < {len(steps)} (the number of steps)" if steps is not None else ""
        raise FormatError(f"must be ≥ -1{bound}, got {first_error}", line_no=line_no, field="first_error")

    counts: dict[str, int | None] = {}
    for key in _COUNTS:
        value = expect_int(record.get(key), line_no, key, nullable=True)
        if value is not None and value < 0:
            raise FormatError(f"must be ≥ 0, got {value}", line_no=line_no, field=key)
        counts[key] = value

    logprobs = record.get("logprobs")
    if logprobs is not None:
        expect_list(logprobs, line_no, "logprobs")

    raw_meta = record.get("meta")
    meta = dict(expect_dict(raw_meta, line_no, "meta")) if raw_meta is not None else {}
    # Unknown fields, and aliases that lost to an earlier one, are kept rather than dropped.
    used = {prompt_key, completion_key, answer_key}
    unused_aliases = {key for key in (*PROMPT_KEYS, *COMPLETION_KEYS, *ANSWER_KEYS) if key not in used}
    unknown = {
        key: value
        for key, value in extra_fields(record, KNOWN_FIELDS - unused_aliases).items()
        if key not in unused_aliases or value is not None
    }
    if unknown:
        if "extra_fields" in meta:
            raise FormatError(
                "meta.extra_fields is reserved for the line's unknown fields", line_no=line_no, field="meta.extra_fields"
            )
        meta["extra_fields"] = unknown

    model = optional_str(record, "model", line_no)
    return [
        ParsedTrace(
            line_no=line_no,
            prompt=prompt,
            text=text,
            model_name=model or "unknown",
            reference_answer=reference_answer,
            answer_type=_nullable_str(record, "answer_type", line_no) or None,
            source=optional_str(record, "source", line_no),
            split=optional_str(record, "split", line_no),
            problem_id=optional_str(record, "problem_id", line_no),
            reasoning_content=reasoning_content,
            steps=steps,
            step_separator=separator,
            first_error=first_error,
            finish_reason=_nullable_str(record, "finish_reason", line_no) or "unknown",
            is_correct=expect_optional_bool(record.get("is_correct"), line_no, "is_correct"),
            label_source=LABEL_SOURCE,
            meta=meta,
            sample_index=counts["sample_index"],
            think_tokens=counts["think_tokens"],
            answer_tokens=counts["answer_tokens"],
            generation_ms=counts["generation_ms"],
            logprobs=logprobs,
            think_format=think_format,
        )
    ]
