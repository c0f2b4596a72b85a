"""Overthinking (t*, overthinking ratio, re-verifications) and underthinking (docs/concepts.md §3.4).

* **t\\*** -- the first step of the thinking in which the reference answer is reached: the step
  holding the first of ``mismatch.reached_answers`` (boxed / "answer is" / "Answer:" per
  paragraph, and sentence-closing values such as ``126 - 84 = 42`` or "So, the area is 42"; see
  that module for the exact rules) that states the reference (``mismatch.states_answer``:
  ``answers.grade`` after a cheap screen; an unevaluated computation that happens to equal a
  numeric reference does not count).
* **overthinking_ratio** -- tokens after the reference is first reached / tokens of the thinking;
  0 when the reference is never reached (docs/concepts.md §3.4).  The count starts at the end of the answer
  that reaches it, not at the end of step t\\*: a long step (a whole thinking written as one
  paragraph) would otherwise hide everything the thinking spends after reaching it.
* **re-verifications** -- the verification cues (``behaviours.PATTERNS["verification"]``) after
  that point: checking an answer that was already right.
* **underthinking** -- *thought switches* (Wang et al. 2025, "Thoughts Are All Over the Place"):
  cue phrases of abandoning an approach for another, counted before the final correct path
  begins.  That path begins at the last switch before the correct answer is first reached (the
  start of the thinking if there is none), so ``switches_before_correct_path`` counts the
  approaches given up before the one that worked.

The switch phrases are not ``segmentation.PIVOT_PHRASES``: those pivots also open verifications
("Let me check") and conclusions ("So the answer"), which are steps of the same approach, while a
thought switch is a change of approach; "Wait, maybe" and "Let me reconsider" are switches but not
every "Wait" is.

Token counts use the real tokenizer's offsets when given (``token_starts``: the character offset
where each token of the whole text starts, ascending), else the approximation of
``tokens.token_starts``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from traces.analysis.answers import AnswerType, ExtractedAnswer
from traces.analysis.behaviours import PATTERNS, PhraseMatch, clamp_range, find_phrases, phrase_pattern
from traces.analysis.mismatch import first_stating, reached_answers
from traces.analysis.segmentation import Span
from traces.analysis.think import ThinkSplit
from traces.analysis.tokens import token_starts as approximate_token_starts
from traces.analysis.tokens import tokens_in

SWITCH_PHRASES: tuple[str, ...] = (
    "alternatively", "another approach", "another way", "another method", "another idea",
    "a different approach", "a different way", "a different method",
    "let me try another", "let me try a different", "let's try another", "let's try a different",
    "let me try again", "let's try again", "let me think differently", "let me think again",
    "maybe I should try", "perhaps I should try", "wait, maybe", "wait, perhaps",
    "on second thought", "let me reconsider", "let me start over", "instead, let's",
    "instead, let me", "let me approach this differently", "let's approach this differently",
)
"""Cues of a thought switch (docs/concepts.md §3.4 underthinking); a heuristic list, see the module docstring."""

SWITCH_PATTERN = phrase_pattern(SWITCH_PHRASES)


@dataclass(frozen=True)
class Overthinking:
    """Where the thinking first reaches the reference answer and what it spends after (docs/concepts.md §3.4).

    ``t_star`` is the index of that step in the given steps (None: never reached) and
    ``first_correct`` the answer found there (absolute offsets; its ``start`` is where to put the
    t* marker).  ``tail_start`` is where that answer ends: ``tokens_after`` counts the tokens from
    there to the end of the thinking (the stretch a viewer shades).
    """

    t_star: int | None
    first_correct: ExtractedAnswer | None
    tail_start: int | None
    think_tokens: int
    tokens_after: int
    reverifications: tuple[PhraseMatch, ...]

    @property
    def ratio(self) -> float:
        """``overthinking_ratio`` = tokens after t* / think tokens; 0 if never reached (docs/concepts.md §3.4)."""
        return self.tokens_after / self.think_tokens if self.think_tokens else 0.0


@dataclass(frozen=True)
class Underthinking:
    """Thought switches of the thinking and where its final correct path begins (docs/concepts.md §3.4).

    ``correct_path_start`` and ``switches_before_correct_path`` are None when the reference is
    never reached.
    """

    switches: tuple[PhraseMatch, ...]
    correct_path_start: int | None
    switches_before_correct_path: int | None


def reasoning_range(split: ThinkSplit) -> tuple[int, int]:
    """The span whose thinking docs/concepts.md §3.4 measures: the think part, or the whole answer part when
    the completion has no think delimiters (a model that reasons inline)."""
    if split.has_think:
        return split.think_start, split.think_end
    return split.answer_start, split.answer_end


def resolve_token_starts(text: str, token_starts: Sequence[int] | None) -> Sequence[int]:
    """``token_starts`` if given, else the approximate token starts of ``text``."""
    return approximate_token_starts(text) if token_starts is None else token_starts


def measure_overthinking(
    text: str,
    steps: Sequence[Span],
    reference: str | None,
    *,
    answer_type: AnswerType = "math",
    token_starts: Sequence[int] | None = None,
    reached: list[ExtractedAnswer] | None = None,
    problem: str | None = None,
) -> Overthinking:
    """t*, overthinking ratio and re-verifications of the thinking tiled by ``steps`` (docs/concepts.md §3.4).

    ``steps`` are the step spans of the thinking in text order (e.g. ``segmentation.segment`` of
    ``reasoning_range``); the thinking runs from the first step's start to the last step's end.
    ``reached``: the ``mismatch.reached_answers`` of that range, when already computed.
    ``problem``: the problem's text, where a multiple-choice problem lists its options (an
    option's text in the thinking reaches its letter).
    No steps or no reference: nothing is reached.  Never raises.
    """
    if not steps:
        return Overthinking(None, None, None, 0, 0, ())
    start, end = clamp_range(text, steps[0].start, steps[-1].end)
    starts = resolve_token_starts(text, token_starts)
    think_tokens = tokens_in(starts, start, end)
    found = None
    if reference:
        reached = reached_answers(text, start, end) if reached is None else reached
        found = first_stating(reached, reference, answer_type, problem=problem)
    if found is None:
        return Overthinking(None, None, None, think_tokens, 0, ())
    t_star = max(0, bisect_right([s.start for s in steps], found.start) - 1)
    after = max(start, min(found.end, end))
    return Overthinking(
        t_star=t_star,
        first_correct=found,
        tail_start=after,
        think_tokens=think_tokens,
        tokens_after=tokens_in(starts, after, end),
        reverifications=find_phrases(PATTERNS["verification"], "verification", text, after, end),
    )


def measure_underthinking(
    text: str, start: int, end: int, first_correct: ExtractedAnswer | None
) -> Underthinking:
    """Thought switches in ``text[start:end]`` and those before the final correct path (docs/concepts.md §3.4).

    ``first_correct`` is ``Overthinking.first_correct`` (None: the reference is never reached).
    """
    start, end = clamp_range(text, start, end)
    switches = find_phrases(SWITCH_PATTERN, "thought_switch", text, start, end)
    if first_correct is None:
        return Underthinking(switches, None, None)
    before = [s for s in switches if s.start < first_correct.start]
    path_start = before[-1].start if before else start
    return Underthinking(switches, path_start, max(0, len(before) - 1))
