"""Answers stated in prose: conclusion sentences, results and a response's closing statement
(docs/concepts.md §3.2–3.4).

A reasoning text states most of its answers in sentences, not in ``\\boxed{}`` or "the answer is".
Three readings, all heuristics that trade recall for precision (an answer they miss delays t* or
leaves a verdict undetermined; an answer they invent would be a wrong verdict):

1. **Conclusions** (kind ``conclusion``) -- in a sentence opened by a conclusion cue ("So",
   "Thus", "Therefore", "Hence", "Finally", "This means", "We get", "This totals", "Combining these
   results"…) or with one after a comma (", so", ", which gives", ", we get", ", I find"…), the
   value right of the last relation (``=``, "is", "are", "was", "has", "equals", "gives", "get",
   "becomes", "totals", "makes", "gives … as"), up to the sentence end or the closing math
   delimiter (math opened inside the value stays in it): a constant, an expression or a name
   ("Evelyn"); a leading number of prose ("4 possible numbers that …" gives 4, "two y-intercepts"
   two) but not a multiplier or counts coordinated in a description ("six times the side", "four
   multiplications and one addition"); an option letter with its text ("B: New plant varieties…"
   gives B); a value followed by a clause ("Evelyn with 3.6 units", "-756, which …"); never a lone
   lowercase word ("correct": a judgement), a phrase with an article ("a root"), a bare function
   name ("f(x)") nor an English phrase ("always a multiple of 3").  A cue that is itself a verb
   ("This gives me 100 barrels", "This totals to 98 pens", "That's 98") is followed by its value
   directly; a value or option letter named the answer or an extreme is the subject ("I find that
   2220 is the smallest number …", "I'm confident that B is the correct answer"); a cued sentence
   holding one number and no relation states it ("So he fills three boxes"), unless it sets a
   task or the number is an operand ("So first compute the proper divisors of 284").  A sentence
   ending in a colon right after its cue or relation ("…, I get:") concludes with the formula
   displayed on the next line, unless the relation is "becomes" (a rewriting).  A list of one
   unknown's solutions ("the roots are x = 3, x = 5, and x = 7", each perhaps in its own math) is
   concluded whole.  An equation still to be solved ("so 28 = 2F", "3n + 3 = 27": a constant on one
   side, unknowns on the other) and the value of an approximation ("√120 ≈ √121 = 11") conclude
   nothing.  Without a cue, a sentence naming the one with a superlative property ("Clearly Evelyn
   has the highest average speed") concludes that name.
2. **Results** (kind ``result``) -- without a cue, a sentence ending in ``= V`` (or "is V" after a
   computation on constants: "6 times 7 is 42 inches", "arccos(-0.5) is 120 degrees") where ``V``
   is a constant (digits, fractions, roots, π, a few trailing unit words) and the left-hand side is
   one symbol (``n = 8``, ``a_8 = …``, ``f(2) = …``) or a closed computation (``126 - 84 = 42``,
   ``6 times 2 = 12``) -- never an equation in an unknown (``3n + 3 = 27``) nor an approximation.
3. **Closing statement** (``closing_answer``, kind ``closing``) -- the answer a finished response
   gives in its last sentences without an answer phrase: the last sentence that holds a value is
   read as "V is the (right) answer", a conclusion, "the X is V", or, when it holds a single number
   and no relation, as that number with its unit words ("Billy sold 7 DVDs on Tuesday.", "The
   height is 5 cm."); a sentence naming the one with the property asked for ("Thus, Evelyn's
   average speed is the largest.") answers a "which" or "who" question.  Sentences without a value
   ("I think that's the answer.") are passed over.  A text that stops mid-sentence or right after
   beginning a list was cut off and states no closing answer.

The regexes that scan the text are alternations of literals or single character-class runs;
the finer value patterns only ever see one value (at most ``MAX_CONCLUSION_CHARS``) or one
left-hand side (60 characters); sentences are searched over at most ``MAX_SENTENCE_CHARS``.  So
reading conclusions is linear in the length of the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class ExtractedAnswer:
    """An answer found in a text: its ``text`` (== ``input[start:end]``) and how it was found."""

    text: str
    kind: str  # "boxed" | "gsm8k" | "answer_is" | "answer_colon" | "choice" | "option_is" | "closing" | "conclusion" | "result" | "last_number"
    start: int
    end: int


NUMBER_WORDS = {
    word: value
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}
"""Numbers written as one English word, as reasoning states counts ("there are two solutions")."""

MAX_CONCLUSION_CHARS = 60
"""A conclusion longer than this (after trimming) is prose, not an answer."""

MAX_SENTENCE_CHARS = 400
"""Only the last this many characters of a longer sentence are searched for a conclusion."""

_SENTENCE_END = re.compile(r"[.!?](?=\s)|\n")
_CUE = re.compile(
    r"[\s*#>\-]*(?:so|thus|therefore|hence|finally|consequently|this\s+gives|that\s+gives|"
    r"this\s+means|that\s+means|we\s+get|I\s+get|I\s+think|I['’]m\s+confident|"
    r"I\s+am\s+confident|I['’]m\s+sure|I\s+am\s+sure|(?:this|that)\s+(?:totals|makes|comes\s+to)|"
    r"that['’]s|(?:I|we)\s+(?:end\s+up\s+with|arrived?\s+at)|combining\s+(?:these|the|both)\s+results|"
    r"putting\s+(?:it|this|these|everything)(?:\s+all)?\s+together|(?:I|we)\s+find|in\s+conclusion|in\s+total|altogether|overall)\b",
    re.IGNORECASE,
)
# A cue that is itself the verb of its sentence ("This gives me 100 barrels", "This totals to 98
# pens", "That's 98 again") is followed by its value directly, after an object pronoun or "to".
_VERB_CUE_END = re.compile(
    r"(?:gives|get|totals|makes|comes\s+to|that['’]s|end\s+up\s+with|arrived?\s+at)\Z", re.IGNORECASE
)
_VERB_OBJECT = re.compile(r"\s+(?:(?:me|us|you)\b|to\b)?", re.IGNORECASE)
_MID_CUE = re.compile(
    r"[,;]\s*(?:so|thus|therefore|hence|which\s+gives|which\s+means|which\s+implies|"
    r"(?=(?:I|we)\s+(?:get|find)\b)|(?=I['’]m\s+(?:confident|sure)\b))\b",
    re.IGNORECASE,
)
# "=" first (then the lookbehind checks the character before it): a literal-first pattern is
# searched in C, not tried at every character.
_EQUALS = re.compile(r"=(?<![<>!=\\:]=)(?!=)")
_CUE_RELATION = re.compile(
    r"(?<![<>!=\\:])=(?!=)|\b(?:is|are|was|were|has|equals|gives|get|becomes|being|makes|"
    r"totals(?:\s+to)?|comes\s+to|adds\s+up\s+to|(?<=\bgives\s)[^.=]{0,60}?\bas)\b(?!\s+not\b)"
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
_INLINE_MATH = re.compile(r"\\[()]|\$")
_MATH_OPENERS = {"\\)": "\\(", "\\]": "\\[", "$": "$", "**": "**"}
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
# "4 possible numbers", "two y-intercepts"; never a multiplier or a part ("six times the side", "3 of them").
_LEADING_NUMBER = re.compile(
    rf"(?:[-+]?\d(?:[\d,]*\d)?(?:\.\d+)?|(?i:{'|'.join(NUMBER_WORDS)})\b)"
    r"(?=\s+[A-Za-z])(?!\s+(?:times|more|less|fewer|of|percent\s+of)\b)"
)
_LOWERCASE_WORD = re.compile(r"[a-z]+")
_OPTION_WITH_TEXT = re.compile(r"\(?([A-J])(?:\)|:|\.\s)\s*\S")
_NAMED_AS_ANSWER = re.compile(
    r"\s*(?:indeed\s+|also\s+)?the\s+(?:smallest|largest|greatest|least|only|unique|minimum|maximum|"
    r"correct|right|final|answer|solution|best)\b",
    re.IGNORECASE,
)
_SUBJECT_LEAD = re.compile(  # "I find that", "I'm confident that" before the subject
    r"\s*(?:(?:I|we)\s+(?:find|get|see|think|know)\s+|I['’]m\s+(?:confident|sure)\s+|I\s+am\s+(?:confident|sure)\s+)?"
    r"(?:that\s+)?",
    re.IGNORECASE,
)
_OPTION_LETTER = re.compile(r"\(?[A-J]\)?")
_ARTICLE_PHRASE = re.compile(r"(?:a|an|the)\s+[a-z]")  # "a root", "the same": a description
_TRAILING_CLAUSE = re.compile(r",?\s+(?:with|which|because|since|as|for|when|where|while|that)\b|,\s")
# "f(x)", "r(x) = f(x)": names of quantities, no value.
_FUNCTION_NAME_ONLY = re.compile(r"[A-Za-z]\s*\(\s*[A-Za-z]\s*\)(?:\s*=\s*[A-Za-z]\s*\(\s*[A-Za-z]\s*\))*")
_ENGLISH_PHRASE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}\s+[A-Za-z]{2,}")
_SYMBOL_LHS = re.compile(
    r"(?:^|[\s(\[{,;:$])(?:[A-Za-z]|\\[A-Za-z]+)(?:_\{?\w{1,3}\}?)?(?:\([^()=]{0,20}\))?\s*\Z"
)
_VALUE_RUN_END = re.compile(r"[\d\s.,/^_{}()\[\]+\-−–×·*√π∞%°!|]+\Z")
_LHS_CHARS = 60
_TASK_WORDS = re.compile(
    r"\b(?:need|needs|find|compute|calculate|determine|consider|check|try|let|suppose|assume|if|whether|want|asks?)\b",
    re.IGNORECASE,
)
_AFTER_PREPOSITION = re.compile(r"\b(?:of|by|to|from|with|for|than|into|over|per|at|on)\s+\$?\Z", re.IGNORECASE)
_COUNT_WORDS = "|".join(word for word, value in NUMBER_WORDS.items() if value > 1)
_TRANSCENDENTAL = "arcsin|arccos|arctan|sin|cos|tan|cot|sec|csc|log|ln|exp"
# Words of a computation on constants ("6 times 7 is 42", "arccos(-0.5) is 120 degrees": ``_result``).
_COMPUTATION_WORDS = re.compile(
    rf"(?<![A-Za-z])(?:times|plus|minus|divided\s+by|multiplied\s+by|sqrt|{_TRANSCENDENTAL})(?![A-Za-z])"
)
_IS = re.compile(r"\s(is)\s")
_DIGIT = re.compile(r"\d")
_APPROXIMATELY = re.compile(r"≈|\\approx(?![A-Za-z])")
# "four multiplications and one addition": a count coordinated with another, a description.
_COORDINATED_COUNT = re.compile(rf"\s+[A-Za-z-]+(?:\s+[A-Za-z-]+)?\s*(?:,\s*(?:and\s+)?|\s+and\s+)(?:\d|(?i:one|{_COUNT_WORDS})\b)")
_NUMBER_TOKEN = re.compile(rf"(?<![\w.])[-+]?\$?\d[\d,]*(?:\.\d+)?(?![\w.]*\d)|\b(?i:{_COUNT_WORDS})\b(?!\s+of\b)")
_UNKNOWN = re.compile(r"(?<![A-Za-z\\])[A-Za-z](?![A-Za-z])")
_TIMES_X = re.compile(r"(?<=\d)\s*x\s*(?=\d)")


def sentences(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
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
    for closer in _CLOSER.finditer(text, start, end):
        if not _closes_inner_math(text[start : closer.start()], closer.group()):
            end = closer.start()
            break
    while end > start and (text[end - 1] in _TRAILING or text[end - 1].isspace()):
        end -= 1
    return start, end


def _closes_inner_math(before: str, closer: str) -> bool:
    """Whether ``closer`` closes math opened inside the value (``before`` it), as the ``\\)`` of
    "(3, \\( \\frac{\\pi}{2} \\))", rather than the math the value stands in."""
    opener = _MATH_OPENERS[closer]
    if opener == closer:
        return before.count(opener) % 2 == 1
    return before.count(opener) > before.count(closer)


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
    """The left of a final ``=`` is one symbol or a closed computation (no unknown in it), and no
    approximation ("√120 ≈ √121 = 11" computes a neighbour, not the value)."""
    if _APPROXIMATELY.search(lhs):
        return False
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
    """The span of an answer after a conclusion cue, or None if ``text[start:end]`` is prose.

    An option letter with its text ("B: New plant varieties …") is the letter; a value followed
    by a clause ("Evelyn with 3.6 units", "-756, which corresponds to …") is the value before it."""
    value = text[start:end]
    if _is_value(value):
        return start, end
    letter = _OPTION_WITH_TEXT.match(value)
    if letter:
        return start + letter.start(1), start + letter.end(1)
    number = _LEADING_NUMBER.match(value)
    if number:
        return None if _COORDINATED_COUNT.match(value, number.end()) else (start, start + number.end())
    clause = next((c for c in _TRAILING_CLAUSE.finditer(value) if c.start() and _balanced(value[: c.start()])), None)
    if clause:
        return _cued_value(text, start, start + clause.start())
    if (
        _ENGLISH_PHRASE.search(_MATH_COMMAND.sub("·", value))
        or _LOWERCASE_WORD.fullmatch(value)
        or _ARTICLE_PHRASE.match(value)
        or _NEGATION.match(value)
        or _FUNCTION_NAME_ONLY.fullmatch(value)
    ):
        return None
    return start, end


def _value_after(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The trimmed value from ``start`` to the sentence end, or None if empty, long or unbalanced
    (but for an option's "J) …")."""
    value_start, value_end = _trim_value(text, start, end)
    filler = _FILLERS.match(text, value_start, value_end)
    if filler:
        value_start = filler.end()
    value = text[value_start:value_end]
    if not value or len(value) > MAX_CONCLUSION_CHARS or not (_balanced(value) or _OPTION_WITH_TEXT.match(value)):
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
    """After a cue, the value right of the last relation that gives one (at most three tried);
    after a verb cue with no such relation, the value right after the cue."""
    cue_end = _last_cue_end(text, start, end)
    if cue_end is None:
        return None
    relations = list(_CUE_RELATION.finditer(text, cue_end, end))
    listed = _listed_solutions(text, [cue_end, *(r.end() for r in relations[:1])], end)
    if listed is not None:
        return listed
    first_tried = max(0, len(relations) - _MAX_CUED_RELATIONS)
    for i in reversed(range(first_tried, len(relations))):
        relation = relations[i]
        value = _value_after(text, relation.end(), end)
        span = None if value is None else _cued_value(text, *value)
        if span is not None:
            left_start = max(relations[i - 1].end() if i else cue_end, relation.start() - _LHS_CHARS)
            if relation.group() == "=" and _is_no_result(text[left_start : relation.start()], text[span[0] : span[1]]):
                return None
            return ExtractedAnswer(text[span[0] : span[1]], "conclusion", *span)
    subject = _subject_answer(text, cue_end, relations, end)
    if subject is not None:
        return subject
    if not relations and _VERB_CUE_END.search(text, max(start, cue_end - 20), cue_end):
        object_end = _VERB_OBJECT.match(text, cue_end, end)
        value = _value_after(text, object_end.end() if object_end else cue_end, end)
        span = None if value is None else _cued_value(text, *value)
        if span is not None:
            return ExtractedAnswer(text[span[0] : span[1]], "conclusion", *span)
    if relations and relations[-1].group().casefold() == "becomes":
        return None  # "the expression becomes:" introduces a rewriting, not a result
    displayed = _displayed_conclusion(text, relations[-1].end() if relations else cue_end, end)
    return displayed if displayed is not None or relations else sole_number(text, cue_end, end)


