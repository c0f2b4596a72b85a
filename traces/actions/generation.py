"""Generation runs (docs/concepts.md §1 Run): start, generate in chunks, cancel and resume.

A generation Run is model × problems × ``n`` samples. :func:`do_start_generation` validates the
request, writes the Run (its problems and sampling parameters in ``params``) and, once that is
committed, queues one `gpu` task per chunk of problems (:func:`enqueue_missing_chunks`).

Each chunk task calls :func:`generate_chunk`, which is idempotent: it generates only the samples the
Run does not hold yet (:func:`missing_samples`; a trace is unique per run, problem and sample
index), stores each batch in its own transaction through ``store_traces`` (the writer path imports
use too), and re-reads the Run's status before every batch and after every engine
batch inside it (``LiveProgress``, which also shows the engine's progress on the job page), so a
cancelled run stops within an engine batch and stores nothing of the batch it left. A task redelivered after its worker was killed therefore finishes the
chunk without duplicating a trace; a cancelled or failed run is resumed by queueing its missing
chunks again. Each chunk queues the analysis of what it stored (docs/concepts.md §3); the last
chunk to finish marks the run succeeded.

:func:`generate_run` is the synchronous form of the same loop for one process that holds its own
backend (``manage.py demo`` with its progress bar).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from traces import jobs
from traces.actions.models import why_model_cannot_generate
from traces.actions.runs import (
    ACTIVE,
    DATABASE_GONE,
    LiveProgress,
    RunCancelled,
    error_text,
    fail_run,
    is_stopped,
    mark_finished,
    mark_started,
    without_engine,
)
from traces.actions.store import store_traces
from traces.backends import BackendUnavailable, GenerationBackend, ProgressCallback, SamplingParams
from traces.generation import ProblemLike, build_prompt, completion_to_parsed
from traces.models import LanguageModel, Problem, Project, Run, RunKind, RunStatus, Trace
from traces.trace_builder import problem_hash

#: Problems per `gpu` task: small enough that a killed worker loses little work, large enough to
#: keep a batch full (a chunk's prompts go to the backend ``PROMPTS_PER_BATCH`` at a time).
PROBLEMS_PER_CHUNK = 32
PROMPTS_PER_BATCH = 8
#: The largest run one request may start; bigger sweeps are several runs.
MAX_SAMPLES_PER_RUN = 100_000
#: Failures kept in a run's report for the job page (the first ones; the count is always exact).
MAX_FAILURES_SHOWN = 20


class GenerationError(ValueError):
    """A generation request that cannot run; ``field`` names the input that is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class StoredProblem:
    """A stored Problem as the generation glue sees it (``traces.generation.ProblemLike``)."""

    prompt: str
    answer: str
    answer_type: str
    source: str
    problem_id: str
    meta: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, problem: Problem) -> StoredProblem:
        return cls(
            prompt=problem.prompt,
            answer=problem.answer,
            answer_type=problem.answer_type,
            source=problem.source,
            problem_id=problem.external_id,
            meta=problem.meta,
        )


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


