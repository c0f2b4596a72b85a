"""Answers reached inside the thinking, think–answer mismatch and truncation (docs/concepts.md §3.2, §3.3).

*Reached answers* (``reached_answers``) are every answer a reasoning text states along the way, in
text order.  Two kinds of candidates, both heuristics:

1. **Stated answers** -- ``answers.extract_answer`` applied to each paragraph (blank-line
   segmentation): the last ``\\boxed{}``, ``#### N``, "the answer is …", "Answer: …" or "Option C
   is the most accurate" of the paragraph (kinds ``boxed``, ``gsm8k``, ``answer_is``…).  One per
   paragraph: a paragraph's last stated answer is its conclusion.
2. **Conclusions and results** -- the answers sentences state in prose (``conclusions``: "So,
   the area is 42", "This totals to 98 pens", ``126 - 84 = 42``).

The rules trade recall for precision: an answer only stated inside running prose without a cue
("there are 9 of them") is not a candidate, which delays t* (docs/concepts.md §3.4) rather than
placing it on an unrelated value.  Results are intermediate values as often as answers: they count
for "was the answer reached" (t*, thinking support) but the *conclusion of the thinking*
(``think_conclusion``) is the last stated answer or conclusion, a result only when there is
nothing else; a thinking that only lays out a plan reaches no answer, so its conclusion is
undetermined.

*Mismatch* holds the thinking's conclusion against the final answer with ``answers.grade``
(units, words, option letters and texts as a careful grader reads them; a list of solutions as its
values): a mismatch only when the grader finds them different, undetermined when it cannot decide.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from traces.analysis.answers import (
    AnswerType,
    ExtractedAnswer,
    canonical_answer_type,
    extract_answer,
    grade,
    infer_answer_type,
    normalize_answer,
)
from traces.analysis.behaviours import clamp_range
from traces.analysis.conclusions import conclusion, sentences, solution_values
from traces.analysis.segmentation import segment
from traces.analysis.think import ThinkSplit

MAX_GRADED_ANSWERS = 100
"""At most this many distinct reached answers of one text are graded against one target.

