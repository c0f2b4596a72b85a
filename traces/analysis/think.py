"""Split a completion into its *think* part and its *answer* part (docs/concepts.md §1, "Trace").

The think format is a property of a model, decided once for all its traces of an import or run
(``decide_think_format``; docs/concepts.md §1), never guessed per trace. The formats:

* ``think_tags`` -- the model writes ``<think>…</think>`` itself (QwQ, Qwen3, R1 behind an API
  that returns its thinking wrapped). A completion without any tag never opened a think block: it
  is all answer. One with ``</think>`` but no ``<think>`` is thinking from its first character.
* ``think_in_prompt`` -- the chat template ends the prompt with ``<think>`` (R1 and its distills
  served raw): every completion starts inside the thinking and only ``</think>`` appears. A
  completion without ``</think>`` is thinking that never closed -- unless the generation stopped
  by itself (``finish_reason`` ``stop``), when the template had closed the thinking too (thinking
  switched off) and the text is all answer.
* ``sky_t1`` -- ``<|begin_of_thought|>…<|end_of_thought|>`` followed by
  ``<|begin_of_solution|>…<|end_of_solution|>`` (NovaSky Sky-T1). The answer span is the solution
  content without its tags; when ``<|begin_of_solution|>`` is missing the answer is whatever
  follows ``<|end_of_thought|>``. Some checkpoints emit ``<|im_start|>solution`` instead of
  ``<|begin_of_solution|>``; it is accepted too. A completion without any marker is all answer.
* ``reasoning_content`` -- the thinking comes apart from the completion (an OpenAI-compatible
  server's ``reasoning_content``); the trace builder composes the two (``trace_builder``), and a
  completion that came without it is read by its own delimiters, if any.
* ``none`` -- no think part: the whole text is the answer.
* ``auto`` -- for one text alone (a judge's reply): its own delimiters decide (``text_evidence``).

Rules common to every format:

* An opened think block that never closes is truncated thinking, whether its opener is in the
  text or in the prompt: the think span runs to the end of the text, the answer span is empty at
  ``len(text)`` and ``think_closed`` is False.
* Text before an opening tag that is more than whitespace belongs to the thinking: the model was
  already thinking, and the answer cannot come before the thinking. The think span then starts at
  0 and holds the opening tag; otherwise it starts after the tag.
* Offsets are character offsets into the raw text. The think span excludes its delimiters and is
  not trimmed of whitespace, so ``text[split.think_start:split.think_end]`` is exactly the
  thinking. The delimiters and any text after the answer's closing tag lie outside both spans but
  inside the *regions* of the parts (``ThinkSplit.regions``), which tile the text: no character of
  a completion is outside both parts' steps.

Matching is lenient: tags are case-insensitive and may carry inner whitespace (``< /think >``,
``<| end_of_thought |>``); any tag may be missing. All regexes here are literal tags with bounded
``\\s*`` runs, so splitting is linear in the text length.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

ThinkFormat = Literal["think_tags", "think_in_prompt", "sky_t1", "none", "auto"]
"""The formats ``split_think`` reads in one text (``reasoning_content`` is composed by the trace builder)."""

ModelThinkFormat = Literal["think_tags", "think_in_prompt", "sky_t1", "reasoning_content", "none"]
"""The formats a model's traces can have (``decide_think_format``)."""

