"""Final-answer extraction and correctness grading (docs/concepts.md §3.2).

Extraction (``extract_answer``) looks, in priority order, for

1. the last ``\\boxed{…}`` / ``\\fbox{…}`` (nested braces; also ``\\boxed 5``)      kind ``boxed``
2. the last GSM8K ``#### N`` line                                                 kind ``gsm8k``
3. the last "the (final) answer is/should be/must be …" to the end of its sentence  kind ``answer_is``
   (after an adverb such as "indeed", "clearly")
4. the last "Answer: X" / "Final answer: X" (or a "Final Answer" / PRM800K "# Answer"
   heading line followed by the answer)                                             kind ``answer_colon``
5. a lone multiple-choice letter such as "(B)" at the very end                     kind ``choice``
6. only with ``last_number_fallback=True``: the last number in the text           kind ``last_number``

The returned ``ExtractedAnswer.text`` is always ``input[start:end]``: surrounding ``$``, ``\\(``
``\\)``, ``\\[`` ``\\]``, ``**`` and a trailing period are trimmed from the span, nothing is
rewritten.  docs/concepts.md §3.2 asks for both the last answer reached inside the think part and the final
answer part: call ``extract_answer`` on each part (``think.split_think``).

Grading (``grade``) first tries a cheap normaliser (``normalize_answer``: strips ``$``,
``\\text{}``, ``\\left``/``\\right``, spacing commands, degrees, percent, thousands separators,
a few unit words…) and exact numeric comparison; only when that cannot decide does it ask
math-verify for symbolic equivalence.  The cheap path exists for speed: math-verify parses LaTeX
into SymPy and simplifies, which costs milliseconds to seconds per pair, while most real answer
pairs (integers, identical strings) are settled by the normaliser in microseconds.

Every regex in this module is linear-time (no nested quantifiers, no two adjacent optional
whitespace runs) and brace matching is one pass, so arbitrary megabyte inputs are safe.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Literal, get_args

# ExtractedAnswer and NUMBER_WORDS are this module's vocabulary too: callers import them from here.
from traces.analysis.conclusions import NUMBER_WORDS, ExtractedAnswer, closing_answer

logger = logging.getLogger(__name__)

AnswerType = Literal["numeric", "math", "choice", "text"]

MAX_MATH_VERIFY_CHARS = 1000
"""Longer answers are not sent to math-verify (SymPy on long input is slow); grade says undetermined."""

MATH_VERIFY_TIMEOUT_S = 5
"""math-verify's own per-parse/per-comparison timeout; only effective in the main thread."""

MAX_NUMBER_CHARS = 100
"""Longer strings are never read as numbers (guards Fraction against megabyte digit strings)."""

NUMERIC_REL_TOL = Fraction(1, 10**6)
"""Relative tolerance of numeric equality (math-verify rounds floats to 6 places too)."""


@dataclass(frozen=True)
class Verdict:
    """Correctness of a predicted answer (docs/concepts.md §3.2); ``correct`` None means undetermined."""

    correct: bool | None
    method: str  # "exact" | "numeric" | "choice" | "math_verify" | "text" | "undetermined"


UNDETERMINED = Verdict(None, "undetermined")

# --------------------------------------------------------------------------------------------
# Extraction
# --------------------------------------------------------------------------------------------

_BOXED = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_BRACE = re.compile(r"\\[{}]|[{}]")  # escaped braces are matched (and skipped) as one token
_BARE_BOXED_ARG = re.compile(r"[^\s$]+")
_GSM8K = re.compile(r"####[ \t]*([^\n]*)")
_GSM8K_NUMBERISH = re.compile(r"[-+$]?[ \t]*\.?\d")
_ANSWER_IS = re.compile(
    r"\b(?:the\s+)?(?:final\s+)?answer\s+(?:is|should\s+be|must\s+be)\b"
    r"(?:[ \t]+(?:indeed|clearly|definitely|certainly|simply|just|therefore|thus|still)\b)?[ \t]*:?",
    re.IGNORECASE,
)
_CORRECT_OPTION_IS = re.compile(
    r"\b(?:the\s+)?(?:correct|right|best)\s+(?:option|choice)\s+(?:is|should\s+be|must\s+be)\b[ \t]*:?",
    re.IGNORECASE,
)
_ANSWER_COLON = re.compile(
    r"\b(?:final[ \t]+)?answer[ \t]*(?:\*\*[ \t]*)?:[ \t]*(?:\*\*)?"
    r"|\bfinal[ \t]+answer[ \t]*(?:\*\*[ \t]*)?(?=\n)"
    r"|(?:^|(?<=\n))#{1,6}[ \t]*(?:final[ \t]+)?answer[ \t]*(?=\n)",  # PRM800K "# Answer\n\nX"
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"\.(?=\s|$)|\n")
_OPTION_IS = re.compile(  # "Option E is the most accurate …", "choice (B) is correct"; "… corresponds to choice E", "matches G"
    r"\b(?:option|choice)\s+\(?([A-J])\)?\s+(?:is|seems|appears)\s+(?:to\s+be\s+)?(?:the\s+)?"
    r"(?:most\s+(?:accurate|appropriate|correct|likely|plausible|comprehensive|reasonable)|best|correct|right)\b"
    r"|\b(?:(?:corresponds?\s+to|matches)\s+(?:option\s+|choice\s+)?|(?<=\bis\s)(?:option|choice)\s+)\(?([A-J])\)?(?![\w(])",
    re.IGNORECASE,
)
# "The answer should be an integer n where 0 ≤ n < 9", "… must be expressed as a common fraction":
# the task's description of its answer, restated, not an answer.
_DESCRIPTION = re.compile(
    r"(?:(?:an?|any|some)\s+(?:[\w-]+\s+){0,3}?(?:integer|number|fraction|decimal|expression|value|pair|"
    r"interval|letter|string|list|polynomial|matrix|vector|set|word|equation|function|multiple|radical|"
    r"tuple|point|answer|option|choice)s?\b|(?:in|as)\s+(?:the\s+)?(?:form|simplest|terms|lowest)\b|"
    r"expressed\b|written\b|given\s+as\b|rounded\b)",
    re.IGNORECASE,
)
_LONE_CHOICE_LINE = re.compile(r"[ \t*]*(?:\(([A-J])\)|([A-J]))[ \t*.]*")
_TAIL_CHOICE = re.compile(r"\(([A-J])\)[\s.*$]*\Z")
_CHOICE_TAIL_CHARS = 16
_ANY_NUMBER = re.compile(r"-?(?:\d+(?:\.\d+)?|\.\d+)")
_JUDGEMENT_WORDS = frozenset(
    "correct incorrect right wrong valid invalid consistent inconsistent confirmed reasonable "
    "plausible indeed verified".split()
)

