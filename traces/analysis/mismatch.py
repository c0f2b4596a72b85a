"""Answers reached inside the thinking, think–answer mismatch and truncation (docs/concepts.md §3.2, §3.3).

*Reached answers* (``reached_answers``) are every answer a reasoning text states along the way, in
text order.  Three kinds of candidates, all heuristics:

1. **Stated answers** -- ``answers.extract_answer`` applied to each paragraph (blank-line
   segmentation): the last ``\\boxed{}``, ``#### N``, "the answer is …" or "Answer: …" of the
   paragraph (kinds ``boxed``, ``gsm8k``, ``answer_is``…).  One per paragraph: a paragraph's last
   stated answer is its conclusion.
2. **Conclusions** (kind ``conclusion``) -- in a sentence opened by a conclusion cue ("So",
   "Thus", "Therefore", "Hence", "Finally", "This means", "We get"…) or with one after a comma
   (", so", ", which gives", ", we get"…), the value right of the last relation (``=``, "is",
   "are", "has", "equals", "gives", "get", "becomes"), up to the sentence end or the closing math
   delimiter: a constant, an expression or a name ("Evelyn"); a leading number of prose ("4
   possible numbers that …" gives 4, "has 9 elements" 9, "two y-intercepts" two); never a lone
   lowercase word ("correct", "equal": a judgement, not an answer), a bare function name
   ("f(x)") nor an English phrase ("always a multiple of 3").  A sentence ending in a colon right
   after its cue or relation ("…, I get:") concludes with the formula displayed on the next line,
   unless the relation is "becomes" (a rewriting).  A list of one unknown's solutions ("the roots
   are x = 3, x = 5, and x = 7") is concluded whole.
3. **Results** (kind ``result``) -- without a cue, a sentence ending in ``= V`` where ``V`` is a
   constant (digits, fractions, roots, π, a few trailing unit words) and the left-hand side is
   one symbol (``n = 8``, ``a_8 = …``, ``f(2) = …``) or a closed computation (``126 - 84 = 42``,
   ``6 times 2 = 12``) -- never an equation in an unknown (``3n + 3 = 27``).

So "= N at the end of a sentence" counts when it is a result, not a premise.  The rules trade
recall for precision: an answer only stated inside running prose without a cue ("there are 9 of
them") is not a candidate, which delays t* (docs/concepts.md §3.4) rather than placing it on an unrelated
value.  Results are intermediate values as often as answers: they count for "was the answer
reached" (t*, thinking support) but the *conclusion of the thinking* (``think_conclusion``) is
the last stated answer or conclusion, a result only when there is nothing else.

The regexes that scan the text are alternations of literals or single character-class runs;
the finer value patterns only ever see one value (at most ``MAX_CONCLUSION_CHARS``) or one
left-hand side (60 characters); sentences are searched over at most ``MAX_SENTENCE_CHARS``.  So
finding reached answers is linear in the length of the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from traces.analysis.answers import (
    NUMBER_WORDS,
    AnswerType,
    ExtractedAnswer,
    extract_answer,
    grade,
    infer_answer_type,
    normalize_answer,
)
from traces.analysis.behaviours import clamp_range
from traces.analysis.segmentation import segment
from traces.analysis.think import ThinkSplit

MAX_CONCLUSION_CHARS = 60
"""A conclusion longer than this (after trimming) is prose, not an answer."""

MAX_SENTENCE_CHARS = 400
"""Only the last this many characters of a longer sentence are searched for a conclusion."""

MAX_GRADED_ANSWERS = 100
"""At most this many distinct reached answers of one text are graded against one target.