def sole_number(text: str, start: int, end: int) -> ExtractedAnswer | None:
    """The one number of ``text[start:end]``, in digits or a count word ("So he fills three boxes",
    "Billy sold 7 DVDs on Tuesday"), with the unit words after it; None when the text holds another
    number, a relation ("="), or none ("one" is a pronoun as often as a number: never read), when
    it sets a task ("I need to find …", "compute …") or the number follows a preposition ("of 284")."""
    numbers = list(_NUMBER_TOKEN.finditer(text, start, end))
    if len(numbers) != 1 or text.find("=", start, end) >= 0 or _TASK_WORDS.search(text, start, end):
        return None
    if _AFTER_PREPOSITION.search(text, max(start, numbers[0].start() - 12), numbers[0].start()):
        return None  # "the proper divisors of 284", "divided by 3": an operand, not a result
    value = _value_after(text, numbers[0].start(), end)
    span = None if value is None else _cued_value(text, *value)
    return None if span is None else ExtractedAnswer(text[span[0] : span[1]], "conclusion", *span)


def _subject_answer(text: str, cue_end: int, relations: list[re.Match[str]], end: int) -> ExtractedAnswer | None:
    """"(I find that) 2220 is the smallest number that …", "(I'm confident that) B is the correct
    answer": the value or option letter before "is" when what follows names it the answer or an
    extreme; None otherwise."""
    if not relations or relations[0].group().casefold() != "is":
        return None
    if not _NAMED_AS_ANSWER.match(text, relations[0].end(), end):
        return None
    start, stop = cue_end, relations[0].start()
    lead = _SUBJECT_LEAD.match(text, start, stop)
    start = lead.end() if lead else start
    value = _value_after(text, start, stop)
    if value is None:
        return None
    subject = text[value[0] : value[1]]
    if not (_is_value(subject) or _OPTION_LETTER.fullmatch(subject)):
        return None
    return ExtractedAnswer(subject, "conclusion", *value)


