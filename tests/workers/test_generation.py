"""From problems to stored traces: prompt building, completion mapping and the Run loop."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from traces.demo_problems import DemoProblem
from traces.models import LanguageModel, Project, Run, RunKind, RunStatus, Trace
from workers.backends.base import ChatPrompt, Completion, GenerationBackend, ProgressCallback, SamplingParams
from workers.generation import (
    DEFAULT_SYSTEM_PROMPT,
    BatchDone,
    build_prompt,
    completion_to_parsed,
    generate_run,
    missing_samples,
)

PROBLEM = DemoProblem(
    problem_id="p-1", prompt="What is 3 times 4?", answer="12", template="t", numbers={"a": 3, "b": 4}
)


def words(text: str) -> int:
    """A stand-in tokenizer for the pure tests: one token per whitespace-separated word."""
    return len(text.split())


def test_build_prompt_puts_the_instruction_first_and_the_problem_as_the_user_turn() -> None:
    prompt = build_prompt("  What is 3 times 4?\n")
    assert prompt.as_list() == [
        {"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
        {"role": "user", "content": "What is 3 times 4?"},
    ]
    assert build_prompt("Q", system_prompt="").as_list() == [{"role": "user", "content": "Q"}]


def test_completion_to_parsed_maps_every_field() -> None:
    logprobs = [{"token": "The", "logprob": -0.5, "top_logprobs": []}]
    completion = Completion(
        text="3 times 4 is 12.\n\nThe answer is 12.",
        prompt_tokens=41,
        completion_tokens=15,
        finish_reason="length",
        logprobs=logprobs,
        seconds=1.2346,
    )
    parsed = completion_to_parsed(PROBLEM, completion, 2, "SmolLM2", count_tokens=words, meta={"run_id": 9})
    assert (parsed.prompt, parsed.reference_answer, parsed.answer_type) == (PROBLEM.prompt, "12", "numeric")
    assert (parsed.source, parsed.problem_id, parsed.problem_meta) == ("thinkscope-demo", "p-1", PROBLEM.meta)
    assert (parsed.text, parsed.model_name, parsed.reasoning_content) == (completion.text, "SmolLM2", None)
    assert (parsed.finish_reason, parsed.sample_index, parsed.generation_ms) == ("length", 2, 1235)
    assert parsed.logprobs == logprobs
    assert parsed.meta == {"prompt_tokens": 41, "completion_tokens": 15, "run_id": 9}
    # The default think format is "none": the whole completion is the answer part.
    assert parsed.think_format == "none"
    assert (parsed.think_tokens, parsed.answer_tokens) == (0, 9)


def test_think_tags_are_counted_apart() -> None:
    completion = Completion(text="<think>a b c</think>\nThe answer is 12.")
    parsed = completion_to_parsed(PROBLEM, completion, 0, "m", count_tokens=words, think_format="think_tags")
    assert (parsed.think_tokens, parsed.answer_tokens, parsed.think_format) == (3, 4, "think_tags")


def test_reasoning_content_is_the_think_part() -> None:
    completion = Completion(text="The answer is 12.", reasoning_content="four threes make twelve")
    parsed = completion_to_parsed(PROBLEM, completion, 0, "m", count_tokens=words)
    assert (parsed.think_tokens, parsed.answer_tokens, parsed.think_format) == (4, 4, "reasoning_content")


def test_a_reasoning_content_model_without_reasoning_is_split_by_detection() -> None:
    completion = Completion(text="<think>a b</think>The answer is 12.")
    parsed = completion_to_parsed(PROBLEM, completion, 0, "m", count_tokens=words, think_format="reasoning_content")
    assert (parsed.think_tokens, parsed.answer_tokens, parsed.think_format) == (2, 4, "reasoning_content")


def test_without_a_tokenizer_the_counts_are_left_to_the_store() -> None:
    parsed = completion_to_parsed(PROBLEM, Completion(text="12"), 0, "m")
    assert (parsed.think_tokens, parsed.answer_tokens) == (None, None)


def test_an_unknown_think_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown think format 'xml'"):
        completion_to_parsed(PROBLEM, Completion(text="12"), 0, "m", count_tokens=words, think_format="xml")


# --- The Run loop, with a scripted backend (no model) ----------------------------------------------


class ScriptedBackend:
    """Answers "The answer is <sample index>." for every prompt; can fail on a chosen call."""

    def __init__(self, fail_on_call: int | None = None, error: BaseException | None = None) -> None:
        self.calls: list[int] = []
        self.fail_on_call = fail_on_call
        self.error = error or RuntimeError("engine crashed")

    def generate(
        self, prompts: Sequence[ChatPrompt], params: SamplingParams, progress: ProgressCallback | None = None
    ) -> list[list[Completion]]:
        self.calls.append(len(prompts))
        if len(self.calls) == self.fail_on_call:
            raise self.error
        return [
            [Completion(text=f"The answer is {k}.", prompt_tokens=10, completion_tokens=k + 3) for k in range(params.n)]
            for _ in prompts
        ]

    def count_tokens(self, text: str) -> int:
        return words(text)


def _problems(count: int) -> list[DemoProblem]:
    return [
        DemoProblem(problem_id=f"p-{i}", prompt=f"Problem {i}: what is 0 + {i % 2}?", answer=str(i % 2), template="t")
        for i in range(count)
    ]


@pytest.fixture
def generation_run(db):  # type: ignore[no-untyped-def]
    project = Project.objects.create(name="Gen", slug="gen")
    model = LanguageModel.objects.create(project=project, name="scripted", backend="transformers", think_format="none")
    run = Run.objects.create(project=project, model=model, kind=RunKind.GENERATION)
    return run, model


def test_scripted_backend_satisfies_the_protocol() -> None:
    assert isinstance(ScriptedBackend(), GenerationBackend)


def test_generate_run_stores_every_sample_and_keeps_the_run_current(generation_run) -> None:  # type: ignore[no-untyped-def]
    run, model = generation_run
    problems, params = _problems(5), SamplingParams(n=2, seed=1)
    backend, batches = ScriptedBackend(), []
    generate_run(
        run, model, backend, missing_samples(run, problems, 2), params, prompts_per_batch=2, on_batch=batches.append
    )

    assert backend.calls == [2, 2, 1]
    assert [batch.traces for batch in batches] == [4, 4, 2]
    run.refresh_from_db()
    assert (run.status, run.progress_done, run.progress_total, run.error) == (RunStatus.SUCCEEDED, 10, 10, "")
    assert run.tokens_generated == 5 * (3 + 4) == sum(batch.tokens for batch in batches)
    assert run.started_at is not None and run.finished_at is not None
    assert run.report["engine_seconds"] >= 0
    traces = Trace.objects.filter(run=run)
    assert sorted(traces.values_list("problem__external_id", "sample_index")) == [
        (f"p-{i}", k) for i in range(5) for k in range(2)
    ]
    # Stored like imports: steps, an extracted answer, a verdict, exact token counts.
    sample_one = traces.get(problem__external_id="p-1", sample_index=1)
    assert (sample_one.final_answer, sample_one.is_correct, sample_one.tokens_exact) == ("1", True, True)
    assert sample_one.answer_tokens == 4 and sample_one.steps.count() >= 1
    assert traces.get(problem__external_id="p-1", sample_index=0).is_correct is False
    assert missing_samples(run, problems, 2) == []


def test_a_failed_run_keeps_its_finished_batches_and_resumes(generation_run) -> None:  # type: ignore[no-untyped-def]
    run, model = generation_run
    problems, params = _problems(5), SamplingParams(n=1, seed=1)
    with pytest.raises(RuntimeError, match="engine crashed"):
        generate_run(
            run, model, ScriptedBackend(fail_on_call=2), missing_samples(run, problems, 1), params, prompts_per_batch=2
        )
    run.refresh_from_db()
    assert (run.status, run.error, run.progress_done, run.progress_total) == (RunStatus.FAILED, "engine crashed", 2, 5)

    pending = missing_samples(run, problems, 1)
    assert [(item.problem.problem_id, item.sample_indices) for item in pending] == [
        ("p-2", (0,)),
        ("p-3", (0,)),
        ("p-4", (0,)),
    ]
    generate_run(run, model, ScriptedBackend(), pending, params, prompts_per_batch=2)
    run.refresh_from_db()
    assert (run.status, run.error, run.progress_done, run.progress_total) == (RunStatus.SUCCEEDED, "", 5, 5)
    assert Trace.objects.filter(run=run).count() == 5


def test_an_interrupt_cancels_the_run(generation_run) -> None:  # type: ignore[no-untyped-def]
    run, model = generation_run
    backend = ScriptedBackend(fail_on_call=1, error=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        generate_run(run, model, backend, missing_samples(run, _problems(1), 1), SamplingParams())
    run.refresh_from_db()
    assert (run.status, run.error) == (RunStatus.CANCELLED, "KeyboardInterrupt")


def test_only_missing_sample_indices_are_stored(generation_run) -> None:  # type: ignore[no-untyped-def]
    run, model = generation_run
    problems = _problems(1)
    generate_run(run, model, ScriptedBackend(), missing_samples(run, problems, 1), SamplingParams(n=1))
    pending = missing_samples(run, problems, 3)
    assert [item.sample_indices for item in pending] == [(1, 2)]
    done: list[BatchDone] = []
    generate_run(run, model, ScriptedBackend(), pending, SamplingParams(n=3), on_batch=done.append)
    assert done[0].traces == 2
    assert sorted(Trace.objects.filter(run=run).values_list("sample_index", flat=True)) == [0, 1, 2]
