"""Generation runs in real Celery worker processes with the embedded SmolLM2 (issue 5 §1, §6; issue 9 §4).

The first test starts a run the way the UI and the API do and lets a worker generate it; the second
kills the worker with SIGKILL in the middle of a chunk and checks that a new worker finishes the run
with every trace exactly once (tasks are ``acks_late``; Redis delivers an unacknowledged task again
after the visibility timeout, the embedded filesystem broker's next worker sends again what the dead
one had received (``workers.redelivery``); a chunk generates only what the run lacks).
"""

from __future__ import annotations

import os
import signal
from collections import Counter

import pytest

from traces.actions.generation import PROMPTS_PER_BATCH, do_start_generation
from traces.backends import SamplingParams
from traces.generation import DEFAULT_SYSTEM_PROMPT
from traces.models import LanguageModel, Problem, Project, Run, RunStatus, Trace, TraceAnalysis
from traces.trace_builder import problem_hash

pytestmark = pytest.mark.model


def embedded_model(project: Project) -> LanguageModel:
    """The embedded SmolLM2 as a project's Model (backend transformers, empty path)."""
    return LanguageModel.objects.create(
        project=project, name="SmolLM2-135M-Instruct", backend="transformers", endpoint="embedded", system_prompt=DEFAULT_SYSTEM_PROMPT,
        think_format="none",
    )  # fmt: skip


def arithmetic_problems(project: Project, count: int) -> list[int]:
    ids = []
    for i in range(count):
        prompt, answer = f"Tom has {i + 2} apples and buys {i + 3} more. How many apples does he have?", str(2 * i + 5)
        ids.append(
            Problem.objects.create(
                project=project, prompt=prompt, answer=answer, answer_type="numeric", source="arith",
                content_hash=problem_hash(prompt, answer),
            ).pk
        )  # fmt: skip
    return ids


def finished(run: Run) -> Run | None:
    return Run.objects.filter(pk=run.pk).exclude(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).first()


def test_a_worker_generates_a_run_and_analyses_its_traces(start_workers, wait_for) -> None:
    project = Project.objects.create(name="Gen", slug="gen")
    problems = arithmetic_problems(project, 3)
    start_workers()
    run = do_start_generation(
        project, embedded_model(project), problems, SamplingParams(n=2, max_new_tokens=24, temperature=0.8, seed=5)
    )
    done = wait_for(lambda: finished(run), timeout=600)
    assert done.status == RunStatus.SUCCEEDED, done.error
    traces = Trace.objects.filter(run=run)
    assert traces.count() == 6 == done.progress_done == done.progress_total
    assert all(trace.tokens_exact and trace.raw_text for trace in traces)
    assert done.tokens_generated >= sum(t.answer_tokens for t in traces) > 0
    assert done.report["tokens_per_second"] > 0
    wait_for(lambda: TraceAnalysis.objects.filter(trace__run=run).count() == 6, timeout=120)


def test_a_worker_killed_mid_chunk_loses_and_duplicates_nothing(start_workers, wait_for, monkeypatch) -> None:
    project = Project.objects.create(name="Crash", slug="crash")
    problems = arithmetic_problems(project, 2 * PROMPTS_PER_BATCH)  # one chunk of two batches
    redeliver_fast = {"THINKSCOPE_BROKER_VISIBILITY_TIMEOUT": "5"}
    first = start_workers(redeliver_fast)
    run = do_start_generation(
        project, embedded_model(project), problems, SamplingParams(n=1, max_new_tokens=32, temperature=0.8, seed=9)
    )
    wait_for(lambda: Trace.objects.filter(run=run).count() >= PROMPTS_PER_BATCH, timeout=600)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    survived = Trace.objects.filter(run=run).count()
    assert PROMPTS_PER_BATCH <= survived < 2 * PROMPTS_PER_BATCH, "kill the worker while the second batch runs"
    assert Run.objects.get(pk=run.pk).status == RunStatus.RUNNING

    start_workers(redeliver_fast, purge=False)
    done = wait_for(lambda: finished(run), timeout=600)
    assert done.status == RunStatus.SUCCEEDED, done.error
    samples = Counter(Trace.objects.filter(run=run).values_list("problem_id", "sample_index"))
    assert sorted(samples) == sorted((pk, 0) for pk in problems)
    assert set(samples.values()) == {1}