def _unknowns(side: str) -> list[str]:
    """The one-letter unknowns of one side of an equation (LaTeX commands, the imaginary unit,
    ``e`` and an ``x`` standing for "times" between numbers are not unknowns)."""
    side = _TIMES_X.sub(" ", _MATH_COMMAND.sub(" ", side))
    return [letter for letter in _UNKNOWN.findall(side) if letter not in "ie"]


def _is_no_result(left: str, right: str) -> bool:
    """``left = right`` states no result: an equation still to be solved, with a constant on one
    side and unknowns on the other ("28 = 2F", "3n + 3 = 27", "2(a + b) = 26"; a lone symbol on the
    left, "n = 8", is a solution, and unknowns on both sides, "x^3 + 0x^2 = x^3", a rewriting), or
    the value of an approximation ("√120 ≈ √121 = 11")."""
    left = left.strip(" \t,;:$")
    if _APPROXIMATELY.search(left):
        return True  # the value of a neighbour ("√120 ≈ √121 = 11"), not of the unknown
    if _is_value(left):
        return bool(_unknowns(right))
    symbol = _SYMBOL_LHS.search(_MATH_COMMAND.sub("·", left).rstrip()) is not None
    return not symbol and bool(_unknowns(left)) and _is_value(right)


def _listed_solutions(text: str, starts: list[int], end: int) -> ExtractedAnswer | None:
    """"the roots are x = 3, x = 5, and x = 7" (each item perhaps in its own math, "\\(x = 3\\) and
    \\(x = 5\\)"): the list, when the rest of the sentence from one of ``starts`` (the cue's end, the
    first relation's) lists one unknown's values (``solution_values``)."""
    if text.count("=", starts[0], end) < 2:  # a list of solutions holds an "=" per item: most sentences have none
        return None
    for start in starts:
        while start < end and text[start] in " \t:,":
            start += 1
        stop = end
        while stop > start and (text[stop - 1] in _TRAILING or text[stop - 1].isspace()):
            stop -= 1
        if stop - start <= 2 * MAX_CONCLUSION_CHARS and solution_values(text[start:stop]) is not None:
            return ExtractedAnswer(text[start:stop], "conclusion", start, stop)
    return None


