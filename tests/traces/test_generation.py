"""From problems to traces ready to store (traces.generation): prompt building and completion mapping."""

from __future__ import annotations

import pytest

from traces.backends import Completion
from traces.demo_problems import DemoProblem
from traces.generation import DEFAULT_SYSTEM_PROMPT, build_prompt, completion_to_parsed

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
