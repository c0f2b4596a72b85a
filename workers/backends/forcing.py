"""Budget forcing: think up to a token budget, then close the thinking and force the answer.

Muennighoff et al. 2025, "s1: Simple test-time scaling" (§3.1, budget forcing): the assistant turn
is opened with a think block; the model thinks until it closes the block itself, ends its turn, or
has written ``think_budget`` tokens; then the thinking is cut there, the end-of-thinking delimiter
and an answer cue ("The final answer is") are appended, and the model continues with its answer.
Sweeping the budget gives a model's accuracy against thinking length (a budget curve).

The stored completion is the whole assistant turn, its ``<think>`` included, so splitting it with
the ``think_tags`` delimiters gives exactly the thinking and the answer (docs/concepts.md §1 Trace).

Every backend runs the same two phases through :func:`generate_with_think_budget`, given its own
way of continuing an assistant turn that starts with a prefix (``continue_from`` semantics); the
text handling is the pure functions :func:`force_answer` and :func:`forced_completion`. This module
imports no engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from traces.analysis.think import ThinkFormat, split_think
from traces.backends import ChatPrompt, Completion, FinishReason, ProgressCallback, SamplingParams

#: Opens the assistant turn: the thinking phase continues from here.
THINK_OPEN = "<think>\n"
#: Closes the thinking when the model did not (or normalises its own closing tag).
THINK_CLOSE = "\n</think>\n\n"
#: Where the thinking phase stops if the model closes the block itself.
THINK_STOP = "</think>"
#: s1 appends "Final Answer:"; a sentence that answer extraction reads ("the answer is …", docs/concepts.md §3.2).
ANSWER_CUE = "The final answer is"
#: The think delimiters of a budget-forced completion (``LanguageModel.think_format``).
FORCED_THINK_FORMAT: ThinkFormat = "think_tags"

ThinkEnd = Literal["closed", "ended", "budget"]

#: ``continue_from``: ``params.n`` continuations of each prompt's assistant turn opened with its
#: prefix, holding only the new text; ``stop`` strings end a continuation early (kept in its text).
Continue = Callable[
    [Sequence[ChatPrompt], Sequence[str], SamplingParams, Sequence[str], ProgressCallback | None],
    list[list[Completion]],
]


@dataclass(frozen=True)
class ForcedAnswer:
    """How one thinking phase ended and the assistant turn the answer phase continues.

    ``think_end``: ``closed`` (the model wrote ``</think>``), ``ended`` (it ended its turn while
    thinking) or ``budget`` (it used the whole budget and was cut off there).
    """

    thinking: str
    think_end: ThinkEnd
    prefix: str


def force_answer(thought: Completion, cue: str = ANSWER_CUE) -> ForcedAnswer:
    """The answer phase's prefix after one thinking phase (s1 §3.1): the thinking up to the model's
    own ``</think>`` (matched as leniently as ``traces.analysis.think`` splits it) or all of it when
    there is none, trailing whitespace dropped, then :data:`THINK_CLOSE` and the answer ``cue``."""
    opened = THINK_OPEN + thought.text
    split = split_think(opened, FORCED_THINK_FORMAT)
    thinking = split.think_text(opened).removeprefix("\n").rstrip()
    think_end: ThinkEnd = "closed" if split.think_closed else "budget" if thought.finish_reason == "length" else "ended"
    return ForcedAnswer(thinking, think_end, THINK_OPEN + thinking + THINK_CLOSE + cue)


def forced_completion(forced: ForcedAnswer, thought: Completion, answer: Completion, think_budget: int) -> Completion:
    """The whole assistant turn: the forced prefix and the answer phase's text.

    ``completion_tokens`` counts the tokens the model generated in both phases (the delimiters and
    the cue were written for it, not generated); ``prompt_tokens`` is what the thinking phase was
    given, the prompt with the opened think block; ``finish_reason`` is the answer's unless a phase
    failed; ``seconds`` adds both phases. ``meta["budget_forcing"]`` keeps the budget, how the
    thinking ended and each phase's generated tokens.
    """
    finish: FinishReason = "error" if "error" in (thought.finish_reason, answer.finish_reason) else answer.finish_reason
    return Completion(
        text=forced.prefix + answer.text,
        prompt_tokens=thought.prompt_tokens,
        completion_tokens=thought.completion_tokens + answer.completion_tokens,
        finish_reason=finish,
        seconds=thought.seconds + answer.seconds,
        think_format=FORCED_THINK_FORMAT,
        meta={
            **answer.meta,
            "budget_forcing": {
                "think_budget": think_budget,
                "think_end": forced.think_end,
                "think_generated_tokens": thought.completion_tokens,
                "answer_generated_tokens": answer.completion_tokens,
            },
        },
    )


def generate_with_think_budget(
    continue_from: Continue,
    prompts: Sequence[ChatPrompt],
    params: SamplingParams,
    progress: ProgressCallback | None = None,
) -> list[list[Completion]]:
    """``params.n`` budget-forced completions per prompt (s1 §3.1), in prompt order.

    Phase 1 samples ``params.n`` thinkings of each prompt from :data:`THINK_OPEN`, at most
    ``params.think_budget`` tokens each, stopping at :data:`THINK_STOP`; phase 2 continues each
    thinking once from its :func:`force_answer` prefix, at most ``params.max_new_tokens`` tokens.
    ``progress`` is told after every engine batch of both phases (so it can stop a cancelled run
    there): a thinking batch adds its tokens, an answer batch its completions and tokens.
    """
    budget = params.think_budget
    if budget is None:
        raise ValueError("budget forcing needs params.think_budget")
    thinking_params = replace(params, max_new_tokens=budget, think_budget=None)
    thinking_progress = None if progress is None else lambda done, tokens=0: progress(0, tokens)
    thoughts = continue_from(prompts, [THINK_OPEN] * len(prompts), thinking_params, [THINK_STOP], thinking_progress)
    pairs = [(prompt, thought) for prompt, samples in zip(prompts, thoughts, strict=True) for thought in samples]
    forced = [force_answer(thought) for _, thought in pairs]
    answer_params = replace(params, n=1, think_budget=None)
    answers = continue_from([prompt for prompt, _ in pairs], [f.prefix for f in forced], answer_params, [], progress)
    completions = [
        forced_completion(f, thought, answer, budget)
        for f, (_, thought), (answer,) in zip(forced, pairs, answers, strict=True)
    ]
    n = params.n
    return [completions[index : index + n] for index in range(0, len(completions), n)]