def solution_values(answer: str) -> str | None:
    """Two or more values of one unknown, listed as its solutions ("x = 3, x = 5, and x = 7"), as
    the bare list ("3, 5, 7"); None for anything else (``x = 3, y = 5`` names two unknowns).
    Inline math delimiters around the items are dropped."""
    items = _LIST_SEPARATOR.split(_INLINE_MATH.sub("", answer).strip())
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
    """A sentence ending in ``= V`` (or "is V" after a computation in words, "6 times 7 is 42
    inches") with a constant ``V`` and a result left-hand side."""
    relation = _last_equals(text, start, end) or _last_computed_is(text, start, end)
    if relation is None:
        return None
    value = _value_after(text, relation.end(), end)
    if value is None or not _is_value(text[value[0] : value[1]]):
        return None
    if not _is_result_lhs(text[max(start, relation.start() - _LHS_CHARS) : relation.start()]):
        return None
    return ExtractedAnswer(text[value[0] : value[1]], "result", *value)


def _last_computed_is(text: str, start: int, end: int) -> re.Match[str] | None:
    """The last "is" of the sentence when a computation on constants stands before it ("6 times 7
    is 42", "arccos(-0.5) is 120 degrees"), else None."""
    at = text.rfind(" is ", start, end)
    if at < 0 or _DIGIT.search(text, max(start, at - _LHS_CHARS), at) is None:
        return None
    left = _COMPUTATION_WORDS.sub("·", _MATH_COMMAND.sub("·", text[max(start, at - _LHS_CHARS) : at]))
    run = _VALUE_RUN_END.search(left)
    if run is None or not any(c.isdigit() for c in run.group()) or not any(c in "·+-−×*/^√(" for c in run.group()):
        return None
    run_start = run.start() + len(run.group()) - len(run.group().lstrip())
    glued = run_start > 0 and left[run_start - 1].isalnum()  # "3n + 3 is": an unknown
    return None if glued else _IS.match(text, at)


