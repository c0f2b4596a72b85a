"""Segment a part of a trace into steps (docs/concepts.md §3.1).

``segment(text, method, start, end)`` splits ``text[start:end]`` into contiguous spans that tile
the range exactly (no gaps, no overlaps, absolute offsets into ``text``), so
``"".join(text[s.start:s.end] for s in spans) == text[start:end]`` always holds and steps keep
their character offsets (token offsets: ``tokens.char_to_token_offsets``).

Methods:

* ``lines`` -- a cut after every ``"\\n"``.
* ``paragraphs`` -- a cut after every run of blank lines (the blank lines end the paragraph
  before them).
* ``markers`` -- a cut before every ``Step k:`` / ``Step k.`` marker that starts a line (optionally
  after markdown ``#``, ``*``, ``>``), and after every Math-Shepherd step tag ``ки``.  Text before a
  marker on the *same* line (e.g. the problem that precedes ``Step 1:`` in Math-Shepherd ``input``)
  stays with that step; pass ``start`` to skip it.
* ``reasoning`` -- for long chain-of-thought: paragraph cuts plus a cut before each discourse pivot
  ("Wait", "Alternatively", "Let me check", "Hmm", "So the answer", …, see ``PIVOT_PHRASES``) that
  starts a sentence or a line; "But" counts as a pivot only at the start of a line.  Fragments
  shorter than ``min_chars`` are merged into a neighbour: forward when they open a thought (a
  pivot, a heading such as ``**Final Answer**`` or a line ending with ``:``), backward otherwise.

All methods merge whitespace-only fragments into the previous span (into the next one at the very
start).  ``min_chars`` applies to ``reasoning`` only: the other methods keep one span per source
line/paragraph/marker so that step counts match the source format (Math-Shepherd, ProcessBench).

Every regex here is linear-time (alternations of literals, single ``*``/``+`` runs, no nested
quantifiers), and the merging passes are linear, so megabyte single-line texts are fine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

SegmenterName = Literal["lines", "paragraphs", "markers", "reasoning"]

SEGMENTERS: tuple[SegmenterName, ...] = ("lines", "paragraphs", "markers", "reasoning")

DEFAULT_MIN_CHARS = 40
"""Fragments shorter than this (in characters) are merged by the ``reasoning`` segmenter."""

LONG_TEXT_CHARS = 2000
"""``choose_segmenter`` picks ``reasoning`` for texts longer than this."""

PIVOT_PHRASES: tuple[str, ...] = (
    "But wait", "Wait", "Alternatively", "Hold on", "But hold on", "Actually",
    "On second thought", "Hmm", "Oh", "Double-check", "Double check", "Double-checking",
    "Let me check", "Let me verify", "Let me double-check", "Let me double check",
    "Let me recheck", "Let me re-check", "Let me re-examine", "Let me reexamine",
    "Let me reconsider", "Let me think again", "Let me confirm", "Let me try again",
    "Let me try another", "Let me see if", "Let me go back",
    "Let's check", "Let's verify", "Let's double-check", "Let's recheck", "Let's confirm",
    "Another approach", "Another way", "Maybe I made a mistake", "I think I made a mistake",
    "So the answer", "So, the answer", "So the final answer", "So, the final answer",
    "Therefore, the answer", "Therefore the answer", "Therefore, the final answer",
    "Thus, the answer", "Thus the answer", "Hence, the answer", "Hence the answer",
)
"""Discourse pivots that open a new reasoning step when they start a sentence or a line."""


def _phrase_pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first so "But wait" wins over "But"; ``Hmm+`` also catches "Hmmm".
    alternatives = [re.escape(p) for p in sorted(set(phrases), key=len, reverse=True)]
    alternatives = [a if a != "Hmm" else "Hmm+" for a in alternatives]
    return re.compile(r"(?:" + "|".join(alternatives) + r")(?![\w-])")


_PIVOT = _phrase_pattern(PIVOT_PHRASES)
_LINE_START_PIVOT = re.compile(r"But(?![\w-])")
_NEWLINE = re.compile(r"\n")
_BLANK_LINES = re.compile(r"\n(?:[ \t\r\f\v]*\n)+")
_STEP_MARKER = re.compile(r"^[ \t>*#_]*Step[ \t]*\d+[ \t]*[:.]", re.MULTILINE | re.IGNORECASE)
_SHEPHERD_TAG = re.compile(r"(?<!\w)ки(?!\w)")
_STEP_ONE = re.compile(r"^[ \t>*#_]*Step[ \t]*1[ \t]*[:.]", re.MULTILINE | re.IGNORECASE)
_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")
_NON_SPACE = re.compile(r"\S")

_MARKUP = "*_#>"
_INLINE_SPACE = " \t"
_SENTENCE_END = ".!?"
_CLOSERS = ")]\"'”’$"


@dataclass(frozen=True)
class Span:
    """A half-open character span ``[start, end)`` of a trace (docs/concepts.md §1 Step)."""

    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start


def _cuts_lines(sub: str) -> list[int]:
    return [m.end() for m in _NEWLINE.finditer(sub)]


def _cuts_paragraphs(sub: str) -> list[int]:
    return [m.end() for m in _BLANK_LINES.finditer(sub)]


def _cuts_markers(sub: str) -> list[int]:
    cuts = [m.start() for m in _STEP_MARKER.finditer(sub)]
    cuts += [m.end() for m in _SHEPHERD_TAG.finditer(sub)]
    return cuts


def _pivot_cut(sub: str, pos: int, *, line_start_only: bool) -> int | None:
    """Where to cut for a pivot phrase at ``pos``, or None if it does not open a sentence/line.

    Markdown emphasis right before the phrase (``**Wait**``) goes with the phrase; the spaces
    before it stay with the previous fragment.
    """
    k = pos
    while k > 0 and sub[k - 1] in _MARKUP:
        k -= 1
    j = k
    while j > 0 and sub[j - 1] in _INLINE_SPACE:
        j -= 1
    if j == 0 or sub[j - 1] == "\n":
        return k
    if line_start_only or j == k:
        return None
    before = sub[j - 1]
    if before in _SENTENCE_END:
        return k
    if before in _CLOSERS and j >= 2 and sub[j - 2] in _SENTENCE_END:
        return k
    return None


def _cuts_reasoning(sub: str) -> list[int]:
    cuts = _cuts_paragraphs(sub)
    for m in _PIVOT.finditer(sub):
        cut = _pivot_cut(sub, m.start(), line_start_only=False)
        if cut is not None:
            cuts.append(cut)
    for m in _LINE_START_PIVOT.finditer(sub):
        cut = _pivot_cut(sub, m.start(), line_start_only=True)
        if cut is not None:
            cuts.append(cut)
    return cuts


_CUTTERS = {
    "lines": _cuts_lines,
    "paragraphs": _cuts_paragraphs,
    "markers": _cuts_markers,
    "reasoning": _cuts_reasoning,
}


def _fragments(length: int, cuts: list[int]) -> list[tuple[int, int]]:
    """Tile ``[0, length)`` at the given cut positions (unsorted, possibly repeated)."""
    bounds = sorted({c for c in cuts if 0 < c < length})
    edges = [0, *bounds, length]
    return list(zip(edges, edges[1:]))


def _merge_whitespace(sub: str, frags: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merge whitespace-only fragments into the previous fragment (the next one at the start).

    Each fragment is scanned once, on its own span, so a million blank lines stay linear.
    """
    out: list[tuple[int, int]] = []
    leading: int | None = None  # start of the whitespace-only fragments before the first step
    for s, e in frags:
        if _NON_SPACE.search(sub, s, e) is None:
            if out:
                out[-1] = (out[-1][0], e)
            elif leading is None:
                leading = s
            continue
        if leading is not None:
            s, leading = leading, None
        out.append((s, e))
    if leading is not None:  # the whole range is whitespace
        out.append((leading, len(sub)))
    return out


