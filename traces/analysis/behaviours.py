"""Reasoning behaviours: where a trace verifies, backtracks, sets subgoals, chains backwards or
reflects (docs/concepts.md §3.5).

Each behaviour is recognised by a list of English cue phrases.  The lists are *heuristics*, chosen
after the cognitive behaviours studied in Gandhi et al. 2025 ("Cognitive Behaviors that Enable
Self-Improving Reasoners": verification, backtracking, subgoal setting, backward chaining) plus the
"aha"/reflection phrases of DeepSeek-R1-style traces.  They count *phrases*, not reasoning acts:
"wait" also appears in "wait time", "verify" in "verify that f is injective".  docs/concepts.md §3.5 asks to
show the counts beside correctness because more reflection is not better; read them as
indicators, never as grades.

Matching is case-insensitive, on word boundaries, with any run of whitespace between the words of
a phrase, ``'`` or ``’`` for apostrophes and a space or hyphen inside "double-check"-style
compounds.  Each pattern is one alternation of the literals, folded into a prefix tree (longest
match first), plus one bounded ``to get X we need`` template for backward chaining, so matching is
linear in the text length.  A pattern opens with the set of characters its phrases can start with,
so the regex engine skips every other character in its C search loop (``phrase_pattern``).  One
scan with the union of the five patterns finds where cues may start, and each behaviour's pattern
is tried only there (``find_behaviours``): 1.75× faster than five scans, with the same matches.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Literal

Behaviour = Literal["verification", "backtracking", "subgoal", "backward_chaining", "reflection"]

VERIFICATION_PHRASES: tuple[str, ...] = (
    "let me check", "let's check", "let me verify", "let's verify", "verify", "verifying",
    "verification", "double-check", "double-checking", "let me confirm", "let's confirm",
    "to confirm", "confirming", "check again", "check my work", "check the answer", "recheck",
    "re-check", "cross-check", "sanity check", "plug back", "plugging back", "plug it back",
    "plug in back", "substitute back", "substituting back", "make sure",
)
"""Cues of checking a result already reached (docs/concepts.md §3.5 verification)."""

BACKTRACKING_PHRASES: tuple[str, ...] = (
    "wait", "that's wrong", "that is wrong", "that's not right", "that is not right",
    "that's incorrect", "that is incorrect", "that can't be right", "that cannot be right",
    "that doesn't make sense", "that does not make sense", "let me reconsider", "reconsider",
    "I made a mistake", "I made an error", "my mistake", "I was wrong", "I messed up",
    "scratch that", "start over", "let me go back", "go back", "on second thought",
)
"""Cues of abandoning or correcting the current line of reasoning (docs/concepts.md §3.5 backtracking)."""

SUBGOAL_PHRASES: tuple[str, ...] = (
    "first, I need to", "first, I'll", "first, let's", "first, let me", "first, we need to",
    "first I need to", "first we need to", "step 1", "step one", "the first step",
    "let's break", "let me break", "break it down", "break this down", "break down the problem",
    "next, I need to", "next, we need to", "then I need to", "I need to find", "we need to find",
    "let's start by", "let me start by", "subproblem", "sub-problem", "subgoal", "sub-goal",
)
"""Cues of splitting the problem into intermediate goals (docs/concepts.md §3.5 subgoal setting)."""

BACKWARD_CHAINING_PHRASES: tuple[str, ...] = (
    "working backwards", "working backward", "work backwards", "work backward",
    "backwards from", "backward from", "reason backwards", "start from the answer",
    "start from the goal", "it suffices to", "it is enough to show", "we need to show",
    "what do we need",
)
"""Cues of reasoning from the goal towards the givens (docs/concepts.md §3.5 backward chaining)."""

BACKWARD_GOAL_TEMPLATE = (
    r"to\s+(?:get|find|obtain|compute|determine|have|make)\b[^.!?;\n]{1,80}?"
    r"\b(?:we|I)\s+(?:need|must|have\s+to|should)\b"
)
""""to get X, we need …": a goal followed by what it requires, within one clause (≤ 80 chars).