# --- Estimating ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """How long a run may take: at most ``tokens`` new tokens at the model's measured rate
    (``tokens_per_second`` over ``runs`` past runs; None when it has not generated yet)."""

    tokens: int
    tokens_per_second: float | None
    runs: int

    @property
    def seconds(self) -> float | None:
        """The longest the run should take (every completion using all its tokens), or None."""
        return self.tokens / self.tokens_per_second if self.tokens_per_second else None

    @property
    def duration(self) -> timedelta | None:
        """:attr:`seconds` as a duration, for pages."""
        return timedelta(seconds=self.seconds) if self.seconds is not None else None

    @property
    def needs_confirmation(self) -> bool:
        """Whether the run may take longer than :data:`CONFIRM_OVER_SECONDS`."""
        return self.seconds is not None and self.seconds > CONFIRM_OVER_SECONDS


#: A run that may take longer than this is only started once its estimate is confirmed.
CONFIRM_OVER_SECONDS = 600


def estimate_run(model: LanguageModel, samples: int, params: SamplingParams) -> Estimate:
    """The most tokens ``samples`` completions may generate with ``params`` and the model's
    measured rate: tokens over engine seconds of its past generation runs."""
    measured = [
        (run.tokens_generated, float(run.report.get("engine_seconds", 0)))
        for run in Run.objects.filter(model=model, kind=RunKind.GENERATION, tokens_generated__gt=0).only(
            "tokens_generated", "report"
        )
    ]
    measured = [(tokens, seconds) for tokens, seconds in measured if seconds > 0]
    seconds = sum(seconds for _, seconds in measured)
    rate = round(sum(tokens for tokens, _ in measured) / seconds, 1) if seconds else None
    per_sample = params.max_new_tokens + (params.think_budget or 0)
    return Estimate(tokens=samples * per_sample, tokens_per_second=rate, runs=len(measured))


# --- Starting, cancelling, resuming --------------------------------------------------------------


def select_problem_ids(
    project: Project, *, source: str = "", problem_ids: Sequence[int] = (), limit: int | None = None
) -> list[int]:
    """The problems a run generates for, in id order: given ids, or a dataset (``source``), or all.

    Raises GenerationError naming the ids that are not problems of ``project``.
    """
    problems = Problem.objects.filter(project=project)
    if problem_ids:
        wanted = list(dict.fromkeys(problem_ids))
        found = set(problems.filter(pk__in=wanted).values_list("pk", flat=True))
        unknown = [pk for pk in wanted if pk not in found]
        if unknown:
            raise GenerationError("problems", f"no problem {unknown[:5]} in project '{project.slug}'")
        return sorted(found)[:limit] if limit else sorted(found)
    if source:
        problems = problems.filter(source=source)
    ids = problems.order_by("pk").values_list("pk", flat=True)
    return list(ids[:limit] if limit else ids)


def do_start_generation(
    project: Project,
    model: LanguageModel,
    problem_ids: Sequence[int],
    params: SamplingParams,
    *,
    name: str = "",
    user: User | None = None,
    enqueue: bool = True,
) -> Run:
    """Create a queued generation Run and queue its chunks once it is committed (``enqueue=False``:
    the caller generates the chunks itself, as ``manage.py generate --here`` does)."""
    if model.project_id != project.pk:
        raise GenerationError("model", f"model '{model.name}' is not a model of project '{project.slug}'")
    refusal = why_model_cannot_generate(model)
    if refusal:
        raise GenerationError("model", refusal)
    if not problem_ids:
        raise GenerationError("problems", "no problems selected: choose a dataset or problem ids")
    total = len(problem_ids) * params.n
    if total > MAX_SAMPLES_PER_RUN:
        raise GenerationError("n", f"{total} samples asked; one run generates at most {MAX_SAMPLES_PER_RUN}")
    with transaction.atomic():
        run = Run.objects.create(
            project=project,
            model=model,
            kind=RunKind.GENERATION,
            name=name or f"{model.name} × {len(problem_ids)} problems",
            n_samples=params.n,
            seed=params.seed,
            params={**params.as_dict(), "problem_ids": list(problem_ids)},
            progress_total=total,
            created_by=user if user is not None and user.is_authenticated else None,
        )
        if enqueue:
            transaction.on_commit(lambda: enqueue_missing_chunks(run.pk))
    return run


def do_cancel_run(run: Run, reason: str = "Cancelled by a user") -> bool:
    """Ask a queued or running run to stop: its chunks stop after the batch in flight, keeping
    every trace they stored; ``reason`` is its error. False when the run had already finished."""
    changed = Run.objects.filter(pk=run.pk, status__in=ACTIVE).update(
        status=RunStatus.CANCELLED, finished_at=timezone.now(), error=reason
    )
    run.refresh_from_db()
    return bool(changed)


def do_resume_run(run: Run) -> bool:
    """Queue the missing chunks of a cancelled or failed generation run again. False when the run
    is not a generation run that stopped early."""
    if run.kind != RunKind.GENERATION:
        return False
    with transaction.atomic():
        changed = Run.objects.filter(pk=run.pk, status__in=(RunStatus.CANCELLED, RunStatus.FAILED)).update(
            status=RunStatus.QUEUED, finished_at=None, error=""
        )
        if changed:
            transaction.on_commit(lambda: enqueue_missing_chunks(run.pk))
    run.refresh_from_db()
    return bool(changed)


def enqueue_missing_chunks(run_id: int) -> int:
    """Queue a `gpu` task per chunk of problems that still lack samples; the number queued."""
    run = Run.objects.get(pk=run_id)
    problems = run_problems(run)
    pending = missing_samples(run, [problem for _, problem in problems], run.n_samples)
    missing = {problem_hash(p.problem.prompt, p.problem.answer) for p in pending}
    ids = [pk for pk, problem in problems if problem_hash(problem.prompt, problem.answer) in missing]
    chunks = chunked(ids)
    for chunk in chunks:
        jobs.enqueue(jobs.GENERATE_CHUNK, run.pk, chunk)
    if not chunks:
        _finish_if_complete(run.pk)
    return len(chunks)


def chunked(problem_ids: Sequence[int]) -> list[list[int]]:
    """The problems of a run split into the chunks one task generates."""
    return [list(problem_ids[i : i + PROBLEMS_PER_CHUNK]) for i in range(0, len(problem_ids), PROBLEMS_PER_CHUNK)]


def run_problems(run: Run, problem_ids: Sequence[int] | None = None) -> list[tuple[int, StoredProblem]]:
    """The run's problems (or the given subset of them) as (id, problem), in id order."""
    ids = run.params.get("problem_ids", []) if problem_ids is None else problem_ids
    rows = Problem.objects.filter(project_id=run.project_id, pk__in=ids).order_by("pk")
    return [(problem.pk, StoredProblem.of(problem)) for problem in rows]