Grading may call math-verify (milliseconds to seconds per pair); the cap bounds the work on a
pathological text.  Real long traces state at most a few dozen distinct answers."""

MismatchVerdict = Literal["match", "mismatch", "undetermined"]

_SENTENCE_END = re.compile(r"[.!?](?=\s)|\n")
_CUE = re.compile(
    r"[\s*#>\-]*(?:so|thus|therefore|hence|finally|consequently|this\s+gives|that\s+gives|"
    r"this\s+means|that\s+means|we\s+get|I\s+get|I\s+think|I['’]m\s+confident|"
    r"I\s+am\s+confident|I['’]m\s+sure|I\s+am\s+sure)\b",
    re.IGNORECASE,
)
_MID_CUE = re.compile(
    r"[,;]\s*(?:so|thus|therefore|hence|which\s+gives|which\s+means|which\s+implies|(?=(?:I|we)\s+get\b))\b",
    re.IGNORECASE,
)
# "=" first (then the lookbehind checks the character before it): a literal-first pattern is
# searched in C, not tried at every character.
_EQUALS = re.compile(r"=(?<![<>!=\\:]=)(?!=)")
_CUE_RELATION = re.compile(
    r"(?<![<>!=\\:])=(?!=)|\b(?:is|are|has|equals|gives|get|becomes|being)\b(?!\s+not\b)"
    r"|(?<!\bnot\s)\bequal\s+to\b",
    re.IGNORECASE,
)
_MAX_CUED_RELATIONS = 3
_WHERE_CLAUSE = re.compile(r"[,;]?\s*\bwhere\b", re.IGNORECASE)
_NEGATION = re.compile(r"(?:not|no|never|none)\b", re.IGNORECASE)
_OPENERS = ("\\(", "\\[", "$", "**", ":", ",")
_LIST_SEPARATOR = re.compile(r"\s*,\s*(?:(?:and|or)\s+)?|\s+(?:and|or)\s+")
_SOLVED = re.compile(r"([A-Za-z])\s*=\s*(\S.*)", re.DOTALL)
_DISPLAY_OPENING = re.compile(r"\s*(\\\[|\$\$)")
_CLOSER = re.compile(r"\\\)|\\\]|\$|\*\*")
_TRAILING = " \t.,;:!?"
_MATH_COMMAND = re.compile(
    r"\\(?:[dt]?frac|sqrt|pi|infty|cdot|times|div|pm|mp|circ|left|right|quad|[,;:!])(?![A-Za-z])"
)
_VALUE = re.compile(
    r"[\d\s.,/^_{}()\[\]+\-−–×·*√π∞%°!|]*[\dπ∞][\d\s.,/^_{}()\[\]+\-−–×·*√π∞%°!|]*?"
    r"((?:\s+[A-Za-z]+\.?){0,3})"
)
_FILLERS = re.compile(
    r"(?:indeed|also|exactly|just|still|actually|clearly|simply|now|then|again)\b[\s,]*", re.IGNORECASE
)
_NOT_UNIT_WORDS = frozenset(
    "is are was were be a an the and or of so which that then but for to in on at as by "
    "because since if when where we i it this these those not".split()
)
_LEADING_NUMBER = re.compile(rf"(?:[-+]?\d[\d,]*(?:\.\d+)?|(?i:{'|'.join(NUMBER_WORDS)})\b)(?=\s+[A-Za-z])")
_LOWERCASE_WORD = re.compile(r"[a-z]+")
# "f(x)", "r(x) = f(x)": names of quantities, no value.
_FUNCTION_NAME_ONLY = re.compile(r"[A-Za-z]\s*\(\s*[A-Za-z]\s*\)(?:\s*=\s*[A-Za-z]\s*\(\s*[A-Za-z]\s*\))*")
_ENGLISH_PHRASE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}\s+[A-Za-z]{2,}")
_SYMBOL_LHS = re.compile(
    r"(?:^|[\s(\[{,;:$])(?:[A-Za-z]|\\[A-Za-z]+)(?:_\{?\w{1,3}\}?)?(?:\([^()=]{0,20}\))?\s*\Z"
)
_VALUE_RUN_END = re.compile(r"[\d\s.,/^_{}()\[\]+\-−–×·*√π∞%°!|]+\Z")
_LHS_CHARS = 60
_LATEX_NAME = re.compile(r"\\(?:begin|end)\{[A-Za-z*]*\}|\\[A-Za-z]+")
_TRANSCENDENTAL_FUNCTIONS = "sin|cos|tan|cot|sec|csc|arcsin|arccos|arctan|log|ln|exp"
_FUNCTION_NAME = re.compile(rf"(?<![A-Za-z])(?:sqrt|pi|infty|{_TRANSCENDENTAL_FUNCTIONS})(?![A-Za-z])")
_FUNCTION_CALL = re.compile(rf"(?<![A-Za-z])(?:{_TRANSCENDENTAL_FUNCTIONS})(?![A-Za-z])")
_PI = re.compile(r"\\pi(?![A-Za-z])|π")
_TRAILING_UNIT = re.compile(r"(?<=[\d}])[A-Za-z]{2,}(?:\^\{?\d\}?)?\Z")
_LETTER = re.compile(r"[A-Za-z]")


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


def _sentences(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each sentence of ``text[start:end]``: cut after ``.!?`` + space, at newlines."""
    pos = start
    for m in _SENTENCE_END.finditer(text, start, end):
        if m.start() > pos:
            yield pos, m.start()
        pos = m.end()
    if pos < end:
        yield pos, end