Like every cue it starts on a word boundary (``phrase_pattern`` puts it in front)."""

REFLECTION_PHRASES: tuple[str, ...] = (
    "aha", "now I see", "I see now", "oh, I see", "oh I see", "I realize", "I realized",
    "I just realized", "now I realize", "I get it", "I understand now", "now I understand",
    "that makes sense now", "the key insight", "eureka", "it clicks",
    "an aha moment",
)
"""Cues of sudden insight or reflection on one's own reasoning (docs/concepts.md §3.5 "aha"/reflection)."""


#: What a character of a cue phrase matches: any whitespace run, either apostrophe, hyphen or space.
_ATOMS = {" ": r"\s+", "'": "['’]", "-": "[- ]"}


def _atoms(phrase: str) -> tuple[str, ...]:
    """One regex atom per character of a (lower-cased) cue phrase."""
    return tuple(_ATOMS.get(char, re.escape(char)) for char in phrase.lower())


def _trie_regex(phrases: list[tuple[str, ...]]) -> str:
    """An alternation of ``phrases`` (atom sequences) that shares their common prefixes.

    "let me check|let me verify|…" becomes "let\\s+me\\s+(?:check|verify)|…": at a position where
    no phrase starts, the engine rejects after one character instead of trying every phrase, which
    makes the scan several times faster (``benchmarks/analysis_throughput.py``). A shorter phrase
    that is a prefix of a longer one becomes an optional tail, and greedy matching still prefers
    the longest phrase, as a longest-first alternation does. Hand-written because the standard
    ``re`` module has no set-of-strings matcher and the trie-regex packages are unmaintained.
    """
    children: dict[str, list[tuple[str, ...]]] = {}
    ends_here = False
    for atoms in phrases:
        if atoms:
            children.setdefault(atoms[0], []).append(atoms[1:])
        else:
            ends_here = True
    if not children:
        return ""
    branches = [atom + _trie_regex(rests) for atom, rests in sorted(children.items())]
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if ends_here:
        return "(?:" + body + ")?"
    return body


def _first_letter(regex: str) -> str:
    """The ASCII letter a cue regex starts with (``phrase_pattern`` needs one)."""
    first = regex[:1]
    if not (first.isascii() and first.isalpha()):
        raise ValueError(f"a cue must start with an ASCII letter: {regex!r}")
    return first.lower()


def phrase_pattern(phrases: tuple[str, ...], *extra: str) -> re.Pattern[str]:
    """One case-insensitive word-boundary pattern for ``phrases`` (longest first) and ``extra`` regexes.

    Same matches as ``(?<![\\w'’-])(?:trie|extra…)(?![\\w'’-])`` under ``re.IGNORECASE``, written so
    that it opens with a plain character set: ``re`` then scans for that set in C and tries the
    pattern only where a cue can start: 2–3× faster on the Sky-T1 sample than trying it at every
    character.  The set holds both cases of the first letters plus
    every non-ASCII character (a superset of what ``IGNORECASE`` folds onto an ASCII letter, e.g. the
    Kelvin sign onto ``k``); after it, a lookbehind checks the word boundary before that character
    and, per branch of the trie, ``(?<=x)`` checks case-insensitively that it is the branch's first
    letter ``x``.  Each ``extra`` regex must start with an ASCII letter too.
    """
    rests: dict[str, list[tuple[str, ...]]] = {}
    for atoms in sorted({_atoms(p) for p in phrases}):
        rests.setdefault(_first_letter(atoms[0]), []).append(atoms[1:])
    alternatives = [f"(?<={first}){_trie_regex(rest)}" for first, rest in rests.items()]
    alternatives += [f"(?<={_first_letter(regex)}){regex[1:]}" for regex in extra]
    opening = _cue_opening({*rests, *(_first_letter(regex) for regex in extra)})
    return re.compile(opening + "(?i:" + "|".join(alternatives) + r")(?![\w'’-])")


def _cue_opening(first_letters: set[str]) -> str:
    """What opens a cue pattern: a character that may be one of ``first_letters`` (either case,
    or any non-ASCII character), starting a word (``phrase_pattern``)."""
    starts = "".join(letter + letter.upper() for letter in sorted(first_letters)) + "\\x80-\\U0010ffff"
    return f"[{starts}]" + r"(?<![\w'’-](?s:.))"