def conclusion(text: str, start: int, end: int) -> ExtractedAnswer | None:
    """The answer closing the sentence ``text[start:end]``, if it states one (module docstring)."""
    start = max(start, end - MAX_SENTENCE_CHARS)
    end = _where_clause_start(text, start, end)
    found = _cued_conclusion(text, start, end) or _result(text, start, end)
    if found is None and (text.find("est", start, end) >= 0 or text.find("most", start, end) >= 0):
        found = _named_superlative(text, start, end)  # superlatives end in -est, or are "most …"
    return found


def _where_clause_start(text: str, start: int, end: int) -> int:
    """Where "…, where q = …" begins in ``text[start:end]`` (it defines, it does not conclude), else ``end``."""
    # A substring test spares the regex scan on the many sentences without "where": only ASCII
    # letters fold onto w, h, e, r under re.IGNORECASE, so lower() keeps every match.
    if "where" not in text[start:end].lower():
        return end
    where = _WHERE_CLAUSE.search(text, start, end)
    return where.start() if where else end


MAX_CLOSING_CHARS = 2000
"""``closing_answer`` reads at most this many characters at the end of a response."""

MAX_CLOSING_REMARKS = 3
"""Sentences without a value ("I think that's the answer.") passed over before the closing statement."""

_FINISHED_END = re.compile(r"(?:[.!?)\]}$]|\*\*)[\"'”’]?\Z")
_ENUMERATOR = re.compile(r"\s*(?:\d{1,2}[.)]|[-*•]|#+)\s*")
_HAS_VALUE = re.compile(rf"\d|π|√|\\(?:frac|sqrt|pi)(?![A-Za-z])|\b(?i:{_COUNT_WORDS})\b")
_IS_THE_ANSWER = re.compile(
    r"\s+is\s+(?:indeed\s+|definitely\s+|probably\s+)?(?:the|my|our)\s+(?:final\s+|correct\s+|right\s+)?answer\b",
    re.IGNORECASE,
)
# "Evelyn has the greatest average speed", "Thus, Evelyn's average speed is the largest": a "which"
# or "who" question answered by naming the one with the property.
_NAMED_SUPERLATIVE = re.compile(
    r"(?:(?:Clearly|Obviously|Evidently|Indeed|Certainly),?\s+)?([A-Z][a-z]+)(?:['’]s\b[^.=]{0,60}?)?\s+(?:has|is|was|had|have)\s+(?:the\s+)?(?:greatest|largest|highest|"
    r"smallest|lowest|least|fastest|slowest|biggest|longest|shortest|most|best)\b"
)
_NOT_NAMES = frozenset("The This That These Those It Its Each Every Both Which What Who Option Choice Answer".split())
_STATEMENT = re.compile(
    r"(?:the|its|their|his|her|our)\s[^=]{0,80}?\b(?:is|are|was|were|equals)\b(?!\s+not\b)", re.IGNORECASE
)