def _trim_value(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink ``[start, end)`` to the value after a relation: drop openers, cut at a closing delimiter."""
    changed = True
    while changed:
        changed = False
        while start < end and text[start].isspace():
            start += 1
        for opener in _OPENERS:
            if text.startswith(opener, start, end):
                start += len(opener)
                changed = True
    closer = _CLOSER.search(text, start, end)
    if closer:
        end = closer.start()
    while end > start and (text[end - 1] in _TRAILING or text[end - 1].isspace()):
        end -= 1
    return start, end


def _is_value(s: str) -> bool:
    """A constant: digits, fractions, roots, π… and up to three trailing unit words ("42 inches")."""
    m = _VALUE.fullmatch(_MATH_COMMAND.sub("·", s))
    return m is not None and not any(w.rstrip(".").lower() in _NOT_UNIT_WORDS for w in m.group(1).split())


def _balanced(s: str) -> bool:
    """Brackets close as often as they open, never before (``k=1}^\\infty`` is a subscript).

    Bracket kinds are not matched to each other: intervals such as ``(-\\infty, 3]`` are values.
    """
    depth = 0
    for c in s:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _is_result_lhs(lhs: str) -> bool:
    """The left of a final ``=`` is one symbol or a closed computation (no unknown in it)."""
    lhs = _MATH_COMMAND.sub("·", lhs).rstrip()
    if _SYMBOL_LHS.search(lhs):
        return True
    run = _VALUE_RUN_END.search(lhs)
    if run is None or not any(c.isdigit() for c in run.group()):
        return False
    before = lhs[: run.start()]
    # A letter glued to the computation is an unknown ("3n + 3"); a whole word is prose ("6 times 2").
    return not before or not before[-1].isalpha() or before[-2:].isalpha()


def _cued_value(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The span of an answer after a conclusion cue, or None if ``text[start:end]`` is prose."""
    value = text[start:end]
    if _is_value(value):
        return start, end
    number = _LEADING_NUMBER.match(value)
    if number:
        return start, start + number.end()
    if (
        _ENGLISH_PHRASE.search(_MATH_COMMAND.sub("·", value))
        or _LOWERCASE_WORD.fullmatch(value)
        or _NEGATION.match(value)
        or _FUNCTION_NAME_ONLY.fullmatch(value)
    ):
        return None
    return start, end