Grading may call math-verify (milliseconds to seconds per pair); the cap bounds the work on a
pathological text.  Real long traces state at most a few dozen distinct answers."""

MismatchVerdict = Literal["match", "mismatch", "undetermined"]

_LATEX_NAME = re.compile(r"\\(?:begin|end)\{[A-Za-z*]*\}|\\[A-Za-z]+")
_TRANSCENDENTAL_FUNCTIONS = "sin|cos|tan|cot|sec|csc|arcsin|arccos|arctan|log|ln|exp"
_FUNCTION_NAME = re.compile(rf"(?<![A-Za-z])(?:sqrt|pi|infty|{_TRANSCENDENTAL_FUNCTIONS})(?![A-Za-z])")
_FUNCTION_CALL = re.compile(rf"(?<![A-Za-z])(?:{_TRANSCENDENTAL_FUNCTIONS})(?![A-Za-z])")
_PI = re.compile(r"\\pi(?![A-Za-z])|π")
_TRAILING_UNIT = re.compile(r"(?<=[\d}])[A-Za-z]{2,}(?:\^\{?\d\}?)?\Z")
_LETTER = re.compile(r"[A-Za-z]")
_MID_SENTENCE_END = re.compile(  # a comma, an operator, an opening bracket, a LaTeX command, a word that opens
    r"(?:[,+\-−×*/=(\[{]|\\[A-Za-z]+|\b(?i:and|or|the|a|an|of|to|so|then|that|which|is|are|with|by|for|in|if|"
    r"but|because|since|when|where|while|alternatively|wait|now|next|let))\s*\Z"
)


@dataclass(frozen=True)
class Mismatch:
    """Think–answer mismatch of one trace (docs/concepts.md §3.3).

    ``verdict`` compares the conclusion of the think part (``think_conclusion``) with the final
    answer: ``undetermined`` when either is missing or the grader cannot decide (an LLM judge may settle
    it later).  ``unsupported`` ("answer without thinking support"): no answer reached in the
    think part is equivalent to the final answer; None when there is no think part or no final
    answer.  ``think_empty``: a think block exists but holds only whitespace.  ``truncated``:
    the think block never closes or ``finish_reason`` is ``length``.
    """

    verdict: MismatchVerdict
    method: str
    think_answer: ExtractedAnswer | None
    final_answer: ExtractedAnswer | None
    unsupported: bool | None
    think_empty: bool
    truncated: bool


def _stated_answers(text: str, start: int, end: int) -> Iterator[ExtractedAnswer]:
    """``extract_answer`` of each paragraph of ``text[start:end]``, in absolute offsets."""
    for para in segment(text, "paragraphs", start, end):
        found = extract_answer(text[para.start : para.end], closing=False)
        if found is not None:
            yield ExtractedAnswer(found.text, found.kind, para.start + found.start, para.start + found.end)


def reached_answers(text: str, start: int = 0, end: int | None = None) -> list[ExtractedAnswer]:
    """Every answer stated in ``text[start:end]``, in text order (docs/concepts.md §3.2–3.4; module docstring).

    Offsets are absolute in ``text``.  A conclusion overlapping a stated answer is dropped (the
    stated answer is kept).  Never raises.
    """
    start, end = clamp_range(text, start, end)
    stated = list(_stated_answers(text, start, end))
    taken = {(a.start, a.end) for a in stated}
    spans = sorted(taken)
    found = list(stated)
    index = 0
    for s, e in sentences(text, start, end):
        concluded = conclusion(text, s, e)
        if concluded is None:
            continue
        while index < len(spans) and spans[index][1] <= concluded.start:
            index += 1
        if index < len(spans) and spans[index][0] < concluded.end:
            continue  # overlaps a stated answer
        found.append(concluded)
    found.sort(key=lambda a: (a.start, a.end))
    return found


def _without_unit(answer: str) -> str:
    """The normalised answer without a unit word after its last number (``864in^2`` → ``864``)."""
    return _TRAILING_UNIT.sub("", normalize_answer(answer))


def _shape(answer: str) -> tuple[int, int, frozenset[str]]:
    """Commas, matrix cells and free letters of a normalised answer: (2, 0, {}) for
    ``(3, \\frac{\\pi}{2})`` and for a column vector of three (normalised as a tuple), (0, 3, {}) for
    a 2×2 matrix (``&`` and ``\\\\`` between cells).

    LaTeX command names, plain function names (``sqrt``, ``pi``…) and a unit word after the
    last number are not free letters.  Cells are counted before normalising, which takes the
    space out of a ``\\\\ `` row break (``\\ `` is a LaTeX space).
    """
    norm = _without_unit(answer)
    letters = _LETTER.findall(_FUNCTION_NAME.sub(" ", _LATEX_NAME.sub(" ", norm)))
    cells = answer.count("&") + answer.count("\\\\") if "&" in answer else 0  # a column vector is a tuple
    return norm.count(","), cells, frozenset(letters)


def _only_one_has_pi(a: str, b: str) -> bool:
    """One answer is a multiple of π and the other is algebraic, so they differ: true when just
    one mentions π and neither has a function that could turn π into an algebraic number
    (``\\arccos\\frac{1}{2}`` is π/3, ``\\sin\\pi`` is 0)."""
    return bool(_PI.search(a)) != bool(_PI.search(b)) and not (_FUNCTION_CALL.search(a) or _FUNCTION_CALL.search(b))


def _is_plain_number(answer: str) -> bool:
    """A number or simple fraction, possibly followed by a unit word ("40 calories")."""
    return infer_answer_type(_without_unit(answer)) == "numeric"


def _for_numeric_grading(answer: str) -> str:
    """``answer`` without a unit word after its number, else unchanged (keeps ``%`` for ``grade``)."""
    norm = normalize_answer(answer)
    stripped = _TRAILING_UNIT.sub("", norm)
    return stripped if stripped != norm else answer


def states_answer(candidate: str, target: str, answer_type: AnswerType = "math", *, problem: str | None = None) -> bool:
    """Whether a reached answer states ``target`` (docs/concepts.md §3.3, §3.4): ``answers.grade`` after a
    cheap screen that spares slow math-verify calls when many candidates meet one target.

    * A plain-number target (``infer_answer_type`` says numeric) is stated only by a plain
      number, a unit word after it ignored ("40 calories" states 40):
      ``\\frac{37}{8} \\cdot \\frac{8}{37}`` equals 1 but is a computation on the way, not the
      statement of 1.  Such pairs are graded on the cheap numeric path only.
    * A plain number does not state any other target: ``1.5708`` approximates ``\\frac{\\pi}{2}``,
      and references that are not plain numbers are irrational or symbolic (``3\\sqrt{13}``).
    * Otherwise both need the same number of elements (commas) and matrix cells and the same free
      letters (``2`` cannot state ``p - q``, ``4`` cannot state ``(1, -2)``, ``\\pm 1`` not a
      matrix), and both or neither mention π unless a function is involved (``\\frac{3\\sqrt{2}}{2}``
      cannot state ``\\pi``), before ``grade`` runs.  A candidate applying a function the target
      does not (``\\frac{\\sin 100^\\circ}{\\cos 100^\\circ}`` for ``-\\sqrt{3}``) is a computation on
      the way, as above, whatever its value.
    * A list of one unknown's solutions ("x = 3, x = 5, and x = 7") is screened and graded as
      its values ("3, 5, 7").
    * Choice and text answers go straight to ``grade`` (with the ``problem`` text, an option's
      text states its letter).
    """
    answer_type = canonical_answer_type(answer_type)
    if answer_type not in ("choice", "text"):
        candidate = solution_values(candidate) or candidate
        if _is_plain_number(target):
            if not _is_plain_number(candidate):
                return False
            verdict = grade(_for_numeric_grading(candidate), _for_numeric_grading(target), "numeric")
            return verdict.correct is True
        if _is_plain_number(candidate) or _shape(candidate) != _shape(target):
            return False
        if _FUNCTION_CALL.search(candidate) and not _FUNCTION_CALL.search(target):
            return False
        if _only_one_has_pi(normalize_answer(candidate), normalize_answer(target)):
            return False
    return grade(candidate, target, answer_type, problem=problem).correct is True


def think_conclusion(reached: list[ExtractedAnswer]) -> ExtractedAnswer | None:
    """The answer a thinking concludes with: its last reached answer that is not a bare
    ``result`` (an intermediate value as often as an answer), else its last result (docs/concepts.md §3.3)."""
    for answer in reversed(reached):
        if answer.kind != "result":
            return answer
    return reached[-1] if reached else None


def is_truncated(split: ThinkSplit, finish_reason: str | None = None, text: str = "") -> bool:
    """Truncated generation (docs/concepts.md §1, §3.3): the thinking was cut off before it closed.

    * an unclosed think block, or ``finish_reason == "length"``;
    * a thinking whose end no delimiter marks (a separate ``reasoning_content``) followed by no
      answer at all: the generation stopped inside it, since a finished thinking is answered;
    * a response without think delimiters that stops mid-sentence: it ends on a comma, an operator,
      an opening bracket or a LaTeX command, or on a word no sentence ends on ("and", "the",
      "Alternatively"…).
    """
    if not split.think_closed or finish_reason == "length":
        return True
    answer_blank = not text[split.answer_start : split.answer_end].strip()
    if split.has_think:
        return answer_blank and bool(text) and not text[split.think_end : split.answer_start].strip()
    return not answer_blank and _MID_SENTENCE_END.search(text, max(split.answer_start, split.answer_end - 20), split.answer_end) is not None


def first_stating(
    candidates: Iterable[ExtractedAnswer], target: str, answer_type: AnswerType = "math", *, problem: str | None = None
) -> ExtractedAnswer | None:
    """The first of ``candidates`` that states ``target`` (``states_answer``).

    Candidates with the same normalised text are graded once; after ``MAX_GRADED_ANSWERS``
    distinct candidates the search gives up (None).
    """
    verdicts: dict[str, bool] = {}
    for candidate in candidates:
        key = normalize_answer(candidate.text)
        if key not in verdicts:
            if len(verdicts) >= MAX_GRADED_ANSWERS:
                return None
            verdicts[key] = states_answer(candidate.text, target, answer_type, problem=problem)
        if verdicts[key]:
            return candidate
    return None


def think_answer_mismatch(
    text: str,
    split: ThinkSplit,
    *,
    answer_type: AnswerType = "math",
    finish_reason: str | None = None,
    reached: list[ExtractedAnswer] | None = None,
    problem: str | None = None,
) -> Mismatch:
    """Compare the conclusion of the thinking with the final answer of ``text`` (docs/concepts.md §3.3).

    ``split`` is ``think.split_think(text, fmt)``; ``answer_type`` is the problem's reference
    type (``math`` when unknown).  The think conclusion is ``think_conclusion`` of the
    ``reached_answers`` of the think part (pass them as ``reached`` when already computed); the
    final answer is ``extract_answer`` of the answer part.  ``problem`` is the problem's text, where
    a multiple-choice problem lists its options.  Never raises.
    """
    think_start, think_end = clamp_range(text, split.think_start, split.think_end)
    answer_start, answer_end = clamp_range(text, split.answer_start, split.answer_end)
    if not split.has_think:
        reached = []
    elif reached is None:
        reached = reached_answers(text, think_start, think_end)
    found = extract_answer(text[answer_start:answer_end])
    final = (
        None
        if found is None
        else ExtractedAnswer(found.text, found.kind, answer_start + found.start, answer_start + found.end)
    )
    think_answer = think_conclusion(reached)
    verdict: MismatchVerdict = "undetermined"
    method = "undetermined"
    if think_answer is not None and final is not None:
        verdict, method = _compare(think_answer.text, final.text, answer_type, problem)
    unsupported = None
    if split.has_think and final is not None:
        unsupported = (
            verdict != "match" and first_stating(reversed(reached), final.text, answer_type, problem=problem) is None
        )
    return Mismatch(
        verdict=verdict,
        method=method,
        think_answer=think_answer,
        final_answer=final,
        unsupported=unsupported,
        think_empty=split.has_think and not text[think_start:think_end].strip(),
        truncated=is_truncated(split, finish_reason, text),
    )


def _compare(concluded: str, final: str, answer_type: AnswerType, problem: str | None) -> tuple[MismatchVerdict, str]:
    """The verdict and grading method of a thinking's conclusion against the final answer:
    ``answers.grade`` of the two (units, words, option texts as a grader reads them), a list of one
    unknown's solutions read as its values ("x = 3 or x = 5" as "3, 5"); undetermined when the
    grader cannot decide."""
    graded = grade(solution_values(concluded) or concluded, solution_values(final) or final, answer_type, problem=problem)
    if graded.correct is None:
        return "undetermined", graded.method
    return ("match" if graded.correct else "mismatch"), graded.method