CUES: dict[Behaviour, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "verification": (VERIFICATION_PHRASES, ()),
    "backtracking": (BACKTRACKING_PHRASES, ()),
    "subgoal": (SUBGOAL_PHRASES, ()),
    "backward_chaining": (BACKWARD_CHAINING_PHRASES, (BACKWARD_GOAL_TEMPLATE,)),
    "reflection": (REFLECTION_PHRASES, ()),
}
"""The cue phrases of each behaviour and the regex templates beside them (docs/concepts.md §3.5)."""

PATTERNS: dict[Behaviour, re.Pattern[str]] = {
    name: phrase_pattern(phrases, *templates) for name, (phrases, templates) in CUES.items()
}
"""The pattern of each behaviour (docs/concepts.md §3.5)."""

_ALL_PHRASES = tuple(phrase for phrases, _ in CUES.values() for phrase in phrases)
_ALL_TEMPLATES = tuple(template for _, templates in CUES.values() for template in templates)
_ANY_CUE = phrase_pattern(_ALL_PHRASES, *_ALL_TEMPLATES)
"""Matches where a cue of any behaviour starts: one scan tells ``find_behaviours`` where to look."""

_CUE_START = re.compile(_cue_opening({_first_letter(regex) for regex in (*_ALL_PHRASES, *_ALL_TEMPLATES)}))
"""A word start where some cue could begin."""


@dataclass(frozen=True)
class PhraseMatch:
    """One cue phrase found at ``text[start:end]`` (absolute offsets), with its ``category``."""

    category: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Behaviours:
    """Every behaviour cue of a range of a trace, in text order (docs/concepts.md §3.5)."""

    matches: tuple[PhraseMatch, ...]

    @property
    def counts(self) -> dict[str, int]:
        """Number of cues per behaviour; every behaviour is present, 0 when absent."""
        found = Counter(m.category for m in self.matches)
        return {name: found[name] for name in PATTERNS}


def clamp_range(text: str, start: int, end: int | None) -> tuple[int, int]:
    """``[start, end)`` clamped into ``text`` (``end`` None is the end of the text)."""
    n = len(text)
    end = n if end is None else max(0, min(end, n))
    return max(0, min(start, end)), end


def find_phrases(
    pattern: re.Pattern[str], category: str, text: str, start: int = 0, end: int | None = None
) -> tuple[PhraseMatch, ...]:
    """Every non-overlapping match of ``pattern`` in ``text[start:end]``, in absolute offsets."""
    start, end = clamp_range(text, start, end)
    return tuple(
        PhraseMatch(category, m.start(), m.end(), m.group())
        for m in pattern.finditer(text, start, end)
    )


def find_behaviours(text: str, start: int = 0, end: int | None = None) -> Behaviours:
    """Counts and positions of the five behaviours in ``text[start:end]`` (docs/concepts.md §3.5).

    A phrase may count for two behaviours ("on second thought" is backtracking only, but a
    "wait, let me check" is one backtracking and one verification cue, and in "first, let me
    check" a subgoal and a verification cue overlap).  The same matches as ``find_phrases`` of
    each pattern of ``PATTERNS``, found with one scan instead of five (``_cue_candidates``), then
    each pattern tried where the scan says a cue may start.  Never raises.
    """
    start, end = clamp_range(text, start, end)
    candidates = _cue_candidates(text, start, end)
    found = []
    for name, pattern in PATTERNS.items():
        free_from = start  # like ``finditer``, a pattern's matches do not overlap each other
        for at in candidates:
            if at >= free_from and (m := pattern.match(text, at, end)):
                found.append(PhraseMatch(name, m.start(), m.end(), m.group()))
                free_from = m.end()
    found.sort(key=lambda m: (m.start, m.end))
    return Behaviours(tuple(found))


def _cue_candidates(text: str, start: int, end: int) -> list[int]:
    """Every position of ``text[start:end]`` where a cue of some behaviour may start, ascending.

    The scan of ``_ANY_CUE`` tries every position outside its previous matches, so a cue of any
    behaviour starts either where it matches or inside one of its matches: those starts, and
    the word starts inside each match, are all the positions a behaviour's pattern needs trying.
    """
    candidates = []
    for cue in _ANY_CUE.finditer(text, start, end):
        candidates.append(cue.start())
        candidates.extend(inner.start() for inner in _CUE_START.finditer(text, cue.start() + 1, cue.end()))
    return candidates