def closing_answer(text: str, start: int = 0, end: int | None = None) -> ExtractedAnswer | None:
    """The answer a finished response states in its closing sentences, kind ``closing`` (module
    docstring, 3): None when ``text[start:end]`` stops mid-sentence or before a list it announces
    (cut off), or when its last sentence with a value reads as no answer and no sentence names the
    one with the property asked for.  Absolute offsets."""
    end = len(text) if end is None else min(end, len(text))
    start = max(0, start)
    while end > start and text[end - 1].isspace():
        end -= 1
    if end <= start or not _FINISHED_END.search(text, max(start, end - 3), end):
        return None
    window = list(sentences(text, max(start, end - MAX_CLOSING_CHARS), end))
    if not window or _ENUMERATOR.fullmatch(text, *window[-1]):
        return None  # "… the partial derivatives:\n\n1.": a list begun and cut off
    closing = list(_without_enumerators(text, window))
    found = _closing_value(text, reversed(closing)) or next(
        (named for s, e in reversed(closing) if (named := _named_superlative(text, s, e)) is not None), None
    )
    return None if found is None else ExtractedAnswer(found.text, "closing", found.start, found.end)


def _without_enumerators(text: str, window: Iterable[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """The sentences of ``window`` without a leading list marker ("1.", "-"), skipping those that
    are only one (a heading)."""
    for s, e in window:
        enumerator = _ENUMERATOR.match(text, s, e)
        s = enumerator.end() if enumerator else s
        if s < e:
            yield s, e


def _closing_value(text: str, closing: Iterable[tuple[int, int]]) -> ExtractedAnswer | None:
    """The reading of the last sentence (``closing`` runs backwards) that names the one with the
    asked property or holds a value, passing over at most ``MAX_CLOSING_REMARKS`` without either."""
    remarks = 0
    for s, e in closing:
        named = _named_superlative(text, s, e)
        if named is not None:
            return named
        if _HAS_VALUE.search(text, s, e):
            return _closing_statement(text, s, e)
        remarks += 1
        if remarks > MAX_CLOSING_REMARKS:
            return None
    return None


def _named_superlative(text: str, start: int, end: int) -> ExtractedAnswer | None:
    """The name in "Evelyn has the greatest average speed" or "Thus, Evelyn's speed is the largest"."""
    named = _NAMED_SUPERLATIVE.match(text, _after_cue(text, start, end), end)
    if named is None or named.group(1) in _NOT_NAMES:
        return None
    return ExtractedAnswer(named.group(1), "closing", *named.span(1))


def _after_cue(text: str, start: int, end: int) -> int:
    """Where a sentence's words begin after its opening cue and comma ("Thus, Evelyn's …" → "Evelyn")."""
    cue = _CUE.match(text, start, end)
    at = cue.end() if cue else start
    while at < end and text[at] in " \t,":
        at += 1
    return at


def _closing_statement(text: str, start: int, end: int) -> ExtractedAnswer | None:
    """One closing sentence read as "V is the answer", a conclusion, "the X is V", or a sentence
    holding one number and no relation ("Billy sold 7 DVDs on Tuesday")."""
    is_the_answer = _IS_THE_ANSWER.search(text, start, end)
    if is_the_answer:
        value_start = _last_cue_end(text, start, is_the_answer.start()) or start
        return _value_answer(text, value_start, is_the_answer.start())
    found = conclusion(text, start, end)
    if found is not None:
        return found
    statement = _STATEMENT.match(text, start + len(text[start:end]) - len(text[start:end].lstrip()), end)
    if statement:
        equals = text.rfind("=", statement.end(), end)  # "her speed is 4.5 / 1.25 = 3.6": the result
        return _value_answer(text, statement.end() if equals < 0 else equals + 1, end)
    return sole_number(text, start, end)


def _value_answer(text: str, start: int, end: int) -> ExtractedAnswer | None:
    """``text[start:end]`` trimmed to a value (``_cued_value``), else None."""
    value = _value_after(text, start, end)
    span = None if value is None else _cued_value(text, *value)
    return None if span is None else ExtractedAnswer(text[span[0] : span[1]], "conclusion", *span)
