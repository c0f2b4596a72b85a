"""One exported record per trace, for every export format of docs/concepts.md §2 ("Exports").

Pure: an ``ExportTrace`` (plain data read by ``traces.exports.query``) and a ``LabelPolicy`` in,
a JSON-ready dict out, or ``SkipTrace`` naming why the trace has no record in that format.

Rules per format (decisions where docs/concepts.md §2 is silent):

* **TRL stepwise** ``{prompt, completions, labels}``: the labelled prefix of the trace under the
  policy (the example ends before its first unlabelled step; TRL needs a label per step). TRL's
  ``PRMTrainer`` appends ``step_separator`` to every completion when it tokenizes, so each
  completion is the step text with the whitespace and separators at its end removed: the
  separator is never doubled, and ``"".join(c + sep for c in completions)`` is what the trainer
  reads.
* **Math-Shepherd** ``{input, label, task}``: the labelled prefix, rendered by
  ``traces.formats.math_shepherd.render_math_shepherd``. Traces imported from Math-Shepherd keep
  their own step text, tag and problem separator (byte-exact round trip); other traces get
  ``"Step k: "`` before each stripped step, and ``task`` is their problem's source in upper case.
* **ProcessBench** ``{id, generator, problem, steps, final_answer_correct, label}``: every step
  kept by the policy; ``label`` is the position of the first step labelled false, −1 when none.
  Unlabelled steps after the first error are kept (ProcessBench leaves them unlabelled); an
  unlabelled step before it leaves the first error undetermined, and the trace is skipped.
  ``id`` is the file's own for traces imported from ProcessBench, else ``thinkscope-<trace id>``.
* **PRM800K** (see ``traces.formats.prm800k``): native −1/0/+1 ratings. A step imported from
  PRM800K is its stored record (every completion with its rating and flag, the human completion,
  ``chosen_completion``) with the path completion's rating and flag set to the policy's where
  they differ; any other step becomes one completion, chosen. The labeller and QC fields,
  ``total_time``, ``finish_reason`` and the question's other fields come back from the import's
  ``meta``; for other traces ``finish_reason`` is ``found_error`` when a step is rated −1, else
  ``solution`` when every step is rated, else null.
* **Flat**: one row per trace (never skipped): trace and problem columns, label counts under the
  policy, ``first_error_step`` (the trace's step index of the first false label; −1 when every
  step is labelled and none is false; null when undetermined), then one column per trace-level
  score, named ``score:<name>:<method>``.

Every format but flat skips a trace with no labelled step; TRL and Math-Shepherd also skip one
whose first step is unlabelled (an empty labelled prefix), under its own reason.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from traces.exports.policy import LabelPolicy, PolicyStep, Rating, SourcedLabel, trace_ratings, trace_steps
from traces.formats import math_shepherd, prm800k, processbench
from traces.formats.math_shepherd import render_math_shepherd
from traces.formats.trl import DEFAULT_STEP_SEPARATOR, render_trl

NO_LABELLED_STEP = "no labelled step"
FIRST_STEP_UNLABELLED = "first step unlabelled (the labelled prefix is empty)"
FIRST_ERROR_UNDETERMINED = "first error undetermined"

#: The flat format's fixed columns, in file order (score columns follow, sorted).
FLAT_COLUMNS = (
    "trace_id",
    "problem_id",
    "problem_hash",
    "problem_source",
    "problem_external_id",
    "model",
    "run_id",
    "sample_index",
    "finish_reason",
    "is_correct",
    "final_answer",
    "think_tokens",
    "answer_tokens",
    "generation_ms",
    "step_count",
    "labelled_steps",
    "positive_steps",
    "negative_steps",
    "first_error_step",
)


class SkipTrace(Exception):
    """A trace that has no record in the format; the message is the reason counted in the manifest."""


class ExportStep(NamedTuple):
    """One step of the trace's current segmentation, with its labels from every source
    (a named tuple: an export builds one per step)."""

    step_index: int
    text: str
    labels: tuple[SourcedLabel, ...] = ()
    alternatives: dict[str, Any] | list[Any] | None = None  # PRM800K: the step's stored record


@dataclass(frozen=True)
class ExportTrace:
    """Everything an export reads of one trace: plain data, no ORM objects."""

    id: int
    prompt: str
    reference_answer: str
    problem_id: int
    problem_hash: str
    model: str
    run_id: int
    steps: tuple[ExportStep, ...]
    source_format: str = ""  # the format of the import it came from; "" for generated traces
    problem_source: str = ""
    problem_external_id: str = ""
    problem_meta: dict[str, Any] = field(default_factory=dict)
    sample_index: int = 0
    finish_reason: str = "unknown"
    is_correct: bool | None = None
    final_answer: str = ""
    think_tokens: int = 0
    answer_tokens: int = 0
    generation_ms: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)  # score column → value


@dataclass(frozen=True)
class RenderSettings:
    """Options of the renderers beyond the label policy."""

    step_separator: str = DEFAULT_STEP_SEPARATOR  # TRL
    score_columns: tuple[str, ...] = ()  # flat


Renderer = Callable[[ExportTrace, LabelPolicy, RenderSettings], dict[str, Any]]


def score_column(name: str, method: str) -> str:
    """The flat column of a trace-level score."""
    return f"score:{name}:{method}"


def labels_per_step(trace: ExportTrace) -> list[tuple[SourcedLabel, ...]]:
    """The labels of each step of the trace, in step order."""
    return [step.labels for step in trace.steps]


def labelled_prefix(steps: Sequence[PolicyStep]) -> list[PolicyStep]:
    """The steps before the first unlabelled one."""
    prefix = []
    for step in steps:
        if step.label is None:
            break
        prefix.append(step)
    return prefix


def _labelled_prefix_or_skip(trace: ExportTrace, policy: LabelPolicy) -> list[PolicyStep]:
    """The labelled prefix, or a skip that says whether any step is labelled at all (a trace
    labelled only on its last step has none to give, and its author should know why)."""
    steps = trace_steps(policy, labels_per_step(trace))
    prefix = labelled_prefix(steps)
    if not prefix:
        raise SkipTrace(FIRST_STEP_UNLABELLED if any(step.label is not None for step in steps) else NO_LABELLED_STEP)
    return prefix


def _signs(steps: Sequence[PolicyStep]) -> list[int | None]:
    return [1 if step.label else -1 for step in steps]


def trl_completion(text: str, separator: str) -> str:
    """A step as a TRL completion: trailing whitespace and separators removed (TRL appends one)."""
    trimmed = text.rstrip()
    while separator.strip() and trimmed.endswith(separator):
        trimmed = trimmed[: -len(separator)].rstrip()
    return trimmed


def render_trl_record(trace: ExportTrace, policy: LabelPolicy, settings: RenderSettings) -> dict[str, Any]:
    """TRL stepwise supervision ``{prompt, completions, labels}`` (module docstring)."""
    steps = _labelled_prefix_or_skip(trace, policy)
    texts = [trl_completion(trace.steps[step.position].text, settings.step_separator) for step in steps]
    return render_trl(trace.prompt, texts, _signs(steps))


def numbered_steps(texts: Sequence[str]) -> list[str]:
    """Math-Shepherd step text for steps that lack it: ``"Step k: "`` before each stripped step."""
    return [f"Step {k}: {text.strip()}" for k, text in enumerate(texts, start=1)]


def render_math_shepherd_record(trace: ExportTrace, policy: LabelPolicy, settings: RenderSettings) -> dict[str, Any]:
    """Math-Shepherd ``{input, label, task}`` (module docstring)."""
    steps = _labelled_prefix_or_skip(trace, policy)
    texts = [trace.steps[step.position].text for step in steps]
    if trace.source_format == math_shepherd.NAME:
        meta = trace.meta
    else:
        texts = numbered_steps(texts)
        meta = {"task": trace.problem_source.upper()}
    return render_math_shepherd(trace.prompt, texts, _signs(steps), meta)


def first_error_position(steps: Sequence[PolicyStep]) -> int | None:
    """Position of the first step labelled false; −1 when none is and every step is labelled;
    None when an unlabelled step comes before any false one (the first error is undetermined)."""
    for position, step in enumerate(steps):
        if step.label is None:
            return None
        if step.label is False:
            return position
    return processbench.NO_ERROR


def render_processbench_record(trace: ExportTrace, policy: LabelPolicy, settings: RenderSettings) -> dict[str, Any]:
    """ProcessBench ``{id, generator, problem, steps, final_answer_correct, label}`` (module docstring)."""
    steps = trace_steps(policy, labels_per_step(trace))
    if all(step.label is None for step in steps):
        raise SkipTrace(NO_LABELLED_STEP)
    label = first_error_position(steps)
    if label is None:
        raise SkipTrace(FIRST_ERROR_UNDETERMINED)
    from_processbench = trace.source_format == processbench.NAME and "id" in trace.meta
    return {
        "id": str(trace.meta["id"]) if from_processbench else f"thinkscope-{trace.id}",
        "generator": trace.model,
        "problem": trace.prompt,
        "steps": [trace.steps[step.position].text for step in steps],
        "final_answer_correct": trace.is_correct,
        "label": label,
    }


def prm800k_step(step: ExportStep, rating: Rating | None) -> dict[str, Any]:
    """One ``label.steps[i]`` record (module docstring)."""
    alternatives = step.alternatives
    if isinstance(alternatives, dict) and "completions" in alternatives:
        record = copy.deepcopy(alternatives)
        taken = prm800k.path_completion(record)
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
    ratings = trace_ratings(policy, labels_per_step(trace))
    if all(rating is None for rating in ratings):
        raise SkipTrace(NO_LABELLED_STEP)
    meta = trace.meta if trace.source_format == prm800k.NAME else {}
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
    top = {key: meta[key] for key in prm800k.TOP_FIELDS if key in meta}
    return {**meta.get("extra_fields", {}), **top, "question": question, "label": label}


def render_flat_record(trace: ExportTrace, policy: LabelPolicy, settings: RenderSettings) -> dict[str, Any]:
    """One flat row: trace columns, label counts under the policy, scores (module docstring)."""
    steps = trace_steps(policy, labels_per_step(trace))
    first_error = next((step.position for step in steps if step.label is False), None)
    if first_error is None and all(step.label is not None for step in steps) and trace.steps:
        first_error = processbench.NO_ERROR
    row: dict[str, Any] = {
        "trace_id": trace.id,
        "problem_id": trace.problem_id,
        "problem_hash": trace.problem_hash,
        "problem_source": trace.problem_source,
        "problem_external_id": trace.problem_external_id,
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
