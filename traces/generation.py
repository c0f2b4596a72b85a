"""Prompts in, parsed traces out (docs/concepts.md §1 Run, Trace): the pure glue between a backend and the store.

No ORM and no torch: :func:`build_prompt` turns a problem into a :class:`ChatPrompt`,
:func:`completion_to_parsed` turns a backend's :class:`Completion` into a
:class:`~traces.formats.base.ParsedTrace`, the shape every new trace takes before it is stored. The
run loop that calls a backend and stores its traces is ``traces.actions.generation``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from traces.backends import ChatPrompt, Completion
from traces.formats.base import ParsedTrace
from traces.trace_builder import compose_raw_text, think_split

#: The instruction for the embedded default model. SmolLM2-135M does not use think delimiters even
#: when asked to, so the prompt asks only for a final line that answer extraction reads
#: ("the answer is …", docs/concepts.md §3.2). A tiny model follows it only sometimes: a completion that does
#: not is stored as generated, and graded "no answer" — a format the model did not follow is data.
DEFAULT_SYSTEM_PROMPT = (
    "Solve the math word problem step by step. End with a line 'The answer is N.' where N is a number."
)

#: The think delimiters of completions answering :data:`DEFAULT_SYSTEM_PROMPT`: none, the whole
#: completion is the answer part (``LanguageModel.think_format``, docs/concepts.md §1 Trace).
THINK_FORMAT = "none"

#: The instruction for the embedded default model generating with a think budget (budget forcing,
#: ``workers.backends.forcing``): the backend opens the ``<think>`` block and forces the closing
#: "The final answer is", so the instruction only shows the shape once, with a worked example.
#: Measured on the demo's problems: with the example SmolLM2-135M closes most thinkings itself
#: and states a bare number; without it, it rambles to the budget and answers with expressions.
THINKING_SYSTEM_PROMPT = (
    "Solve the math word problem. Think step by step, then give the answer.\n\n"
    "Example:\n"
    "Question: Sam has 5 pens and buys 3 more. How many pens does Sam have?\n"
    "<think>\nSam starts with 5 pens. He buys 3 more, so 5 + 3 = 8.\n</think>\n"
    "The final answer is 8."
)

#: What of a completion's ``meta`` a trace keeps: how budget forcing ended its thinking.
STORED_COMPLETION_META = ("budget_forcing",)


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
    """One completion as a ``ParsedTrace`` (docs/concepts.md §1 Trace).

    The completion's separate ``reasoning_content``, or the think delimiters its backend wrote
    (``Completion.think_format``: budget forcing writes think tags), override the model's
    ``think_format``. ``count_tokens`` is the model's exact tokenizer count: when given, the think
    and answer parts (split as the storing action will split them) are counted with it and the
    trace is stored as ``tokens_exact``; without it the storing action estimates. ``meta`` lands in
    ``Trace.meta`` (and in the trace's content hash: pass the run id to keep two runs' identical
    texts apart), beside the token counts and a budget-forced completion's ``budget_forcing``.
    """
    if completion.reasoning_content is not None:
        think_format = "reasoning_content"
    elif completion.think_format is not None:
        think_format = completion.think_format
    parsed = ParsedTrace(
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
            **{key: completion.meta[key] for key in STORED_COMPLETION_META if key in completion.meta},
            **dict(meta or {}),
        },
        sample_index=sample_index,
        generation_ms=round(completion.seconds * 1000),
        logprobs=completion.logprobs,
        think_format=think_format,
    )
    if count_tokens is not None:
        parsed.think_tokens, parsed.answer_tokens = _part_tokens(parsed, count_tokens)
    return parsed


def _part_tokens(parsed: ParsedTrace, count_tokens: Callable[[str], int]) -> tuple[int, int]:
    """Exact (think, answer) token counts of the parts the storing action stores (``trace_builder``)."""
    raw_text = compose_raw_text(parsed)
    split = think_split(parsed, raw_text)
    return count_tokens(split.think_text(raw_text)), count_tokens(split.answer_text(raw_text))