_THINK_OPEN = re.compile(r"<\s*think\s*>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"<\s*/\s*think\s*>", re.IGNORECASE)
_NOT_SPACE = re.compile(r"\S")


def _sky_tag(name: str) -> str:
    return r"<\|\s*" + name + r"\s*\|>"


_SKY_BEGIN_THOUGHT = re.compile(_sky_tag("begin_of_thought"), re.IGNORECASE)
_SKY_END_THOUGHT = re.compile(_sky_tag("end_of_thought"), re.IGNORECASE)
_SKY_BEGIN_SOLUTION = re.compile(
    _sky_tag("begin_of_solution") + r"|<\|im_start\|>[ \t]*solution\b", re.IGNORECASE
)
_SKY_END_SOLUTION = re.compile(_sky_tag("end_of_solution"), re.IGNORECASE)
_SKY_ANY = re.compile(
    _sky_tag(r"(?:begin|end)_of_(?:thought|solution)"), re.IGNORECASE
)


@dataclass(frozen=True)
class ThinkSplit:
    """Character spans of the think part and the answer part of one completion (docs/concepts.md §1).

    If there is no think part, ``think_start == think_end == 0`` and ``think_closed`` is True.
    """

    think_start: int
    think_end: int
    answer_start: int
    answer_end: int
    think_closed: bool

    @property
    def has_think(self) -> bool:
        """True when a think block was found (possibly empty, possibly unclosed)."""
        return self.think_end > self.think_start or not self.think_closed or self.think_start > 0

    def think_text(self, text: str) -> str:
        """The think part of ``text`` (the text this split was computed from)."""
        return text[self.think_start : self.think_end]

    def answer_text(self, text: str) -> str:
        """The answer part of ``text`` (the text this split was computed from)."""
        return text[self.answer_start : self.answer_end]

    def regions(self, length: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """Where each part lies with its delimiters, in a text of ``length`` characters: the
        thinking from 0 to where the answer starts, the answer from there to the end. The two
        regions tile the text, so steps that cover them cover every character (module docstring)."""
        if not self.has_think:
            return (0, 0), (0, length)
        return (0, self.answer_start), (self.answer_start, length)


def _no_think(text: str) -> ThinkSplit:
    return ThinkSplit(0, 0, 0, len(text), True)


def _unclosed(think_start: int, text: str) -> ThinkSplit:
    n = len(text)
    return ThinkSplit(think_start, n, n, n, False)


def _think_start(text: str, opening: re.Match[str] | None) -> int:
    """Where the thinking starts: after its opening tag, or at 0 when the tag is missing or more
    than whitespace stands before it (that text is thinking too, module docstring)."""
    if opening is None or _NOT_SPACE.search(text, 0, opening.start()):
        return 0
    return opening.end()


def _split_think_tags(text: str, *, opened_in_prompt: bool, finish_reason: str | None) -> ThinkSplit:
    """``<think>…</think>``; with ``opened_in_prompt`` every completion starts inside the thinking."""
    opening = _THINK_OPEN.search(text)
    closing = _THINK_CLOSE.search(text, opening.end() if opening else 0)
    think_start = _think_start(text, opening)
    if closing is not None:
        return ThinkSplit(think_start, closing.start(), closing.end(), len(text), True)
    if opening is not None or (opened_in_prompt and finish_reason != "stop"):
        return _unclosed(think_start, text)
    return _no_think(text)


def _split_sky_t1(text: str) -> ThinkSplit:
    """``<|begin_of_thought|>…<|end_of_thought|>`` + ``<|begin_of_solution|>…<|end_of_solution|>``."""
    begin_thought = _SKY_BEGIN_THOUGHT.search(text)
    think_start = _think_start(text, begin_thought)
    end_thought = _SKY_END_THOUGHT.search(text, begin_thought.end() if begin_thought else 0)
    after_think = end_thought.end() if end_thought else (begin_thought.end() if begin_thought else 0)
    begin_solution = _SKY_BEGIN_SOLUTION.search(text, after_think)

    if end_thought is not None:
        think_end = end_thought.start()
    elif begin_solution is not None:
        # The model went on to its solution without closing the thought: not truncated.
        think_end = begin_solution.start()
    elif begin_thought is not None:
        return _unclosed(think_start, text)
    else:
        return _no_think(text)

    answer_start = begin_solution.end() if begin_solution else after_think
    end_solution = _SKY_END_SOLUTION.search(text, answer_start)
    answer_end = end_solution.start() if end_solution else len(text)
    return ThinkSplit(think_start, think_end, answer_start, answer_end, True)


#: The delimiters each stored think format (``LanguageModel.think_format``, ``ParsedTrace.think_format``)
#: splits a text with: a ``reasoning_content`` trace whose server sent no reasoning is read as ``auto``.
_SPLIT_FORMATS: dict[str, ThinkFormat] = {
    "think_tags": "think_tags",
    "think_in_prompt": "think_in_prompt",
    "sky_t1": "sky_t1",
    "none": "none",
    "auto": "auto",
    "reasoning_content": "auto",
}


def split_format(name: str) -> ThinkFormat:
    """The format ``split_think`` reads a stored think format ``name`` as; ValueError for an unknown name."""
    try:
        return _SPLIT_FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown think format {name!r}") from None


def split_think(text: str, fmt: ThinkFormat = "auto", finish_reason: str | None = None) -> ThinkSplit:
    """Split ``text`` into think and answer spans with the delimiters ``fmt`` (docs/concepts.md §1, Trace).

    ``finish_reason`` (``stop``, ``length``, …; None when unknown) matters to ``think_in_prompt``
    only. See the module docstring for the rules of each format. Never raises on any string.
    """
    if fmt == "auto":
        fmt = _inline_format(text_evidence(text))
    if fmt == "think_tags":
        return _split_think_tags(text, opened_in_prompt=False, finish_reason=finish_reason)
    if fmt == "think_in_prompt":
        return _split_think_tags(text, opened_in_prompt=True, finish_reason=finish_reason)
    if fmt == "sky_t1":
        return _split_sky_t1(text)
    if fmt == "none":
        return _no_think(text)
    raise ValueError(f"unknown think format {fmt!r}")


# --- Deciding a model's format from its traces -----------------------------------------------------


def has_separate_reasoning(completion: str, reasoning_content: str | None) -> bool:
    """Whether ``reasoning_content`` is thinking apart from ``completion``: not empty, and not a copy
    of text the completion holds already (sources that keep a model's raw output beside the
    server's split store both)."""
    thinking = (reasoning_content or "").strip()
    return bool(thinking) and thinking not in completion


def text_evidence(completion: str, reasoning_content: str | None = None) -> ModelThinkFormat | None:
    """The format one trace shows by itself, None when it shows none (no delimiter, no separate
    thinking). A ``</think>`` with no ``<think>`` before it says the prompt opened the thinking."""
    if has_separate_reasoning(completion, reasoning_content):
        return "reasoning_content"
    if _SKY_ANY.search(completion):
        return "sky_t1"
    closing = _THINK_CLOSE.search(completion)
    if closing is not None and _THINK_OPEN.search(completion, 0, closing.start()) is None:
        return "think_in_prompt"
    if closing is not None or _THINK_OPEN.search(completion):
        return "think_tags"
    return None


def _inline_format(evidence: ModelThinkFormat | None) -> ThinkFormat:
    return "none" if evidence is None or evidence == "reasoning_content" else evidence


#: What each kind of evidence says of a trace, in the reasons ``decide_think_format`` gives.
_SHOWS = {
    "reasoning_content": "carry their thinking apart in reasoning_content",
    "sky_t1": "have Sky-T1 thought markers",
    "think_in_prompt": "close </think> without opening it",
    "think_tags": "open <think> in the completion",
    None: "have no think delimiter",
}

#: Kinds of evidence in the order that breaks a tie between them.
_FAMILIES: tuple[tuple[str, tuple[ModelThinkFormat, ...]], ...] = (
    ("reasoning_content", ("reasoning_content",)),
    ("sky_t1", ("sky_t1",)),
    ("think", ("think_in_prompt", "think_tags")),
)


@dataclass
class ThinkEvidence:
    """What a model's traces show of where their thinking is: how many show each format
    (``text_evidence``; None: nothing), and how many carry a ``reasoning_content`` at all."""

    shown: Counter[ModelThinkFormat | None] = field(default_factory=Counter)
    reasoning_fields: int = 0

    def add(self, completion: str, reasoning_content: str | None) -> None:
        self.shown[text_evidence(completion, reasoning_content)] += 1
        self.reasoning_fields += reasoning_content is not None

    @property
    def traces(self) -> int:
        return sum(self.shown.values())


@dataclass(frozen=True)
class FormatDecision:
    """A model's think format, whether its traces determined it, and what they show, in words."""

    think_format: ModelThinkFormat
    determined: bool
    reason: str


def decide_think_format(evidence: ThinkEvidence) -> FormatDecision:
    """The think format of a model from all its traces of one import or run (docs/concepts.md §1).

    The kind of delimiter most traces show wins (a tie goes to reasoning_content, then Sky-T1, then
    think tags); think tags are ``think_in_prompt`` as soon as one trace closes ``</think>``
    without opening it, since only a prompt that opened the thinking explains that. Traces that
    show nothing take the model's format: a think_in_prompt model's trace without ``</think>`` is
    thinking that never closed. With no evidence at all, a model whose traces carry an (empty)
    ``reasoning_content`` is ``reasoning_content``; otherwise the format is undetermined and the
    traces are read as ``none``.
    """
    counts = {name: sum(evidence.shown[kind] for kind in kinds) for name, kinds in _FAMILIES}
    family, count = max(counts.items(), key=lambda item: item[1])  # max keeps the first of a tie
    reason = _reason(evidence)
    if count:
        kinds = dict(_FAMILIES)[family]
        chosen = next((kind for kind in kinds if evidence.shown[kind]), kinds[0])
        return FormatDecision(chosen, True, reason)
    if evidence.reasoning_fields:
        empty = f"{evidence.reasoning_fields} with an empty reasoning_content"
        return FormatDecision("reasoning_content", True, f"{reason} ({empty})")
    return FormatDecision("none", False, reason)


def _reason(evidence: ThinkEvidence) -> str:
    """``of 20 traces, 19 close </think> without opening it, 1 has no think delimiter``."""
    total = evidence.traces
    parts = [
        f"{count} {_singular(_SHOWS[kind]) if count == 1 else _SHOWS[kind]}"
        for kind, count in sorted(evidence.shown.items(), key=lambda item: -item[1])
    ]
    return f"of {total} trace{'s' if total != 1 else ''}, " + ", ".join(parts)


def _singular(shows: str) -> str:
    """``have no think delimiter`` → ``has no think delimiter`` (the verb of one trace)."""
    verb, _, rest = shows.partition(" ")
    return {"have": "has", "carry": "carries", "close": "closes", "open": "opens"}[verb] + " " + rest