# Trimmed from both ends of an extracted span, repeatedly: markdown bold, math delimiters, quotes.
_EDGE_TOKENS = ("**", "$", "\\(", "\\)", "\\[", "\\]", '"', "“", "”")
_TRAILING_TOKENS = (".", " ки")  # trailing period; Math-Shepherd step tag
_MAX_PHRASE_MATCHES = 20  # how many earlier "answer is"/"#### N" matches to fall back on
_MAX_SENTENCE_CHARS = 2000  # an answer sentence longer than this is cut there


def _brace_partners(text: str) -> dict[int, int]:
    """Map the offset of every balanced unescaped ``{`` to the offset of its ``}`` (one pass)."""
    partners: dict[int, int] = {}
    stack: list[int] = []
    for m in _BRACE.finditer(text):
        token = m.group()
        if len(token) == 2:  # \{ or \}
            continue
        if token == "{":
            stack.append(m.start())
        elif stack:
            partners[stack.pop()] = m.start()
    return partners


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink ``[start, end)`` past whitespace and the decoration tokens around an answer."""
    changed = True
    while changed and start < end:
        changed = False
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        for token in _EDGE_TOKENS:
            if text.startswith(token, start, end):
                start += len(token)
                changed = True
            if end - start >= len(token) and text.endswith(token, start, end):
                end -= len(token)
                changed = True
        for token in _TRAILING_TOKENS:
            if end - start > len(token) and text.endswith(token, start, end):
                end -= len(token)
                changed = True
    return start, end


def _answer(text: str, kind: str, start: int, end: int) -> ExtractedAnswer | None:
    start, end = _strip_span(text, start, end)
    if start >= end:
        return None
    return ExtractedAnswer(text[start:end], kind, start, end)


def _boxed_content(text: str, m: re.Match[str], partners: dict[int, int] | None) -> tuple[int, int] | None:
    pos = m.end()
    n = len(text)
    while pos < n and text[pos] in " \t":
        pos += 1
    if pos < n and text[pos] == "{":
        if partners is None:
            return None
        close = partners.get(pos)
        return None if close is None else (pos + 1, close)
    if pos == m.end():  # "\boxed5" is not LaTeX; "\boxed 5" is
        return None
    arg = _BARE_BOXED_ARG.match(text, pos)
    return arg.span() if arg else None


def last_boxed(text: str) -> ExtractedAnswer | None:
    """The content of the last well-formed, non-empty ``\\boxed{…}``/``\\fbox{…}`` (docs/concepts.md §3.2).

    Braces nest; an unbalanced (e.g. truncated) last box is skipped in favour of an earlier one.
    ``\\boxed 5`` (argument without braces) yields ``5``.
    """
    matches = list(_BOXED.finditer(text))
    if not matches:
        return None
    partners = _brace_partners(text) if "{" in text else None
    for m in reversed(matches):
        span = _boxed_content(text, m, partners)
        if span is not None:
            found = _answer(text, "boxed", *span)
            if found is not None:
                return found
    return None


def _last_gsm8k(text: str) -> ExtractedAnswer | None:
    """The last ``#### N`` line whose content starts like a number (markdown h4 headings do not)."""
    for m in reversed(list(_GSM8K.finditer(text))[-_MAX_PHRASE_MATCHES:]):
        if _GSM8K_NUMBERISH.match(m.group(1)):
            found = _answer(text, "gsm8k", *m.span(1))
            if found is not None:
                return found
    return None


