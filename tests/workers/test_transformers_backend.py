"""The transformers backend on the real embedded model, SmolLM2-135M-Instruct on the CPU (MODELS.md).

Kept small (2 prompts, a few tokens): each generate call costs seconds on 2 cores.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from traces.analysis.think import split_think
from traces.backends import ChatPrompt, GenerationBackend, SamplingParams
from traces.generation import build_prompt
from workers.backends.embedded import EMBEDDED_PACKAGE, PROVENANCE_FILE, embedded_model_dir, is_converted

pytestmark = pytest.mark.model

PROMPTS = [
    build_prompt("Tom has 3 apples and buys 4 more. How many apples does he have?"),
    build_prompt("What is 9 minus 5?"),
]
GREEDY = SamplingParams(max_new_tokens=8, temperature=0)


@pytest.fixture(scope="module")
def tokenizer(smollm2):
    """A tokenizer loaded apart from the backend's, to check its counts independently.

    Imported here, after the backend module: torch must first be imported by
    ``workers.backends.transformers``, which sets OpenMP's wait policy before torch loads.
    """
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm2.model_dir)


def test_the_packaged_gguf_is_converted_once(smollm2_dir: Path) -> None:
    assert is_converted(smollm2_dir)
    provenance = json.loads((smollm2_dir / PROVENANCE_FILE).read_text())
    assert provenance["package"] == EMBEDDED_PACKAGE and provenance["seconds"] > 0
    assert embedded_model_dir(smollm2_dir.parent) == smollm2_dir  # found, not converted again


def test_greedy_batch_is_deterministic_and_hits_the_length_limit(smollm2, tokenizer) -> None:
    assert isinstance(smollm2, GenerationBackend)
    first = smollm2.generate(PROMPTS, GREEDY)
    second = smollm2.generate(PROMPTS, GREEDY)
    assert [[c.text for c in samples] for samples in first] == [[c.text for c in samples] for samples in second]
    for prompt, (completion,) in zip(PROMPTS, first, strict=True):
        assert completion.text.strip()
        assert (completion.finish_reason, completion.completion_tokens) == ("length", GREEDY.max_new_tokens)
        rendered = tokenizer.apply_chat_template(prompt.as_list(), tokenize=False, add_generation_prompt=True)
        assert completion.prompt_tokens == len(tokenizer(rendered, add_special_tokens=False)["input_ids"])
        assert smollm2.count_tokens(completion.text) == len(tokenizer.encode(completion.text, add_special_tokens=False))
        assert completion.seconds > 0


def test_a_completion_that_ends_stops_before_the_limit(smollm2) -> None:
    ((completion,),) = smollm2.generate(
        [ChatPrompt.of("What is the capital of France?")], SamplingParams(max_new_tokens=24, temperature=0)
    )
    assert completion.finish_reason == "stop"
    assert 0 < completion.completion_tokens < 24
    assert "Paris" in completion.text and "<|im_end|>" not in completion.text


def test_seeded_sampling_repeats_and_gives_n_samples(smollm2) -> None:
    params = SamplingParams(max_new_tokens=8, temperature=1.0, top_p=1.0, n=2, seed=3)
    first = smollm2.generate(PROMPTS, params)
    assert [len(samples) for samples in first] == [2, 2]
    assert [[c.text for c in s] for s in first] == [[c.text for c in s] for s in smollm2.generate(PROMPTS, params)]


def test_greedy_logprobs_pick_the_most_likely_token(smollm2) -> None:
    ((completion,),) = smollm2.generate(PROMPTS[:1], SamplingParams(max_new_tokens=4, temperature=0, logprobs=2))
    assert completion.logprobs is not None and len(completion.logprobs) == completion.completion_tokens
    for entry in completion.logprobs:
        assert len(entry["top_logprobs"]) == 2
        assert entry["logprob"] <= 0
        assert entry["logprob"] == pytest.approx(entry["top_logprobs"][0]["logprob"])
    assert "".join(entry["token"] for entry in completion.logprobs) == completion.text


def test_a_stop_string_ends_a_row_and_stays_in_its_text(smollm2) -> None:
    texts = [smollm2.render(prompt) for prompt in PROMPTS]
    (free,), _ = smollm2.generate_texts(texts, GREEDY, None)
    word = free.text.split()[2]
    (stopped,), (other,) = smollm2.generate_texts(texts, GREEDY, None, stop=[word])
    assert stopped.text.endswith(word) and free.text.startswith(stopped.text)
    assert stopped.finish_reason == "stop" and 0 < stopped.completion_tokens < GREEDY.max_new_tokens
    assert other.completion_tokens <= GREEDY.max_new_tokens and "<|im_end|>" not in other.text


def test_budget_forcing_thinks_within_the_budget_then_forces_the_answer(smollm2, tokenizer) -> None:
    """s1 budget forcing on the real model: the thinking is cut at 12 tokens (or closed earlier by the
    model), closed, and the answer forced after "The final answer is"; the counts are the tokens generated."""
    params = SamplingParams(max_new_tokens=6, temperature=0, think_budget=12, n=2)
    results = smollm2.generate(PROMPTS, params)
    assert [len(samples) for samples in results] == [2, 2]
    for prompt, (completion, copy) in zip(PROMPTS, results, strict=True):
        assert copy.text == completion.text  # greedy: the samples are the same
        split = split_think(completion.text, "think_tags")
        assert completion.text.startswith("<think>\n") and split.think_closed
        assert completion.think_format == "think_tags"
        assert split.answer_text(completion.text).startswith("\n\nThe final answer is")
        forcing = completion.meta["budget_forcing"]
        assert forcing["think_budget"] == 12 and forcing["think_end"] in ("closed", "ended", "budget")
        assert (forcing["think_end"] == "budget") == (forcing["think_generated_tokens"] == 12)
        assert 0 < forcing["answer_generated_tokens"] <= 6
        assert completion.completion_tokens == forcing["think_generated_tokens"] + forcing["answer_generated_tokens"]
        assert (completion.finish_reason == "length") == (forcing["answer_generated_tokens"] == 6)
        thinking = split.think_text(completion.text).strip()
        assert len(tokenizer.encode(thinking, add_special_tokens=False)) <= 12
        rendered = tokenizer.apply_chat_template(prompt.as_list(), tokenize=False, add_generation_prompt=True)
        assert completion.prompt_tokens == len(tokenizer(rendered + "<think>\n", add_special_tokens=False)["input_ids"])