# --- Generating ----------------------------------------------------------------------------------


def generate_chunk(
    run_id: int, problem_ids: Sequence[int], backend_for: Callable[[LanguageModel], GenerationBackend]
) -> int:
    """Generate what ``problem_ids`` of run ``run_id`` lack (a chunk task's body); traces stored.

    Returns quietly (0) when the run is gone or no longer active. BackendUnavailable and a lost
    database connection propagate (the task retries them); any other error fails the run with its
    text, then propagates.
    """
    run = Run.objects.filter(pk=run_id, kind=RunKind.GENERATION).select_related("model", "project").first()
    if run is None or run.status not in ACTIVE or run.model is None:
        return 0
    mark_started(run)
    params = SamplingParams.from_dict(run.params)
    pending = missing_samples(run, [problem for _, problem in run_problems(run, problem_ids)], run.n_samples)
    stored = 0
    try:
        backend = backend_for(run.model)
        for done in _generate_pending(run, run.model, backend, pending, params, PROMPTS_PER_BATCH):
            stored += done.traces
    except RunCancelled:
        pass
    except (BackendUnavailable, *DATABASE_GONE):
        raise
    except Exception as error:
        record_failure(run.pk, problem_ids, error)
        raise
    else:
        _finish_if_complete(run.pk)
    finally:
        if stored:
            _queue_analysis(run.pk)
    return stored


def generate_run(
    run: Run,
    model: LanguageModel,
    backend: GenerationBackend,
    pending: Sequence[PendingProblem],
    params: SamplingParams,
    *,
    prompts_per_batch: int = PROMPTS_PER_BATCH,
    on_batch: Callable[[BatchDone], None] | None = None,
) -> Run:
    """Generate and store the missing samples of ``run`` in this process (``manage.py demo``).

    The Run's status goes running → succeeded (failed or cancelled on an error or an interrupt,
    with the error recorded, then the exception propagates); progress, tokens and engine seconds
    are kept current after each batch, as the chunk tasks keep them.
    """
    run.progress_done = Trace.objects.filter(run=run).count()
    run.progress_total = run.progress_done + sum(len(p.sample_indices) for p in pending)
    run.status = RunStatus.RUNNING
    run.finished_at = None
    run.error = ""
    run.save(update_fields=["progress_done", "progress_total", "status", "finished_at", "error"])
    mark_started(run)
    try:
        for done in _generate_pending(run, model, backend, pending, params, prompts_per_batch):
            if on_batch is not None:
                on_batch(done)
    except BaseException as error:
        cancelled = isinstance(error, KeyboardInterrupt | RunCancelled)
        mark_finished(
            run.pk, RunStatus.CANCELLED if cancelled else RunStatus.FAILED, str(error) or type(error).__name__
        )
        run.refresh_from_db()
        raise
    mark_finished(run.pk, RunStatus.SUCCEEDED)
    run.refresh_from_db()
    return run


def missing_samples(run: Run, problems: Sequence[ProblemLike], n: int) -> list[PendingProblem]:
    """The problems that lack some of their ``n`` samples in ``run``, in the given order.

    A problem is known by its content (prompt and reference answer, as the store dedupes problems),
    a sample by its index.
    """
    held: dict[str, set[int]] = {}
    for content_hash, sample_index in Trace.objects.filter(run=run).values_list(
        "problem__content_hash", "sample_index"
    ):
        held.setdefault(content_hash, set()).add(sample_index)
    pending = []
    for problem in problems:
        have = held.get(problem_hash(problem.prompt, problem.answer), set())
        missing = tuple(i for i in range(n) if i not in have)
        if missing:
            pending.append(PendingProblem(problem, missing))
    return pending