def _rest_of_sentence(text: str, pos: int) -> tuple[int, int]:
    """From ``pos`` to the end of its sentence; if the line is empty there, the next line.

    Scans at most ``_MAX_SENTENCE_CHARS`` so that many matches on one huge line stay linear.
    """
    limit = min(len(text), pos + _MAX_SENTENCE_CHARS)
    line_end = text.find("\n", pos, limit)
    line_end = limit if line_end < 0 else line_end
    if not text[pos:line_end].strip(" \t*:"):
        # "Final Answer:\n\n42" -- skip to the next non-blank line.
        while pos < limit and text[pos].isspace():
            pos += 1
        limit = min(len(text), pos + _MAX_SENTENCE_CHARS)
    end = _SENTENCE_END.search(text, pos, limit)
    return pos, (end.start() if end else limit)


def _is_judgement(answer: str) -> bool:
    """"our answer is correct." states a verdict, not an answer."""
    return answer.strip(" .,!*").casefold() in _JUDGEMENT_WORDS


def _is_description(answer: str) -> bool:
    """"an integer n where 0 ≤ n < 9", "in the form a/b": the task's description of its answer."""
    return _DESCRIPTION.match(answer) is not None


def _last_phrase_answer(text: str, pattern: re.Pattern[str], kind: str) -> ExtractedAnswer | None:
    for m in reversed(list(pattern.finditer(text))[-_MAX_PHRASE_MATCHES:]):
        found = _answer(text, kind, *_rest_of_sentence(text, m.end()))
        if found is not None and not _is_judgement(found.text) and not _is_description(found.text):
            return found
    return None


def _last_phrased(text: str) -> ExtractedAnswer | None:
    """The answer of the last answer phrase of ``text``, whichever its kind: "the answer is …",
    "the correct option is …" (``answer_is``), "Answer: …" (``answer_colon``), "Option E is the
    most accurate …" (``option_is``)."""
    # Each phrase holds "answer", "option", "choice", "match" or "correspond": substring tests spare
    # the regex scans on the many steps that never say them (they dominate per-step extraction).
    lowered = text.lower()
    says_option = "option" in lowered or "choice" in lowered
    phrased = []
    if "answer" in lowered:
        answer_is = _last_phrase_answer(text, _ANSWER_IS, "answer_is")
        phrased.append(answer_is)
        if answer_is is None or lowered.find("answer", answer_is.end) >= 0:  # else none can follow it
            phrased.append(_last_phrase_answer(text, _ANSWER_COLON, "answer_colon"))
    if says_option:
        phrased.append(_last_phrase_answer(text, _CORRECT_OPTION_IS, "answer_is"))
    if says_option or "match" in lowered or "correspond" in lowered:
        phrased.append(_last_option_is(text))
    return max((found for found in phrased if found is not None), key=lambda found: found.start, default=None)


def _last_option_is(text: str) -> ExtractedAnswer | None:
    """The letter of the last "Option E is the most accurate/correct/best …" or "… which
    corresponds to (option) E / matches (option) E / is option E" (kind ``option_is``)."""
    last = _last_match(_OPTION_IS, text)
    if last is None:
        return None
    group = 1 if last.group(1) else 2
    return ExtractedAnswer(last.group(group), "option_is", *last.span(group))


def _last_number(text: str) -> ExtractedAnswer | None:
    """The last number written in ``text`` (opt-in low-precision fallback)."""
    last = _last_match(_ANY_NUMBER, text)
    return None if last is None else ExtractedAnswer(last.group(), "last_number", *last.span())


