"""Budget forcing's pure text handling and its two-phase driver (s1, Muennighoff et al. 2025)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from traces.analysis.think import split_think
from traces.backends import ChatPrompt, Completion, FinishReason, ProgressCallback, SamplingParams
from traces.demo_problems import demo_problems
from traces.generation import completion_to_parsed
from workers.backends.base import tokens_of
from workers.backends.forcing import (
    ANSWER_CUE,
    THINK_CLOSE,
    THINK_OPEN,
    THINK_STOP,
    force_answer,
    forced_completion,
    generate_with_think_budget,
)

BUDGET = 6


def words(text: str) -> int:
    """A stand-in tokenizer: one token per word."""
    return len(text.split())


def thought(text: str, finish_reason: FinishReason = "length", tokens: int = BUDGET) -> Completion:
    return Completion(text=text, prompt_tokens=30, completion_tokens=tokens, finish_reason=finish_reason, seconds=1.5)


def test_a_thinking_cut_by_the_budget_is_closed_and_the_answer_cued() -> None:
    forced = force_answer(thought("Add 3 and 4: 3 + 4 = 7. Then  "))
    assert forced.think_end == "budget"
    assert forced.thinking == "Add 3 and 4: 3 + 4 = 7. Then"
    assert forced.prefix == "<think>\nAdd 3 and 4: 3 + 4 = 7. Then\n</think>\n\nThe final answer is"
    assert forced.prefix == THINK_OPEN + forced.thinking + THINK_CLOSE + ANSWER_CUE


def test_a_thinking_the_model_closed_is_cut_at_its_own_tag() -> None:
    forced = force_answer(thought("3 + 4 = 7.\n</think>", finish_reason="stop", tokens=5))
    assert (forced.think_end, forced.thinking) == ("closed", "3 + 4 = 7.")
    assert forced.prefix.count("</think>") == 1
    # matched as leniently as the stored trace is split, and whatever follows the tag is dropped
    lenient = force_answer(thought("So 7.</ THINK >The answer is 7"))
    assert (lenient.think_end, lenient.thinking) == ("closed", "So 7.")


def test_a_turn_ended_while_thinking_is_closed_too() -> None:
    forced = force_answer(thought("3 + 4 = 7", finish_reason="stop", tokens=4))
    assert (forced.think_end, forced.thinking) == ("ended", "3 + 4 = 7")


def test_the_cue_can_be_chosen() -> None:
    assert force_answer(thought("x"), cue="Final Answer:").prefix.endswith("</think>\n\nFinal Answer:")


def test_the_forced_completion_splits_exactly_into_the_thinking_and_the_answer() -> None:
    first = thought("Add them: 3 + 4 = 7 apples")
    forced = force_answer(first)
    answer = Completion(text=" 7.", prompt_tokens=44, completion_tokens=3, finish_reason="stop", seconds=0.5)
    completion = forced_completion(forced, first, answer, BUDGET)
    assert completion.text == "<think>\nAdd them: 3 + 4 = 7 apples\n</think>\n\nThe final answer is 7."
    split = split_think(completion.text, "think_tags")
    assert split.think_closed
    assert split.think_text(completion.text).strip() == "Add them: 3 + 4 = 7 apples"
    assert split.answer_text(completion.text).strip() == "The final answer is 7."
    assert completion.think_format == "think_tags"
    assert (completion.prompt_tokens, completion.completion_tokens) == (30, BUDGET + 3)
    assert (completion.finish_reason, completion.seconds) == ("stop", 2.0)
    assert completion.meta["budget_forcing"] == {
        "think_budget": BUDGET,
        "think_end": "budget",
        "think_generated_tokens": BUDGET,
        "answer_generated_tokens": 3,
    }


def test_the_answer_limit_and_a_failed_phase_decide_the_finish_reason() -> None:
    first = thought("thinking")
    forced = force_answer(first)
    cut = Completion(text=" 7 and", completion_tokens=2, finish_reason="length")
    assert forced_completion(forced, first, cut, BUDGET).finish_reason == "length"
    failed = Completion(text="", finish_reason="error")
    assert forced_completion(forced, first, failed, BUDGET).finish_reason == "error"
    assert forced_completion(forced, thought("x", finish_reason="error"), cut, BUDGET).finish_reason == "error"


@dataclass
class ScriptedEngine:
    """A ``continue_from`` that records its calls: thinkings by prompt and sample, then answers; each
    call is one engine batch, reported to ``progress``."""

    thinkings: dict[str, list[str]]
    calls: list[tuple[list[str], SamplingParams, list[str]]] = field(default_factory=list)

    def __call__(
        self,
        prompts: Sequence[ChatPrompt],
        prefixes: Sequence[str],
        params: SamplingParams,
        stop: Sequence[str],
        progress: ProgressCallback | None,
    ) -> list[list[Completion]]:
        self.calls.append((list(prefixes), params, list(stop)))
        if prefixes[0] == THINK_OPEN:
            results = [
                [thought(text) for text in self.thinkings[prompt.messages[-1]["content"]][: params.n]]
                for prompt in prompts
            ]
        else:
            results = [[Completion(text=f" {prefix.split()[1]}.", completion_tokens=2)] for prefix in prefixes]
        if progress is not None:
            progress(len(prefixes) * params.n, tokens_of(results))
        return results


def test_the_driver_thinks_within_the_budget_then_answers_each_sample_once() -> None:
    engine = ScriptedEngine({"A": ["a0 =", "a1 ="], "B": ["b0 =", "b1 ="]})
    prompts = [ChatPrompt.of("A"), ChatPrompt.of("B")]
    params = SamplingParams(max_new_tokens=16, temperature=0.5, n=2, seed=3, think_budget=BUDGET)
    seen: list[tuple[int, int]] = []
    results = generate_with_think_budget(engine, prompts, params, lambda done, tokens=0: seen.append((done, tokens)))

    (think_prefixes, think_params, think_stop), (answer_prefixes, answer_params, answer_stop) = engine.calls
    assert think_prefixes == [THINK_OPEN, THINK_OPEN] and think_stop == [THINK_STOP]
    assert (think_params.max_new_tokens, think_params.n, think_params.think_budget) == (BUDGET, 2, None)
    assert answer_prefixes == [force_answer(thought(t)).prefix for t in ("a0 =", "a1 =", "b0 =", "b1 =")]
    assert (answer_params.max_new_tokens, answer_params.n, answer_stop) == (16, 1, [])
    assert (answer_params.temperature, answer_params.seed) == (0.5, 3)
    assert [[c.text.split("\n")[1] for c in samples] for samples in results] == [["a0 =", "a1 ="], ["b0 =", "b1 ="]]
    assert all(c.text.endswith(f"{ANSWER_CUE} {c.text.split()[1]}.") for samples in results for c in samples)
    assert seen == [(0, sum(thought(t).completion_tokens for t in ("a0 =", "a1 =", "b0 =", "b1 ="))), (4, 8)]


def test_a_progress_that_refuses_the_thinking_batch_stops_before_the_answers() -> None:
    engine = ScriptedEngine({"A": ["a0 ="]})

    def cancelled(done: int, tokens: int = 0) -> None:
        raise RuntimeError("cancelled")

    with pytest.raises(RuntimeError, match="cancelled"):
        generate_with_think_budget(engine, [ChatPrompt.of("A")], SamplingParams(think_budget=BUDGET), cancelled)
    assert len(engine.calls) == 1


def test_the_driver_needs_a_budget() -> None:
    with pytest.raises(ValueError, match="think_budget"):
        generate_with_think_budget(ScriptedEngine({}), [ChatPrompt.of("A")], SamplingParams())


def test_think_budget_is_a_sampling_parameter_that_round_trips() -> None:
    params = SamplingParams(max_new_tokens=16, think_budget=128)
    assert SamplingParams.from_dict(params.as_dict()) == params
    assert SamplingParams.from_dict({"max_new_tokens": 16}).think_budget is None
    with pytest.raises(ValueError, match="think_budget"):
        SamplingParams(think_budget=0)
    with pytest.raises(ValueError, match="logprobs"):
        SamplingParams(think_budget=8, logprobs=0)


def test_a_forced_trace_is_split_by_its_think_tags_whatever_the_models_format() -> None:
    first = thought("Add: 3 + 4 = 7")
    completion = forced_completion(force_answer(first), first, Completion(text=" 7.", completion_tokens=2), BUDGET)
    problem = demo_problems(1)[0]
    parsed = completion_to_parsed(problem, completion, 0, "m", count_tokens=words, think_format="none")
    assert parsed.think_format == "think_tags"
    assert (parsed.think_tokens, parsed.answer_tokens) == (words("Add: 3 + 4 = 7"), words("The final answer is 7."))
    assert parsed.meta["budget_forcing"]["think_end"] == "budget"
    assert parsed.meta["completion_tokens"] == BUDGET + 2