def _generate_pending(
    run: Run,
    model: LanguageModel,
    backend: GenerationBackend,
    pending: Sequence[PendingProblem],
    params: SamplingParams,
    prompts_per_batch: int,
) -> Iterator[BatchDone]:
    """Generate ``pending`` a batch at a time, stopping with RunCancelled when the run is cancelled."""
    if prompts_per_batch < 1:
        raise ValueError("prompts_per_batch must be at least 1")
    count_tokens = _token_counter(backend)
    live = LiveProgress(run.pk)
    for start in range(0, len(pending), prompts_per_batch):
        if is_stopped(run.pk):
            raise RunCancelled(f"run {run.pk} was cancelled")
        batch = pending[start : start + prompts_per_batch]
        progress = live.engine_call(len(batch) * params.n, units=sum(len(item.sample_indices) for item in batch))
        yield _generate_batch(run, model, backend, batch, params, count_tokens, progress)


def _token_counter(backend: GenerationBackend) -> Callable[[str], int] | None:
    """The backend's exact token counter, or None when it cannot count (a hosted API without vLLM's
    ``/tokenize``): the store then estimates, and marks the counts as estimates."""
    try:
        backend.count_tokens("1 + 1")
    except Exception:  # any failure of an optional endpoint means "no exact counts", never a failed run
        return None
    return backend.count_tokens


def _generate_batch(
    run: Run,
    model: LanguageModel,
    backend: GenerationBackend,
    batch: Sequence[PendingProblem],
    params: SamplingParams,
    count_tokens: Callable[[str], int] | None,
    progress: ProgressCallback,
) -> BatchDone:
    started = time.perf_counter()
    prompts = [build_prompt(item.problem.prompt, model.system_prompt) for item in batch]
    completions = backend.generate(prompts, params, progress)
    seconds = time.perf_counter() - started
    parsed = [
        completion_to_parsed(
            item.problem,
            samples[index],
            index,
            model.name,
            count_tokens=count_tokens,
            think_format=model.think_format,
            meta={"run_id": run.pk},
        )
        for item, samples in zip(batch, completions, strict=True)
        for index in item.sample_indices
    ]
    tokens = sum(completion.completion_tokens for samples in completions for completion in samples)
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        stored = store_traces(run.project, run, parsed, model=model)
        engine_seconds = float(locked.report.get("engine_seconds", 0.0)) + seconds
        tokens_total = locked.tokens_generated + tokens
        Run.objects.filter(pk=run.pk).update(
            progress_done=Trace.objects.filter(run_id=run.pk).count(),
            tokens_generated=F("tokens_generated") + tokens,
            report={
                **without_engine(locked.report),
                "engine_seconds": round(engine_seconds, 2),
                "tokens_per_second": round(tokens_total / engine_seconds, 2) if engine_seconds else None,
            },
        )
    run.refresh_from_db(fields=["progress_done", "tokens_generated", "report"])
    return BatchDone(traces=stored.traces_created, tokens=tokens, seconds=seconds)


# --- Run status ----------------------------------------------------------------------------------


def _finish_if_complete(run_id: int) -> None:
    """Mark an active run succeeded once it holds every sample."""
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id, status__in=ACTIVE).first()
        if run is not None and Trace.objects.filter(run=run).count() >= run.progress_total:
            mark_finished(run.pk, RunStatus.SUCCEEDED)


def _queue_analysis(run_id: int) -> None:
    """Analyse the traces a chunk stored (a `default` task; it skips traces already analysed), so
    a long run's first traces are analysed while the rest generate, and a cancelled run's too."""
    transaction.on_commit(lambda: jobs.enqueue(jobs.ANALYZE_RUN, run_id))


def record_failure(run_id: int, problem_ids: Sequence[int], error: BaseException) -> None:
    """Fail the run with the error text; the report keeps the first failures for the job page."""
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run_id)
        failures = list(run.report.get("failures", []))
        if len(failures) < MAX_FAILURES_SHOWN:
            failures.append({"problems": list(problem_ids)[:10], "error": error_text(error)})
        run.report = {**run.report, "failures": failures, "failure_count": int(run.report.get("failure_count", 0)) + 1}
        run.save(update_fields=["report"])
        fail_run(run_id, error)