def _opens_thought(sub: str, s: int, e: int) -> bool:
    """True if the fragment ``sub[s:e]`` introduces what follows (pivot, heading, "…:")."""
    body = sub[s:e].strip()
    if not body:
        return False
    stripped = body.lstrip(_MARKUP + " \t")
    if _PIVOT.match(stripped) or _LINE_START_PIVOT.match(stripped):
        return True
    return body.endswith(":") or body.startswith("#") or (
        body.startswith("**") and body.endswith("**")
    )


def _merge_short(sub: str, frags: list[tuple[int, int]], min_chars: int) -> list[tuple[int, int]]:
    """Merge fragments shorter than ``min_chars`` into a neighbour (see module docstring)."""
    out: list[tuple[int, int]] = []
    carry: int | None = None
    last = len(frags) - 1
    for i, (s, e) in enumerate(frags):
        if carry is not None:
            s, carry = carry, None
        if e - s >= min_chars:
            out.append((s, e))
            continue
        if i < last and (not out or _opens_thought(sub, s, e)):
            carry = s
        elif out:
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def segment(
    text: str,
    method: SegmenterName,
    start: int = 0,
    end: int | None = None,
    *,
    min_chars: int = DEFAULT_MIN_CHARS,
) -> list[Span]:
    """Split ``text[start:end]`` into step spans with ``method`` (docs/concepts.md §3.1).

    Returns spans in absolute offsets of ``text`` that tile ``[start, end)`` exactly; an empty
    range gives ``[]``.  ``start``/``end`` are clamped to the text.  ``min_chars`` is used by the
    ``reasoning`` method only.
    """
    try:
        cutter = _CUTTERS[method]
    except KeyError:
        raise ValueError(f"unknown segmenter {method!r}; expected one of {SEGMENTERS}") from None
    n = len(text)
    end = n if end is None else max(0, min(end, n))
    start = max(0, min(start, end))
    if start == end:
        return []
    sub = text[start:end]
    frags = _merge_whitespace(sub, _fragments(len(sub), cutter(sub)))
    if method == "reasoning" and min_chars > 0:
        frags = _merge_short(sub, frags, min_chars)
    return [Span(start + s, start + e) for s, e in frags]


def choose_segmenter(text: str) -> SegmenterName:
    """Default segmenter for ``text`` (docs/concepts.md §3.1).

    ``markers`` if it has Math-Shepherd ``ки`` tags; ``reasoning`` if longer than
    ``LONG_TEXT_CHARS`` (a long chain of thought may contain a local "Step 1:" list, which must not
    turn the whole thought into a handful of marker steps); ``markers`` if it has "Step 1:"
    markers; ``paragraphs`` if it has blank lines; else ``lines``.
    """
    if _SHEPHERD_TAG.search(text):
        return "markers"
    if len(text) > LONG_TEXT_CHARS:
        return "reasoning"
    if _STEP_ONE.search(text):
        return "markers"
    if _BLANK_LINE.search(text):
        return "paragraphs"
    return "lines"
