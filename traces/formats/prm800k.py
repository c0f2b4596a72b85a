"""PRM800K reader (docs/concepts.md §2, "PRM800K"; openai/prm800k ``phase{1,2}_*.jsonl``).

One labeled generation per line::

    {"labeler": str, "timestamp": str, "generation": int|null,
     "is_quality_control_question": bool, "is_initial_screening_question": bool,
     "question": {"problem": str, "ground_truth_answer": str,
                  phase 2 also "ground_truth_solution", "pre_generated_steps",
                  "pre_generated_answer", "pre_generated_verifier_score"},
     "label": {"steps": [{"completions": [{"text": str, "rating": -1|0|1|null,
                                           "flagged": bool|null}, ...],
                          "human_completion": null | {"text": str, "rating": ..., ...},
                          "chosen_completion": int|null}, ...],
               "total_time": int (ms), "finish_reason": found_error|solution|bad_problem|give_up}}

Each line gives one trace whose steps follow the path the labeller actually took. At each step:

1. the completion ``chosen_completion`` points at, when it is an integer;
2. else ``human_completion`` (the labeller wrote the step), when it is set;
3. else the labeller stopped at this step (typically ``found_error``): the first completion rated
   −1, else completion 0.

``ParsedStep.text``/``label``/``flagged`` are that completion's text, rating and flag, and
``human_written`` says the path took the human completion (rule 2: a person's text, which PRM800K
leaves unrated; the export policy's ``human_completion`` says what it becomes); its
``alternatives`` is the step's whole raw record (every completion with its rating and flag, the
human completion and ``chosen_completion``), so a PRM800K-shaped export loses nothing. The trace
text is the steps joined by ``"\\n\\n"``.

Decisions:

* ``model_name`` is ``"prm800k-gen-<generation>"`` when ``generation`` is an integer (phase 2,
  e.g. ``prm800k-gen-6``: PRM800K's generator checkpoint number), else ``"prm800k-generator"``
  (phase 1 has ``generation: null``).
* ``is_correct`` is None: the label has no final-answer grading (phase 2's
  ``pre_generated_answer``/``pre_generated_verifier_score`` are kept in ``meta``).
* ``first_error`` is the index of the first path step rated −1; −1 ("no error") when there is none
  and ``finish_reason`` is ``solution``; None otherwise (give_up, bad_problem: undecided).
* ``meta`` holds the line's labelling fields (``labeler``, ``timestamp``, ``generation``,
  ``is_quality_control_question``, ``is_initial_screening_question``, ``total_time``,
  ``finish_reason``, the question's ``pre_generated_*``) under their PRM800K names, plus
  ``extra_fields``/``label_extra_fields`` for unknown keys of the line/of ``label``;
  ``problem_meta`` holds the question's other fields (``ground_truth_solution``, …). With
  ``prompt``, ``reference_answer`` and the steps' ``alternatives`` that rebuilds the line.
* ``completions`` may be ``null`` (a phase-1 step where the labeller gave up and wrote the step by
  hand): it means no completions were offered, as an empty list does; the step follows its
  ``human_completion``, and its raw record keeps the ``null``.
* ``source`` is ``"prm800k"``; labels are stored under ``import:prm800k``. A line's source id
  (the flat export's ``source_id``) is ``"<labeler>/<timestamp>"``: one labelling session.

The export (``EXPORTS``: ``prm800k``) writes native −1/0/+1 ratings. A step imported from PRM800K
is its stored record (every completion with its rating and flag, the human completion,
``chosen_completion``) with the path completion's rating and flag set to the policy's where they
differ; any other step becomes one completion, chosen. The labeller and QC fields,
``total_time``, ``finish_reason`` and the question's other fields come back from the import's
``meta``; for other traces ``finish_reason`` is ``found_error`` when a step is rated −1, else
``solution`` when every step is rated, else null.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from traces.exports.policy import LabelPolicy, Rating
from traces.exports.records import (
    NO_LABELLED_STEP,
    ExportFormat,
    ExportStep,
    ExportTrace,
    RenderSettings,
    SkipTrace,
    policy_ratings,
)
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
    json_type,
)

NAME = "prm800k"
#: What the format is, in one line (the import page's format choice).
DESCRIPTION = "OpenAI PRM800K: a labelled step-by-step solution per line, with every rated alternative"
LABEL_SOURCE = "import:prm800k"
FINISH_REASONS = ("found_error", "solution", "bad_problem", "give_up")
STEP_SEPARATOR = "\n\n"
DEFAULT_MODEL = "prm800k-generator"

TOP_FIELDS = ("labeler", "timestamp", "generation", "is_quality_control_question", "is_initial_screening_question")
_KNOWN_TOP = frozenset({*TOP_FIELDS, "question", "label"})
_KNOWN_LABEL = frozenset({"steps", "total_time", "finish_reason"})


def _require(obj: dict[str, Any], key: str, line_no: int, where: str) -> Any:
    if key not in obj:
        raise FormatError("missing required field", line_no=line_no, field=f"{where}{key}")
    return obj[key]


def _nullable_str(value: Any, line_no: int, field: str) -> str | None:
    return None if value is None else expect_str(value, line_no, field)


def _number_or_null(value: Any, line_no: int, field: str) -> int | float | None:
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return value
    raise FormatError(f"expected a number or null, got {json_type(value)}", line_no=line_no, field=field)


def _answer(value: Any, line_no: int, field: str) -> str:
    """``ground_truth_answer``: a string (numbers are accepted and stringified; null is "")."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return expect_str(value, line_no, field)