def _last_match(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    """The last match of ``pattern`` in ``text`` (the matches are found in one pass, none kept)."""
    last = deque(pattern.finditer(text), maxlen=1)
    return last[0] if last else None


def _lone_choice(text: str) -> ExtractedAnswer | None:
    """A multiple-choice letter alone on the last line, or "(B)" ending the text."""
    stripped_end = len(text.rstrip())
    line_start = text.rfind("\n", 0, stripped_end) + 1
    if stripped_end - line_start <= _CHOICE_TAIL_CHARS:
        m = _LONE_CHOICE_LINE.fullmatch(text, line_start, stripped_end)
        if m:
            group = 1 if m.group(1) else 2
            return ExtractedAnswer(m.group(group), "choice", m.start(group), m.end(group))
    tail_start = max(0, stripped_end - _CHOICE_TAIL_CHARS)
    m = _TAIL_CHOICE.search(text, tail_start)
    if m:
        return ExtractedAnswer(m.group(1), "choice", m.start(1), m.end(1))
    return None


def extract_answer(text: str, *, last_number_fallback: bool = False, closing: bool = True) -> ExtractedAnswer | None:
    """The final answer stated in ``text``, or None (docs/concepts.md §3.2).

    Priority: last ``\\boxed{}``/``\\fbox{}``; last GSM8K ``#### N``; the last answer phrase, whichever
    comes last of "the (final) answer is/should be/must be …" or "the correct option is …" (not
    "…is correct", nor a restated description such as "an integer n where 0 ≤ n < 9"), "Answer:
    X"/"Final answer: X" and "Option E is the most accurate …"; a lone choice letter at the end; with ``closing`` (the
    default) the closing statement of a finished response ("Therefore, the value of n is 3.",
    "Billy sold 7 DVDs on Tuesday.": ``conclusions.closing_answer``, kind ``closing``).  With
    ``last_number_fallback`` (off by default: low precision) the last number in the text is taken
    when nothing else is found (kind ``last_number``), as the Qwen2.5-Math evaluation scripts and
    lm-eval's "flexible-extract" do.  Linear time, never raises.
    """
    found = (
        last_boxed(text)
        or _last_gsm8k(text)
        or _last_phrased(text)
        or _lone_choice(text)
        or (closing_answer(text) if closing else None)
    )
    if found is None and last_number_fallback:
        found = _last_number(text)
    return found


# --------------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------------

_TEXT_WRAPPER = re.compile(
    r"\\(?:text|textbf|textit|textrm|textnormal|mathrm|mathbf|mathit|mbox|operatorname)\{([^{}]*)\}"
)
_SPACING = re.compile(r"\\[,;:! ]|~|\\quad|\\qquad")
_LEFT_RIGHT = re.compile(r"\\(?:left|right)(?:\.|(?![A-Za-z]))|\\displaystyle|\\limits")
_WHITESPACE = re.compile(r"\s+")
_FRAC_VARIANTS = re.compile(r"\\[dt]frac(?![A-Za-z])")
_DEGREES = re.compile(r"\^\{?\\circ\}?|°|\\circ$|\\degree")
_PERCENT_DOLLAR = re.compile(r"\\?[%$]")
_SQRT_SHORT = re.compile(r"\\sqrt([0-9A-Za-z])")
_FRAC_SHORT_BOTH = re.compile(r"\\frac([0-9A-Za-z])([0-9A-Za-z])")
_FRAC_SHORT_DEN = re.compile(r"\\frac(\{[^{}]*\})([0-9A-Za-z])")
_FRAC_SHORT_NUM = re.compile(r"\\frac([0-9A-Za-z])\{")
_THOUSANDS_NUMBER = re.compile(r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_LATEX_THOUSANDS = re.compile(r"\{,\}")
_SINGLE_VAR_ASSIGN = re.compile(r"[A-Za-z]=")
_NUMBER_WITH_UNIT = re.compile(
    r"([-+]?\d[\d.]*)(?:units?|sq\.?units?|squareunits|cm|mm|km|m|meters?|inches|inch|in|feet|foot|ft|"
    r"yards?|miles?|mph|degrees?|dollars?|cents?|hours?|hrs?|minutes?|mins?|seconds?|secs?|days?|"
    r"weeks?|months?|years?|people|students|pounds?|lbs?|kg|grams?|g|liters?|l|ml|gallons?)"
    r"(?:\^\{?[23]\}?|²|³)?"
)

_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d{1,3})?")
_COMPLEX = re.compile(r"(?:([-+]?[\d.]+)(?=[-+]))?([-+]?)([\d.]*)i")  # a+bi, a-i, -bi, i
_PI_MULTIPLE = re.compile(r"([-+]?)([\d.]*)(?:\\pi|π)")  # 7\pi, -π, 16π
_BASE_NUMERAL = re.compile(r"(\d+)_\{?(\d+)\}?")  # 52_8, 4210_{5}
_COUNT_IN_WORDS = re.compile(  # "two y-intercepts", never "one of them"
    rf"\s*({'|'.join(NUMBER_WORDS)})(?!\s+of\b)(?:\s+[A-Za-z][\w-]*){{0,3}}\s*\.?\s*", re.IGNORECASE
)
_COUNT_IN_DIGITS = re.compile(  # "13 marbles", "2 cookies each"; never "2 pi", "3 x" nor "2 of them"
    r"\s*([-+]?\d+(?:\.\d+)?)(?!\s+of\b)\s+[A-Za-z]{3,}(?:\s+[A-Za-z][\w-]*){0,2}\s*\.?\s*"
)
_ORDINAL_SUFFIX = re.compile(r"\d(?:st|nd|rd|th)\b")
_ORDINAL = re.compile(r"(\d)\s*(?:\^\s*\{\s*(?:st|nd|rd|th)\s*\}|\^(?:st|nd|rd|th)\b|(?:st|nd|rd|th)\b)")
_COLUMN_VECTOR = re.compile(r"\\begin\{[pbv]?matrix\}(.*?)(?:\\\\)?\\end\{[pbv]?matrix\}")
_UNICODE_ROOT = re.compile(r"√\s*(?:\(([^()]*)\)|\{([^{}]*)\}|(\d+(?:\.\d+)?|[A-Za-z]))")
_PLAIN_SQRT = re.compile(r"(?<![\\A-Za-z])sqrt\s*\(([^()]*)\)")
_PLAIN_PI = re.compile(r"(?<![\\A-Za-z])pi(?![A-Za-z])|π")
_VALUE_WITH_WORDS = re.compile(r"\s*(.*?[\d})\]π])\s+[A-Za-z]{2,}(?:\s+[A-Za-z]{2,}){0,2}\s*\.?\s*")
_SLASH_FRACTION = re.compile(r"([-+]?\d+)/(\d+)")
_LATEX_FRACTION = re.compile(r"(-?)\\frac\{(-?\d+)\}\{(-?\d+)\}")


MAX_CACHED_ANSWER_CHARS = 200
"""``normalize_answer`` remembers the forms of this many characters or fewer (see there)."""


def normalize_answer(s: str) -> str:
    """Cheap canonical form of a math answer string for exact comparison (docs/concepts.md §3.2).

    Strips math delimiters (``$``, ``\\(``…), a wrapping ``\\boxed{}``, ``\\text{}``-style
    wrappers, ``\\left``/``\\right``, spacing commands (``\\!``, ``\\,``…) and all whitespace,
    ``^\\circ``/degrees, ``%`` and ``$`` signs, thousands separators ("1,000", "1{,}000"), a
    trailing period, a unit word after a number ("5 cm"), a count in words ("two y-intercepts" →
    "2", up to twenty, at most three words after it) or in digits ("13 marbles" → "13", the first
    word of three letters or more), and a leading single-variable
    assignment ("x = 5" → "5"); rewrites ``\\dfrac``/``\\tfrac`` to ``\\frac`` and the brace-less
    shorthands ``\\frac12``/``\\sqrt2``, and writes a column vector as a tuple.  Case is kept
    (variables are case-sensitive).

    Grading the answers reached in a long trace normalises the same short strings (the target,
    "2", "4"…) dozens of times, so those are cached.
    """
    return _normalize_short(s) if len(s) <= MAX_CACHED_ANSWER_CHARS else _normalize(s)


def _normalize(s: str) -> str:
    """``normalize_answer``, uncached."""
    words = _as_words(s)
    count = _COUNT_IN_WORDS.fullmatch(words)
    if count:
        return str(NUMBER_WORDS[count.group(1).casefold()])
    count = _COUNT_IN_DIGITS.fullmatch(words)
    if count:
        return count.group(1)
    s = _column_as_tuple(s.strip())  # before spacing goes: "\\\\ " ends a row, "\\ " is a space
    s = _SPACING.sub("", s)
    s = _WHITESPACE.sub("", s)
    for _ in range(2):  # two passes unwrap \text{\textbf{x}}
        s = _TEXT_WRAPPER.sub(r"\1", s)
    s = _LEFT_RIGHT.sub("", s)
    s = _FRAC_VARIANTS.sub(r"\\frac", s)
    s = _DEGREES.sub("", s)
    s = _PERCENT_DOLLAR.sub("", s)
    s = s.replace("\\(", "").replace("\\)", "").replace("\\[", "").replace("\\]", "")
    s = _unwrap_boxed(s)
    s = _SQRT_SHORT.sub(r"\\sqrt{\1}", s)
    s = _FRAC_SHORT_BOTH.sub(r"\\frac{\1}{\2}", s)
    s = _FRAC_SHORT_DEN.sub(r"\\frac\1{\2}", s)
    s = _FRAC_SHORT_NUM.sub(r"\\frac{\1}{", s)
    s = _LATEX_THOUSANDS.sub(",", s)
    s = s.rstrip(".")
    if _THOUSANDS_NUMBER.fullmatch(s):
        s = s.replace(",", "")
    if _SINGLE_VAR_ASSIGN.match(s) and s.count("=") == 1 and len(s) > 2:
        s = s[2:]
    with_unit = _NUMBER_WITH_UNIT.fullmatch(s)
    if with_unit:
        s = with_unit.group(1)
    if s.startswith("."):
        s = "0" + s
    return s


_normalize_short = lru_cache(maxsize=8192)(_normalize)


def _column_as_tuple(s: str) -> str:
    """A column vector ``\\begin{pmatrix} a \\\\ b \\end{pmatrix}`` (no ``&``: one column) as the tuple
    ``(a,b)``, the other way a vector is written; anything else unchanged."""
    column = _COLUMN_VECTOR.fullmatch(s)
    if column is None or "&" in column.group(1):
        return s
    return "(" + ",".join(cell.strip() for cell in column.group(1).split("\\\\")) + ")"


def _as_words(s: str) -> str:
    """``s`` read as words: ``\\text{}`` wrappers, ``$`` and ``**`` unwrapped with a space for each,
    an ordinal suffix dropped ("12^{\\text{th}}\\text{ grade}" → "12   grade"), so the count rules
    see a number and its words."""
    if not ("\\" in s or "$" in s or "*" in s or _ORDINAL_SUFFIX.search(s)):
        return s
    for _ in range(2):  # two passes unwrap \text{\textbf{x}}
        s = _TEXT_WRAPPER.sub(r" \1 ", s)
    s = _ORDINAL.sub(r"\1 ", s.replace("$", " ").replace("**", " "))
    return s


def _unwrap_boxed(s: str) -> str:
    """``\\boxed{X}`` → ``X`` when the box wraps the whole string; else ``s`` unchanged."""
    m = _BOXED.match(s)
    if m and s.endswith("}"):
        span = _boxed_content(s, m, _brace_partners(s))
        if span is not None and span[1] == len(s) - 1:
            return s[span[0] : span[1]]
    return s


def _to_number(norm: str) -> Fraction | None:
    """Exact value of a normalised answer that is a plain number or a simple fraction, else None."""
    if not norm or len(norm) > MAX_NUMBER_CHARS:
        return None
    try:
        if _NUMBER.fullmatch(norm):
            return Fraction(norm)
        m = _SLASH_FRACTION.fullmatch(norm)
        if m:
            return Fraction(int(m.group(1)), int(m.group(2)))
        m = _LATEX_FRACTION.fullmatch(norm)
        if m:
            value = Fraction(int(m.group(2)), int(m.group(3)))
            return -value if m.group(1) else value
    except (ValueError, ZeroDivisionError):
        return None
    return None


def _numbers_equal(a: Fraction, b: Fraction) -> bool:
    return a == b or abs(a - b) <= NUMERIC_REL_TOL * max(abs(a), abs(b))


def _number_parts(norm: str) -> tuple[str, tuple[Fraction, ...]] | None:
    """A normalised answer made of exact numbers: a complex ``a+bi`` as ("complex", (a, b)), a
    multiple of π ``cπ`` as ("pi", (c,)), a numeral in base b ``d_b`` as ("base b", (d,)), a
    parenthesised tuple ``(x, y, …)`` or a bracketed vector of three or more ``[x, y, z]`` (a column
    vector normalises to a tuple) as ("tuple", (x, y, …)); else None.

    Such answers are equal exactly when their kinds and parts are, so grading them needs no
    math-verify (which takes 10–100 ms to parse and compare ``3-2i`` with ``6-5i``).  A numeral
    keeps its base, as math-verify does: ``42_{10}`` does not state ``52_8``.
    """
    if complex_number := _COMPLEX.fullmatch(norm):
        real, sign, imaginary = complex_number.groups()
        kind, texts = "complex", [real or "0", sign + (imaginary or "1")]
    elif pi_multiple := _PI_MULTIPLE.fullmatch(norm):
        sign, coefficient = pi_multiple.groups()
        kind, texts = "pi", [sign + (coefficient or "1")]
    elif numeral := _BASE_NUMERAL.fullmatch(norm):
        kind, texts = f"base {int(numeral.group(2))}", [numeral.group(1)]
    elif len(norm) > 2 and norm[0] == "(" and norm[-1] == ")" and "," in norm:
        kind, texts = "tuple", norm[1:-1].split(",")
    elif len(norm) > 2 and norm[0] == "[" and norm[-1] == "]" and norm.count(",") >= 2:
        kind, texts = "tuple", norm[1:-1].split(",")  # a vector in brackets; "[a, b]" is an interval
    else:
        return None
    parts = tuple(part for part in map(_to_number, texts) if part is not None)
    return (kind, parts) if len(parts) == len(texts) else None


def _parts_equal(a: tuple[str, tuple[Fraction, ...]], b: tuple[str, tuple[Fraction, ...]]) -> bool:
    """Same kind, as many parts, each pair of parts equal (``_numbers_equal``)."""
    return a[0] == b[0] and len(a[1]) == len(b[1]) and all(map(_numbers_equal, a[1], b[1]))


def _numeric_values(raw: str, norm: str) -> list[Fraction]:
    """The value of a numeric answer; a percentage may also mean its value / 100."""
    value = _to_number(norm)
    if value is None:
        return []
    return [value, value / 100] if "%" in raw else [value]


_CHOICE = re.compile(r"(?:option|choice)?\(?([A-Za-z])\)?(?:[.:)]|$)|\(?([A-J])\)?\(", re.IGNORECASE)
_CHOICE_DECORATION = re.compile(r"[\s$*]|\\text\{|\\textbf\{|\}")
_OPTION_MARK = re.compile(  # "A. 7,000", "A) 21", "(A) Line", "$\textbf{(A)}\ 3(1 + r)^x = 7"
    r"(?:(?<=[\s$\]])|^)(?:\\textbf\{)?(?:\(([A-J])\)|([A-J])[.)])\}?(?=[ \t]|\\ )", re.MULTILINE
)
_OPTION_TEXT_EDGES = re.compile(r"^(?:\\ |\s|\$)+|(?:\\qquad|\\ |\s|\$)+$")
_LEADING_VALUE = re.compile(r"\s*\$?([-−]\s*)?\+?(\d[\d,]*(?:\.\d+)?)")
_MAX_OPTION_CHARS = 500


def _choice_letter(s: str) -> str | None:
    """The option letter of "B", "(B)", "$\\text{(B)}$", "B) 42", "C (29)", "option C"…, upper-cased, else None."""
    cleaned = _CHOICE_DECORATION.sub("", s)[:64]
    m = _CHOICE.match(cleaned)
    return (m.group(1) or m.group(2)).upper() if m else None


@lru_cache(maxsize=256)
def choice_options(problem: str) -> dict[str, str]:
    """The answer options a multiple-choice problem lists, letter → option text (docs/concepts.md §3.2):
    lines or runs such as "A. 7,000 [Btu/Ib]", "A) 21", "(A) Line", "\\textbf{(A)}\\ …", lettered from
    A without a gap; the last such run of at least two options.  Empty when there is none."""
    marks = [(m.group(1) or m.group(2), m) for m in _OPTION_MARK.finditer(problem)]
    best: list[tuple[str, re.Match[str]]] = []
    run: list[tuple[str, re.Match[str]]] = []
    for letter, m in marks:
        if letter == "A":
            run = [(letter, m)]
        elif run and ord(letter) == ord(run[-1][0]) + 1:
            run.append((letter, m))
        else:
            continue
        if len(run) >= 2:
            best = list(run)
    options = {}
    for i, (letter, m) in enumerate(best):
        end = best[i + 1][1].start() if i + 1 < len(best) else problem.find("\n", m.end())
        end = len(problem) if end < 0 else end
        options[letter] = _OPTION_TEXT_EDGES.sub("", problem[m.end() : min(end, m.end() + _MAX_OPTION_CHARS)])
    return options


def _option_letter(answer: str, options: dict[str, str]) -> str | None:
    """The letter of the one option whose text ``answer`` is: the same normal form, else the same
    words, else, for a number with units ("-0.5 m/s" for "- 0.5 m/sec"), the one option that starts
    with that number; None when no option or several match."""
    norm = normalize_answer(answer)
    matches = [letter for letter, text in options.items() if normalize_answer(text) == norm]
    if not matches:
        key = _text_key(answer)
        matches = [letter for letter, text in options.items() if _text_key(text) == key]
    value = _leading_number(answer)
    if not matches and value is not None:
        matches = [letter for letter, text in options.items() if _leading_number(text) == value]
    return matches[0] if len(matches) == 1 else None


def _leading_number(text: str) -> Fraction | None:
    """The number ``text`` starts with when only units follow it ("- 0.5 m/sec" → -1/2, "13,520
    [Btu/Ib]" → 13520); None when it starts otherwise or holds another number."""
    m = _LEADING_VALUE.match(text)
    if m is None or any(c.isdigit() for c in text[m.end() :]):
        return None
    value = _to_number(m.group(2).replace(",", ""))
    return None if value is None else (-value if m.group(1) else value)


def _is_word_separator(c: str) -> bool:
    """Punctuation (any script), ``$`` and ``\\`` separate words in a free-text answer."""
    return unicodedata.category(c).startswith("P") or c in "$\\"


_ASCII_WORD_SEPARATORS = {i: " " for i in range(128) if _is_word_separator(chr(i))}


def _text_key(s: str) -> str:
    """Casefolded words of ``s``: ``\\text{}`` unwrapped, ``$`` and punctuation dropped."""
    s = _TEXT_WRAPPER.sub(r"\1", s).casefold().translate(_ASCII_WORD_SEPARATORS)
    if not s.isascii():
        s = "".join(" " if _is_word_separator(c) else c for c in s)
    return " ".join(s.split())


# --------------------------------------------------------------------------------------------
# math-verify
# --------------------------------------------------------------------------------------------


def _math_verify_timeout() -> int | None:
    # math-verify implements its timeouts with signal.alarm, which only works in the main thread
    # of the main interpreter (it raises ValueError elsewhere).  Off the main thread (Django
    # runserver, threaded workers) we disable its timeout; MAX_MATH_VERIFY_CHARS bounds the work.
    return MATH_VERIFY_TIMEOUT_S if threading.current_thread() is threading.main_thread() else None


def _latex_form(s: str) -> str:
    """``s`` as LaTeX math-verify reads: ``√13``, ``√(x)`` and ``sqrt(x)`` as ``\\sqrt{…}``, ``π``
    and a lone ``pi`` as ``\\pi``, and the words after a value dropped ("3√13 units",
    "\\frac{\\pi}{2} \\text{ radians}": units, which the reference leaves out)."""
    with_words = _VALUE_WITH_WORDS.fullmatch(_as_words(s))
    if with_words:
        s = with_words.group(1)
    s = _UNICODE_ROOT.sub(lambda m: "\\sqrt{" + next(g for g in m.groups() if g is not None) + "}", s)
    s = _PLAIN_SQRT.sub(r"\\sqrt{\1}", s)
    return _PLAIN_PI.sub(r"\\pi ", s).strip()


def _as_latex_target(s: str) -> str:
    """Wrap a bare answer in ``\\boxed{}`` so math-verify's LaTeX extractor reads all of it."""
    s = s.strip()
    if s.startswith("$") and s.endswith("$"):
        s = s.strip("$")
    return "\\boxed{" + s + "}"


@lru_cache(maxsize=4096)
def _math_verify_equal(predicted: str, reference: str) -> bool | None:
    """math-verify's equivalence of two answers; None when either side cannot be parsed."""
    from math_verify import parse, verify
    from math_verify.errors import TimeoutException

    timeout = _math_verify_timeout()
    try:
        gold = parse(_as_latex_target(reference), parsing_timeout=timeout)
        pred = parse(_as_latex_target(predicted), parsing_timeout=timeout)
        if not gold or not pred:
            return None
        return bool(verify(gold, pred, timeout_seconds=timeout))
    except (Exception, TimeoutException):  # noqa: BLE001 - grading must never raise
        logger.debug("math-verify failed on %r vs %r", predicted[:80], reference[:80], exc_info=True)
        return None


# --------------------------------------------------------------------------------------------
# Grading
# --------------------------------------------------------------------------------------------


def _grade_choice(predicted: str, reference: str, problem: str | None) -> Verdict:
    """Option letters compared; an option's text ("Plane", "29") stands for its letter when the
    problem lists the options (``choice_options``), else it is undetermined against a letter; two
    texts are compared as text.  With the options known, a letter that is none of them (the "X" of
    "FINAL ANSWER: X") is no answer."""
    options = choice_options(problem) if problem else {}
    p, r = _as_letter(predicted, options), _as_letter(reference, options)
    if p is not None and r is not None:
        if options and not (p in options and r in options):
            return UNDETERMINED
        return Verdict(p == r, "choice")
    if p is not None or r is not None:
        return UNDETERMINED
    return _grade_text(predicted, reference)


def _as_letter(answer: str, options: dict[str, str]) -> str | None:
    """The option letter ``answer`` names or, with the options known, whose text it is."""
    letter = _choice_letter(answer)
    if letter is not None and (not options or letter in options):
        return letter
    return _option_letter(answer, options) if options else letter


def _grade_text(predicted: str, reference: str) -> Verdict:
    p, r = _text_key(predicted), _text_key(reference)
    if not p or not r:
        return UNDETERMINED
    return Verdict(p == r, "text")


def _grade_math(predicted: str, reference: str) -> Verdict:
    p, r = normalize_answer(predicted), normalize_answer(reference)
    if p and p == r:
        return Verdict(True, "exact")
    p_values, r_values = _numeric_values(predicted, p), _numeric_values(reference, r)
    if p_values and r_values:
        same = any(_numbers_equal(a, b) for a in p_values for b in r_values)
        return Verdict(same, "numeric")
    p_parts, r_parts = _number_parts(p), _number_parts(r)
    if p_parts and r_parts:
        return Verdict(_parts_equal(p_parts, r_parts), "numeric")
    if len(predicted) > MAX_MATH_VERIFY_CHARS or len(reference) > MAX_MATH_VERIFY_CHARS:
        return UNDETERMINED
    equal = _math_verify_equal(_latex_form(predicted), _latex_form(reference))
    if equal is None:
        return UNDETERMINED
    return Verdict(equal, "math_verify")


def grade(
    predicted: str | None, reference: str | None, answer_type: AnswerType = "math", *, problem: str | None = None
) -> Verdict:
    """Is ``predicted`` the same answer as ``reference``? (docs/concepts.md §3.2).

    None or blank on either side is undetermined.  ``choice``: option letters, case-insensitive;
    with the ``problem`` text, an option's text stands for its letter (``choice_options``).
    ``text``: casefolded words without punctuation.  ``numeric``/``math``: cheap normalisation
    and exact numeric comparison first, math-verify only when those cannot decide.  Never raises.
    """
    if predicted is None or reference is None or not predicted.strip() or not reference.strip():
        return UNDETERMINED
    answer_type = canonical_answer_type(answer_type)
    try:
        if answer_type == "choice":
            return _grade_choice(predicted, reference, problem)
        if answer_type == "text":
            return _grade_text(predicted, reference)
        return _grade_math(predicted, reference)
    except Exception:  # noqa: BLE001 - a grading bug must not break imports or pages
        logger.exception("grade failed on %r vs %r", predicted[:80], reference[:80])
        return UNDETERMINED


ANSWER_TYPE_ALIASES: dict[str, AnswerType] = {"mc": "choice", "multiple_choice": "choice", "number": "numeric"}
"""Other names files give an answer type (thinkscope JSONL's ``answer_type`` documents ``mc``)."""


_ANSWER_TYPE_NAMES: dict[str, AnswerType] = {name: name for name in get_args(AnswerType)} | ANSWER_TYPE_ALIASES


def canonical_answer_type(name: str) -> AnswerType:
    """The answer type ``name`` stands for: itself, or the type an alias names (``mc`` → ``choice``);
    any other name grades as ``math``, the most general type."""
    return _ANSWER_TYPE_NAMES.get(name, "math")


_MATHY = re.compile(r"[\\^_{}=+*/<>()\[\]|0-9]")
_WORD = re.compile(r"[^\W\d_]{3,}")


def infer_answer_type(reference: str) -> AnswerType:
    """Guess the answer type of a reference answer (docs/concepts.md §1 Problem.answer_type, §3.2).

    A lone option letter A–J (optionally in parentheses) is ``choice``; a plain number, fraction
    or percentage is ``numeric``; words without math symbols ("Evelyn", "\\text{odd}") are
    ``text``; anything else is ``math``.
    """
    s = reference.strip().strip("$").strip()
    unwrapped = _TEXT_WRAPPER.sub(r"\1", s).strip()
    if re.fullmatch(r"\(?[A-J]\)?", unwrapped):
        return "choice"
    if _to_number(normalize_answer(s)) is not None:
        return "numeric"
    if unwrapped and not _MATHY.search(unwrapped) and _WORD.search(unwrapped):
        return "text"
    return "math"
