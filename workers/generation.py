"""Generate the traces of a Run (SPEC §1 Run, Trace): problems in, stored traces out.

Two layers:

* Pure glue, no ORM and no torch: :func:`build_prompt` turns a problem into a :class:`ChatPrompt`,
  :func:`completion_to_parsed` turns a backend's :class:`Completion` into a
  :class:`~traces.formats.base.ParsedTrace`, the shape every new trace takes before it is stored.
* The run loop, :func:`generate_run`: asks a backend for completions a few prompts at a time, hands
  each batch to ``traces.actions.store.store_traces`` (the writer path imports use too, STYLE.md §4,
  so generated traces get steps, extracted answers and correctness the same way) and keeps the Run
  row's status, progress, token count and timings current after every batch. A Run is resumable:
  :func:`missing_samples` lists what it still lacks, so an interrupted run continues where it
  stopped and a complete one costs nothing.

Nothing here imports torch: the caller builds the backend (``workers.backends.transformers``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.db import transaction
from django.utils import timezone

from traces.actions.store import store_traces
from traces.analysis.think import ThinkFormat, split_think
from traces.formats.base import ParsedTrace
from traces.models import LanguageModel, Run, RunStatus, Trace
from workers.backends.base import ChatPrompt, Completion, GenerationBackend, SamplingParams

#: The instruction for the embedded default model. SmolLM2-135M does not use think delimiters even
#: when asked to (MODELS.md), so the prompt asks only for a final line that answer extraction reads
#: ("the answer is …", SPEC §3.2). A tiny model follows it only sometimes: a completion that does
#: not is stored as generated, and graded "no answer" — a format the model did not follow is data.
DEFAULT_SYSTEM_PROMPT = (
    "Solve the math word problem step by step. End with a line 'The answer is N.' where N is a number."
)

#: The think delimiters of completions answering :data:`DEFAULT_SYSTEM_PROMPT`: none, the whole
#: completion is the answer part (``LanguageModel.think_format``, SPEC §1 Trace).
THINK_FORMAT = "none"


class ProblemLike(Protocol):
    """The fields of a problem a trace needs (``DemoProblem``, or a stored Problem adapted)."""

    @property
    def prompt(self) -> str: ...

    @property
    def answer(self) -> str: ...

    @property
    def answer_type(self) -> str: ...

    @property
    def source(self) -> str: ...

    @property
    def problem_id(self) -> str: ...

    @property
    def meta(self) -> Mapping[str, Any]: ...


def build_prompt(problem_prompt: str, system_prompt: str = DEFAULT_SYSTEM_PROMPT) -> ChatPrompt:
    """The chat prompt for one problem: the system instruction, then the problem as the user turn."""
    return ChatPrompt.of(problem_prompt.strip(), system=system_prompt.strip() or None)


def completion_to_parsed(
    problem: ProblemLike,
    completion: Completion,
    sample_index: int,
    model_name: str,
    *,
    count_tokens: Callable[[str], int] | None = None,
    think_format: str = THINK_FORMAT,
    meta: Mapping[str, Any] | None = None,
) -> ParsedTrace:
    """One completion as a ``ParsedTrace`` (SPEC §1 Trace).

    ``count_tokens`` is the model's exact tokenizer count: when given, the think and answer parts
    (split as the storing action will split them) are counted with it and the trace is stored as
    ``tokens_exact``; without it the storing action estimates. ``meta`` lands in ``Trace.meta``
    (and in the trace's content hash: pass the run id to keep two runs' identical texts apart).
    """
    if completion.reasoning_content is not None:
        think_format = "reasoning_content"
    think_tokens, answer_tokens = _part_tokens(completion, think_format, count_tokens)
    return ParsedTrace(
        line_no=0,
        prompt=problem.prompt,
        text=completion.text,
        model_name=model_name,
        reference_answer=problem.answer,
        answer_type=problem.answer_type or None,
        source=problem.source,
        problem_id=problem.problem_id,
        problem_meta=dict(problem.meta),
        reasoning_content=completion.reasoning_content,
        finish_reason=completion.finish_reason,
        meta={
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            **dict(meta or {}),
        },
        sample_index=sample_index,
        think_tokens=think_tokens,
        answer_tokens=answer_tokens,
        generation_ms=round(completion.seconds * 1000),
        logprobs=completion.logprobs,
        think_format=think_format,
    )


def _part_tokens(
    completion: Completion, think_format: str, count_tokens: Callable[[str], int] | None
) -> tuple[int | None, int | None]:
    """Exact (think, answer) token counts, or (None, None) when no tokenizer is at hand."""
    if count_tokens is None:
        return None, None
    if completion.reasoning_content is not None:
        return count_tokens(completion.reasoning_content), count_tokens(completion.text)
    split = split_think(completion.text, _think_format(think_format))
    text = completion.text
    return (
        count_tokens(text[split.think_start : split.think_end]),
        count_tokens(text[split.answer_start : split.answer_end]),
    )


def _think_format(name: str) -> ThinkFormat:
    """The delimiters the storing action splits ``text`` with (``trace_builder.think_spans``): a
    ``reasoning_content`` model whose server sent no reasoning is split by detection."""
    if name == "reasoning_content":
        return "auto"
    if name in ("think_tags", "sky_t1", "none", "auto"):
        return name  # type: ignore[return-value]
    raise ValueError(f"unknown think format {name!r}")


# --- The run loop --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingProblem:
    """A problem of a Run and the sample indices the Run does not hold yet."""

    problem: ProblemLike
    sample_indices: tuple[int, ...]


@dataclass(frozen=True)
class BatchDone:
    """What one batch added, for a progress bar: traces stored, tokens generated, engine seconds."""

    traces: int
    tokens: int
    seconds: float


def missing_samples(run: Run, problems: Sequence[ProblemLike], n: int) -> list[PendingProblem]:
    """The problems that lack some of their ``n`` samples in ``run``, in the given order.

    A problem is known by its ``problem_id`` (``Problem.external_id``), a sample by its index.
    """
    held: dict[str, set[int]] = {}
    for external_id, sample_index in Trace.objects.filter(run=run).values_list("problem__external_id", "sample_index"):
        held.setdefault(external_id, set()).add(sample_index)
    pending = []
    for problem in problems:
        missing = tuple(i for i in range(n) if i not in held.get(problem.problem_id, set()))
        if missing:
            pending.append(PendingProblem(problem, missing))
    return pending


def generate_run(
    run: Run,
    model: LanguageModel,
    backend: GenerationBackend,
    pending: Sequence[PendingProblem],
    params: SamplingParams,
    *,
    prompts_per_batch: int = 8,
    on_batch: Callable[[BatchDone], None] | None = None,
) -> Run:
    """Generate and store the missing samples of ``run``, ``prompts_per_batch`` prompts per call.

    Each batch is stored in its own transaction, so an interrupted run keeps what it finished and
    :func:`missing_samples` resumes it. The Run's status goes running → succeeded (failed or
    cancelled on an error or an interrupt, with the error recorded, then the exception propagates);
    ``progress_done`` counts its stored traces out of ``progress_total``, ``tokens_generated`` the
    completion tokens of every sample the backend returned, and ``report`` the seconds spent in
    the backend and the tokens per second.
    """
    if prompts_per_batch < 1:
        raise ValueError("prompts_per_batch must be at least 1")
    _mark_running(run, sum(len(item.sample_indices) for item in pending))
    try:
        for batch in _batches(pending, prompts_per_batch):
            done = _generate_batch(run, model, backend, batch, params)
            if on_batch is not None:
                on_batch(done)
    except BaseException as error:
        cancelled = isinstance(error, KeyboardInterrupt)
        _mark_finished(run, RunStatus.CANCELLED if cancelled else RunStatus.FAILED, str(error) or type(error).__name__)
        raise
    _mark_finished(run, RunStatus.SUCCEEDED)
    return run


def _batches(pending: Sequence[PendingProblem], size: int) -> Iterator[Sequence[PendingProblem]]:
    for start in range(0, len(pending), size):
        yield pending[start : start + size]


def _generate_batch(
    run: Run,
    model: LanguageModel,
    backend: GenerationBackend,
    batch: Sequence[PendingProblem],
    params: SamplingParams,
) -> BatchDone:
    started = time.perf_counter()
    prompts = [build_prompt(item.problem.prompt, model.system_prompt) for item in batch]
    completions = backend.generate(prompts, params)
    seconds = time.perf_counter() - started
    parsed = [
        completion_to_parsed(
            item.problem,
            samples[index],
            index,
            model.name,
            count_tokens=backend.count_tokens,
            think_format=model.think_format,
            meta={"run_id": run.pk},
        )
        for item, samples in zip(batch, completions, strict=True)
        for index in item.sample_indices
    ]
    tokens = sum(completion.completion_tokens for samples in completions for completion in samples)
    with transaction.atomic():
        stored = store_traces(run.project, run, parsed, model=model)
        run.progress_done = Trace.objects.filter(run=run).count()
        run.tokens_generated += tokens
        engine_seconds = float(run.report.get("engine_seconds", 0.0)) + seconds
        run.report = {
            **run.report,
            "engine_seconds": round(engine_seconds, 2),
            "tokens_per_second": round(run.tokens_generated / engine_seconds, 2) if engine_seconds else None,
        }
        run.save(update_fields=["progress_done", "tokens_generated", "report"])
    return BatchDone(traces=stored.traces_created, tokens=tokens, seconds=seconds)


def _mark_running(run: Run, samples_to_generate: int) -> None:
    run.progress_done = Trace.objects.filter(run=run).count()
    run.progress_total = run.progress_done + samples_to_generate
    run.status = RunStatus.RUNNING
    run.started_at = run.started_at or timezone.now()
    run.finished_at = None
    run.error = ""
    run.save(update_fields=["progress_done", "progress_total", "status", "started_at", "finished_at", "error"])


def _mark_finished(run: Run, status: str, error: str = "") -> None:
    run.status = status
    run.error = error
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error", "finished_at"])