def _completion(value: Any, line_no: int, field: str) -> dict[str, Any]:
    """A completion (or human completion) object: ``text`` str, ``rating`` −1/0/1/null, ``flagged``."""
    obj = expect_dict(value, line_no, field)
    expect_str(_require(obj, "text", line_no, f"{field}."), line_no, f"{field}.text")
    expect_rating(obj.get("rating"), line_no, f"{field}.rating")
    expect_optional_bool(obj.get("flagged"), line_no, f"{field}.flagged")
    return obj


def path_completion(step: dict[str, Any]) -> dict[str, Any] | None:
    """The completion (or human completion) a checked ``label.steps[i]`` record's path took, by
    rules 1–3 of the module docstring; None when the step offers none. The exporter uses it too."""
    chosen = step.get("chosen_completion")
    completions = step.get("completions") or []
    if chosen is not None:
        taken: dict[str, Any] = completions[chosen]
        return taken
    if step.get("human_completion") is not None:
        human: dict[str, Any] = step["human_completion"]
        return human
    return next((c for c in completions if c.get("rating") == -1), completions[0]) if completions else None


def parse_step(raw: Any, line_no: int, where: str) -> ParsedStep:
    """One ``label.steps[i]`` record → the step on the labeller's path (see module docstring)."""
    step = expect_dict(raw, line_no, where)
    offered = _require(step, "completions", line_no, f"{where}.")
    # null: no completions were offered (see the module docstring).
    completions = [] if offered is None else expect_list(offered, line_no, f"{where}.completions")
    checked = [_completion(c, line_no, f"{where}.completions[{j}]") for j, c in enumerate(completions)]
    if step.get("human_completion") is not None:
        _completion(step["human_completion"], line_no, f"{where}.human_completion")
    chosen = expect_int(step.get("chosen_completion"), line_no, f"{where}.chosen_completion", nullable=True)
    if chosen is not None and not 0 <= chosen < len(checked):
        raise FormatError(
            f"{chosen} is not the index of one of the {len(checked)} completions",
            line_no=line_no,
            field=f"{where}.chosen_completion",
        )
    taken = path_completion(step)
    if taken is None:
        raise FormatError(
            "no completion to follow (empty, and neither chosen_completion nor human_completion)",
            line_no=line_no,
            field=f"{where}.completions",
        )
    return ParsedStep(
        text=taken["text"],
        label=taken.get("rating"),
        flagged=taken.get("flagged"),
        alternatives=step,
        human_written=taken is step.get("human_completion"),
    )