def _value_after(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The trimmed value from ``start`` to the sentence end, or None if empty, long or unbalanced."""
    value_start, value_end = _trim_value(text, start, end)
    filler = _FILLERS.match(text, value_start, value_end)
    if filler:
        value_start = filler.end()
    value = text[value_start:value_end]
    if not value or len(value) > MAX_CONCLUSION_CHARS or not _balanced(value):
        return None
    return value_start, value_end


def _last_cue_end(text: str, start: int, end: int) -> int | None:
    """Where the last conclusion cue of the sentence ends (at its start, or after a comma)."""
    cue_end = None
    opening = _CUE.match(text, start, end)
    if opening:
        cue_end = opening.end()
    for cue_end_match in _MID_CUE.finditer(text, start, end):
        cue_end = cue_end_match.end()
    return cue_end


def _cued_conclusion(text: str, start: int, end: int) -> ExtractedAnswer | None:
    """After a cue, the value right of the last relation that gives one (at most three tried)."""
    cue_end = _last_cue_end(text, start, end)
    if cue_end is None:
        return None
    relations = list(_CUE_RELATION.finditer(text, cue_end, end))
    listed = _listed_solutions(text, [cue_end, *(r.end() for r in relations[:1])], end)
    if listed is not None:
        return listed
    for relation in reversed(relations[-_MAX_CUED_RELATIONS:]):
        value = _value_after(text, relation.end(), end)
        span = None if value is None else _cued_value(text, *value)
        if span is not None:
            return ExtractedAnswer(text[span[0] : span[1]], "conclusion", *span)
    if relations and relations[-1].group().casefold() == "becomes":
        return None  # "the expression becomes:" introduces a rewriting, not a result
    return _displayed_conclusion(text, relations[-1].end() if relations else cue_end, end)


def _listed_solutions(text: str, starts: list[int], end: int) -> ExtractedAnswer | None:
    """"the roots are x = 3, x = 5, and x = 7": the list, when the value from one of ``starts``
    (the cue's end, the first relation's) lists one unknown's values (``_solution_values``)."""
    if text.count("=", starts[0], end) < 2:  # a list of solutions holds an "=" per item: most sentences have none
        return None
    for start in starts:
        value = _value_after(text, start, end)
        if value is not None and _solution_values(text[value[0] : value[1]]) is not None:
            return ExtractedAnswer(text[value[0] : value[1]], "conclusion", *value)
    return None


def _solution_values(answer: str) -> str | None:
    """Two or more values of one unknown, listed as its solutions ("x = 3, x = 5, and x = 7"), as
    the bare list ("3, 5, 7"); None for anything else (``x = 3, y = 5`` names two unknowns)."""
    items = _LIST_SEPARATOR.split(answer.strip())
    solved = [_SOLVED.fullmatch(item) for item in items]
    if len(items) < 2 or not all(solved) or len({m.group(1) for m in solved if m}) != 1:
        return None
    values = [m.group(2) for m in solved if m]
    return ", ".join(values) if all(_is_value(v) for v in values) else None


def _displayed_conclusion(text: str, after: int, end: int) -> ExtractedAnswer | None:
    """"…, I get:" with the value displayed on the next line (``\\[ 2k + 2 \\]``): that value.

    Only when the sentence ends in the colon right after its cue or last relation, and the
    displayed line holds no "=" (an equation displayed there is read as a sentence of its own).
    """
    if text[after:end].strip() != ":":
        return None
    display = _DISPLAY_OPENING.match(text, end, min(len(text), end + MAX_SENTENCE_CHARS))
    if display is None:
        return None
    line_end = text.find("\n", display.end(), display.end() + MAX_SENTENCE_CHARS)
    line_end = min(len(text), display.end() + MAX_SENTENCE_CHARS) if line_end < 0 else line_end
    if _EQUALS.search(text, display.start(1), line_end):
        return None
    value = _value_after(text, display.start(1), line_end)
    span = None if value is None else _cued_value(text, *value)
    return None if span is None else ExtractedAnswer(text[span[0] : span[1]], "conclusion", *span)


def _last_equals(text: str, start: int, end: int) -> re.Match[str] | None:
    """The last ``_EQUALS`` match in ``text[start:end]``, found from the end (most sentences have no "=")."""
    at = text.rfind("=", start, end)
    while at != -1:
        relation = _EQUALS.match(text, at, end)
        if relation:
            return relation
        at = text.rfind("=", start, at)
    return None


def _result(text: str, start: int, end: int) -> ExtractedAnswer | None:
    """A sentence ending in ``= V`` with a constant ``V`` and a result left-hand side."""
    relation = _last_equals(text, start, end)
    if relation is None:
        return None
    value = _value_after(text, relation.end(), end)
    if value is None or not _is_value(text[value[0] : value[1]]):
        return None
    if not _is_result_lhs(text[max(start, relation.start() - _LHS_CHARS) : relation.start()]):
        return None
    return ExtractedAnswer(text[value[0] : value[1]], "result", *value)


def _conclusion(text: str, start: int, end: int) -> ExtractedAnswer | None:
    """The answer closing the sentence ``text[start:end]``, if it states one (module docstring)."""
    start = max(start, end - MAX_SENTENCE_CHARS)
    end = _where_clause_start(text, start, end)
    return _cued_conclusion(text, start, end) or _result(text, start, end)


def _where_clause_start(text: str, start: int, end: int) -> int:
    """Where "…, where q = …" begins in ``text[start:end]`` (it defines, it does not conclude), else ``end``."""
    # A substring test spares the regex scan on the many sentences without "where": only ASCII
    # letters fold onto w, h, e, r under re.IGNORECASE, so lower() keeps every match.
    if "where" not in text[start:end].lower():
        return end
    where = _WHERE_CLAUSE.search(text, start, end)
    return where.start() if where else end


def _stated_answers(text: str, start: int, end: int) -> Iterator[ExtractedAnswer]:
    """``extract_answer`` of each paragraph of ``text[start:end]``, in absolute offsets."""
    for para in segment(text, "paragraphs", start, end):
        found = extract_answer(text[para.start : para.end])
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
    for s, e in _sentences(text, start, end):
        conclusion = _conclusion(text, s, e)
        if conclusion is None:
            continue
        while index < len(spans) and spans[index][1] <= conclusion.start:
            index += 1
        if index < len(spans) and spans[index][0] < conclusion.end:
            continue  # overlaps a stated answer
        found.append(conclusion)
    found.sort(key=lambda a: (a.start, a.end))
    return found


def _without_unit(answer: str) -> str:
    """The normalised answer without a unit word after its last number (``864in^2`` → ``864``)."""
    return _TRAILING_UNIT.sub("", normalize_answer(answer))


def _shape(answer: str) -> tuple[int, int, frozenset[str]]:
    """Commas, matrix cells and free letters of a normalised answer: (2, 0, {}) for
    ``(3, \\frac{\\pi}{2})``, (0, 3, {}) for a 2×2 matrix (``&`` and ``\\\\`` between cells).

    LaTeX command names, plain function names (``sqrt``, ``pi``…) and a unit word after the
    last number are not free letters.  Cells are counted before normalising, which takes the
    space out of a ``\\\\ `` row break (``\\ `` is a LaTeX space).
    """
    norm = _without_unit(answer)
    letters = _LETTER.findall(_FUNCTION_NAME.sub(" ", _LATEX_NAME.sub(" ", norm)))
    return norm.count(","), answer.count("&") + answer.count("\\\\"), frozenset(letters)


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


def states_answer(candidate: str, target: str, answer_type: AnswerType = "math") -> bool:
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
    * Choice and text answers go straight to ``grade``.
    """
    if answer_type not in ("choice", "text"):
        candidate = _solution_values(candidate) or candidate
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
    return grade(candidate, target, answer_type).correct is True


def think_conclusion(reached: list[ExtractedAnswer]) -> ExtractedAnswer | None:
    """The answer a thinking concludes with: its last reached answer that is not a bare
    ``result`` (an intermediate value as often as an answer), else its last result (docs/concepts.md §3.3)."""
    for answer in reversed(reached):
        if answer.kind != "result":
            return answer
    return reached[-1] if reached else None


def is_truncated(split: ThinkSplit, finish_reason: str | None = None) -> bool:
    """Truncated generation (docs/concepts.md §1, §3.3): an unclosed think block, or ``finish_reason == "length"``."""
    return not split.think_closed or finish_reason == "length"


def first_stating(
    candidates: Iterable[ExtractedAnswer], target: str, answer_type: AnswerType = "math"
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
            verdicts[key] = states_answer(candidate.text, target, answer_type)
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
) -> Mismatch:
    """Compare the conclusion of the thinking with the final answer of ``text`` (docs/concepts.md §3.3).

    ``split`` is ``think.split_think(text, fmt)``; ``answer_type`` is the problem's reference
    type (``math`` when unknown).  The think conclusion is ``think_conclusion`` of the
    ``reached_answers`` of the think part (pass them as ``reached`` when already computed); the
    final answer is ``extract_answer`` of the answer part.  Never raises.
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
        graded = grade(think_answer.text, final.text, answer_type)
        method = graded.method
        if graded.correct is not None:
            verdict = "match" if graded.correct else "mismatch"
    unsupported = None
    if split.has_think and final is not None:
        unsupported = verdict != "match" and first_stating(reversed(reached), final.text, answer_type) is None
    return Mismatch(
        verdict=verdict,
        method=method,
        think_answer=think_answer,
        final_answer=final,
        unsupported=unsupported,
        think_empty=split.has_think and not text[think_start:think_end].strip(),
        truncated=is_truncated(split, finish_reason),
    )
