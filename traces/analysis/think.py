"""Split a completion into its *think* part and its *answer* part (docs/concepts.md §1, "Trace").

The think delimiters are a per-Model setting (docs/concepts.md §1):

* ``think_tags`` -- ``<think>…</think>`` as produced by DeepSeek-R1, QwQ and Qwen3.  R1 chat
  templates put the opening ``<think>`` into the prompt, so a completion that has ``</think>`` but
  no opening tag is read as thinking from offset 0.
* ``sky_t1`` -- ``<|begin_of_thought|>…<|end_of_thought|>`` followed by
  ``<|begin_of_solution|>…<|end_of_solution|>`` (NovaSky Sky-T1).  The answer span is the solution
  content without its tags; when ``<|begin_of_solution|>`` is missing the answer is whatever
  follows ``<|end_of_thought|>``.  Some checkpoints emit ``<|im_start|>solution`` instead of
  ``<|begin_of_solution|>``; it is accepted too.
* ``none`` -- no think part: the whole text is the answer.
* ``auto`` -- Sky-T1 markers if any appear, else think tags if any appear, else ``none``.

Offsets are character offsets into the raw text.  The think span excludes the delimiter tags and
is *not* trimmed of whitespace, so ``text[split.think_start:split.think_end]`` is exactly what
stands between the tags.  An opened, never-closed think block means truncated thinking: the think
span runs to the end of the text, the answer span is empty at ``len(text)`` and ``think_closed`` is
False.  Text before an opening tag (rare) belongs to neither part.

Matching is lenient: tags are case-insensitive and may carry inner whitespace (``< /think >``,
``<| end_of_thought |>``); any tag may be missing.  All regexes here are literal tags with bounded
``\\s*`` runs, so splitting is linear in the text length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ThinkFormat = Literal["think_tags", "sky_t1", "none", "auto"]

_THINK_OPEN = re.compile(r"<\s*think\s*>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"<\s*/\s*think\s*>", re.IGNORECASE)


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


def _no_think(text: str) -> ThinkSplit:
    return ThinkSplit(0, 0, 0, len(text), True)


def _unclosed(think_start: int, text: str) -> ThinkSplit:
    n = len(text)
    return ThinkSplit(think_start, n, n, n, False)


def detect_think_format(text: str) -> ThinkFormat:
    """Guess the think delimiters used in ``text``: ``sky_t1``, ``think_tags`` or ``none`` (docs/concepts.md §1)."""
    if _SKY_ANY.search(text):
        return "sky_t1"
    if _THINK_OPEN.search(text) or _THINK_CLOSE.search(text):
        return "think_tags"
    return "none"


def _split_think_tags(text: str) -> ThinkSplit:
    """``<think>…</think>`` (opening tag optional, as in R1 chat templates)."""
    opening = _THINK_OPEN.search(text)
    think_start = opening.end() if opening else 0
    closing = _THINK_CLOSE.search(text, think_start)
    if closing is None:
        return _unclosed(think_start, text) if opening else _no_think(text)
    return ThinkSplit(think_start, closing.start(), closing.end(), len(text), True)


def _split_sky_t1(text: str) -> ThinkSplit:
    """``<|begin_of_thought|>…<|end_of_thought|>`` + ``<|begin_of_solution|>…<|end_of_solution|>``."""
    begin_thought = _SKY_BEGIN_THOUGHT.search(text)
    think_start = begin_thought.end() if begin_thought else 0
    end_thought = _SKY_END_THOUGHT.search(text, think_start)
    after_think = end_thought.end() if end_thought else think_start
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

    answer_start = begin_solution.end() if begin_solution else (end_thought.end() if end_thought else think_end)
    end_solution = _SKY_END_SOLUTION.search(text, answer_start)
    answer_end = end_solution.start() if end_solution else len(text)
    return ThinkSplit(think_start, think_end, answer_start, answer_end, True)


def split_think(text: str, fmt: ThinkFormat = "auto") -> ThinkSplit:
    """Split ``text`` into think and answer spans with the delimiters ``fmt`` (docs/concepts.md §1, Trace).

    See the module docstring for the rules of each format.  Never raises on any string.
    """
    if fmt == "auto":
        fmt = detect_think_format(text)
    if fmt == "think_tags":
        return _split_think_tags(text)
    if fmt == "sky_t1":
        return _split_sky_t1(text)
    if fmt == "none":
        return _no_think(text)
    raise ValueError(f"unknown think format {fmt!r}")