def parse_record(record: dict[str, Any], line_no: int) -> list[ParsedTrace]:
    """Read one PRM800K line (docs/concepts.md §2) into one trace along the labeller's path."""
    question = expect_dict(_require(record, "question", line_no, ""), line_no, "question")
    prompt = expect_str(_require(question, "problem", line_no, "question."), line_no, "question.problem", allow_empty=False)
    reference_answer = _answer(question.get("ground_truth_answer"), line_no, "question.ground_truth_answer")

    meta: dict[str, Any] = {}
    for key in ("labeler", "timestamp"):
        if key in record:
            meta[key] = _nullable_str(record[key], line_no, key)
    generation = expect_int(record.get("generation"), line_no, "generation", nullable=True)
    if "generation" in record:
        meta["generation"] = generation
    for key in ("is_quality_control_question", "is_initial_screening_question"):
        if key in record:
            meta[key] = expect_optional_bool(record[key], line_no, key)

    problem_meta: dict[str, Any] = {}
    for key, value in question.items():
        if key in ("problem", "ground_truth_answer"):
            continue
        field = f"question.{key}"
        if key == "ground_truth_solution":
            _nullable_str(value, line_no, field)
        elif key == "pre_generated_steps" and value is not None:
            for i, item in enumerate(expect_list(value, line_no, field)):
                expect_str(item, line_no, f"{field}[{i}]")
        elif key == "pre_generated_answer":
            _nullable_str(value, line_no, field)
        elif key == "pre_generated_verifier_score":
            _number_or_null(value, line_no, field)
        (meta if key.startswith("pre_generated_") else problem_meta)[key] = value

    label = expect_dict(_require(record, "label", line_no, ""), line_no, "label")
    raw_steps = expect_list(_require(label, "steps", line_no, "label."), line_no, "label.steps")
    steps = [parse_step(raw, line_no, f"label.steps[{i}]") for i, raw in enumerate(raw_steps)]
    if "total_time" in label:
        meta["total_time"] = _number_or_null(label["total_time"], line_no, "label.total_time")
    finish_reason = _nullable_str(label.get("finish_reason"), line_no, "label.finish_reason")
    if finish_reason is not None and finish_reason not in FINISH_REASONS:
        raise FormatError(
            f"expected one of {', '.join(FINISH_REASONS)}, got {finish_reason[:40]!r}",
            line_no=line_no,
            field="label.finish_reason",
        )
    if "finish_reason" in label:
        meta["finish_reason"] = finish_reason

    if extra := extra_fields(record, _KNOWN_TOP):
        meta["extra_fields"] = extra
    if label_extra := extra_fields(label, _KNOWN_LABEL):
        meta["label_extra_fields"] = label_extra

    first_error = next((i for i, step in enumerate(steps) if step.label == -1), None)
    if first_error is None and finish_reason == "solution":
        first_error = -1

    return [
        ParsedTrace(
            line_no=line_no,
            prompt=prompt,
            text=STEP_SEPARATOR.join(step.text for step in steps),
            model_name=DEFAULT_MODEL if generation is None else f"prm800k-gen-{generation}",
            reference_answer=reference_answer,
            source="prm800k",
            problem_meta=problem_meta,
            steps=steps,
            step_separator=STEP_SEPARATOR,
            first_error=first_error,
            is_correct=None,
            label_source=LABEL_SOURCE,
            meta=meta,
        )
    ]


def source_id(meta: dict[str, Any]) -> str:
    """``"<labeler>/<timestamp>"`` of an imported line; "" when either is missing."""
    labeler, timestamp = meta.get("labeler"), meta.get("timestamp")
    return f"{labeler}/{timestamp}" if labeler and timestamp else ""


def prm800k_step(step: ExportStep, rating: Rating | None) -> dict[str, Any]:
    """One ``label.steps[i]`` record (module docstring)."""
    alternatives = step.alternatives
    if isinstance(alternatives, dict) and "completions" in alternatives:
        record = copy.deepcopy(alternatives)
        taken = path_completion(record)
        if taken is not None and rating is not None:
            if taken.get("rating") != rating.value:
                taken["rating"] = rating.value
            if rating.flagged is not None and taken.get("flagged") != rating.flagged:
                taken["flagged"] = rating.flagged
        return record
    completion = {
        "text": step.text,
        "rating": None if rating is None else rating.value,
        "flagged": None if rating is None else rating.flagged,
    }
    return {"completions": [completion], "human_completion": None, "chosen_completion": 0}


def _derived_finish_reason(ratings: Sequence[Rating | None]) -> str | None:
    if any(rating is not None and rating.value == -1 for rating in ratings):
        return "found_error"
    return "solution" if all(rating is not None for rating in ratings) else None


def render_prm800k_record(trace: ExportTrace, policy: LabelPolicy, settings: RenderSettings) -> dict[str, Any]:
    """A PRM800K-shaped line (module docstring)."""
    ratings = policy_ratings(trace, policy)
    if all(rating is None for rating in ratings):
        raise SkipTrace(NO_LABELLED_STEP)
    meta = trace.meta if trace.source_format == NAME else {}
    question: dict[str, Any] = {"problem": trace.prompt, "ground_truth_answer": trace.reference_answer}
    if meta:
        question.update(trace.problem_meta)
        question.update({key: value for key, value in meta.items() if key.startswith("pre_generated_")})
    label: dict[str, Any] = {
        "steps": [prm800k_step(trace.steps[i], rating) for i, rating in enumerate(ratings)],
        "total_time": meta.get("total_time"),
        "finish_reason": meta["finish_reason"] if "finish_reason" in meta else _derived_finish_reason(ratings),
        **meta.get("label_extra_fields", {}),
    }
    top = {key: meta[key] for key in TOP_FIELDS if key in meta}
    return {**meta.get("extra_fields", {}), **top, "question": question, "label": label}


EXPORTS = (
    ExportFormat(
        NAME,
        render_prm800k_record,
        "jsonl",
        "PRM800K-shaped JSONL (every alternative completion with its rating and flag)",
        fields=(*TOP_FIELDS, "question", "label"),
        alternatives=True,
    ),
)
