"""LLM judges of reasoning steps (docs/concepts.md §3.7), as pure functions.

Two fixed prompts, both showing the solution as ProcessBench does (Zheng et al. 2024, the critic
template of QwenLM/ProcessBench): the problem, then each step wrapped in ``<paragraph_i>`` tags
indexed from 0.

* ``first_error`` (:data:`FIRST_ERROR_PROMPT`): ProcessBench's own critic instruction, verbatim:
  the judge answers the index of the earliest erroneous paragraph, or −1, in ``\\boxed{}``. Its
  verdict becomes labels by ProcessBench's convention: +1 before the error, −1 at it, later
  steps unrated.
* ``steps`` (:data:`STEP_VERDICT_PROMPT`): a rating of every paragraph on PRM800K's scale
  (+1 correct and useful, 0 neutral, −1 wrong or harmful), answered as a final block of lines
  ``Paragraph i: +1``.

The parsers are strict: a reply yields either :class:`Verdicts` or a :class:`ParseFailure` saying
what was wrong, never a guess. A reasoning judge's think part (``<think>…</think>``) is ignored;
the verdict must be in its answer. A panel of judges gives one label per step by strict majority
(:func:`panel_labels`) and its agreement with Krippendorff's alpha and Fleiss' kappa from
``traces.analysis.metrics`` (:func:`panel_agreement`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from traces.analysis.answers import last_boxed
from traces.analysis.metrics.agreement import first_error_index, fleiss_kappa, krippendorff_alpha_ordinal
from traces.analysis.think import split_think
from traces.formats.processbench import NO_ERROR, step_labels

JudgeMode = Literal["steps", "first_error"]
JUDGE_MODES: tuple[JudgeMode, ...] = ("steps", "first_error")

#: How much of a reply a parse failure quotes.
EXCERPT_CHARS = 300

_SOLUTION = """The following is a math problem and a solution (split into paragraphs, enclosed with tags and \
indexed from 0):

[Math Problem]

{problem}

[Solution]

{tagged_response}

"""

#: ProcessBench's critic prompt (QwenLM/ProcessBench), word for word.
FIRST_ERROR_PROMPT = (
    _SOLUTION
    + """Your task is to review and critique the solution paragraph by paragraph. Once you identify an error \
in a paragraph, return the index of the paragraph where the earliest error occurs. Otherwise, return the index \
of -1 (which typically denotes "not found").

Please put your final answer (i.e., the index) in \\boxed{{}}."""
)

#: The per-step rating prompt: the same solution layout, PRM800K's three ratings.
STEP_VERDICT_PROMPT = (
    _SOLUTION
    + """Your task is to review the solution paragraph by paragraph and rate every paragraph: +1 if it is \
correct and useful, 0 if it is neutral (harmless but unnecessary), -1 if it is wrong or harmful.

After your review, end your reply with exactly one line per paragraph, in order from paragraph 0 to \
paragraph {last}, each of the form "Paragraph i: +1" (or 0, or -1), and write nothing after them."""
)

_VERDICT_LINE = re.compile(r"\**\s*paragraph[ _]?(\d+)\s*\**\s*:\s*\**\s*(\+1|1|0|-1|−1)\s*\**\s*\.?", re.IGNORECASE)
_INDEX = re.compile(r"[+-]?\d+")


@dataclass(frozen=True)
class Verdicts:
    """A parsed reply: one label per step (None: unrated) and the first error (−1: none)."""

    labels: tuple[int | None, ...]
    first_error: int


@dataclass(frozen=True)
class ParseFailure:
    """A reply that says nothing usable: why, and the start of the reply."""

    reason: str
    excerpt: str


def tagged_steps(steps: Sequence[str]) -> str:
    """The steps as ProcessBench shows them: ``<paragraph_i>`` blocks separated by blank lines."""
    return "\n\n".join(f"<paragraph_{i}>\n{step.strip()}\n</paragraph_{i}>" for i, step in enumerate(steps))


def judge_prompt(problem: str, steps: Sequence[str], mode: JudgeMode) -> str:
    """The fixed prompt of ``mode`` for one solution (sent as the only user message)."""
    if not steps:
        raise ValueError("a judge needs at least one step to judge")
    template = FIRST_ERROR_PROMPT if mode == "first_error" else STEP_VERDICT_PROMPT
    return template.format(problem=problem.strip(), tagged_response=tagged_steps(steps), last=len(steps) - 1)


def parse_reply(reply: str, n_steps: int, mode: JudgeMode) -> Verdicts | ParseFailure:
    """The verdicts in a judge's reply to :func:`judge_prompt`, or why there are none."""
    split = split_think(reply)
    answer = reply[split.answer_start : split.answer_end]
    if not answer.strip():
        reason = "the reply's thinking never ended" if not split.think_closed else "the reply is empty"
        return ParseFailure(reason, _excerpt(reply))
    if mode == "first_error":
        return _parse_first_error(answer, n_steps)
    return _parse_step_verdicts(answer, n_steps)


def _parse_first_error(answer: str, n_steps: int) -> Verdicts | ParseFailure:
    boxed = last_boxed(answer)
    if boxed is None:
        return ParseFailure("no \\boxed{} index in the reply", _excerpt(answer))
    text = boxed.text.strip()
    if not _INDEX.fullmatch(text):
        return ParseFailure(f"\\boxed{{{text[:40]}}} is not a paragraph index", _excerpt(answer))
    index = int(text)
    if not NO_ERROR <= index < n_steps:
        return ParseFailure(f"index {index} is outside -1..{n_steps - 1}", _excerpt(answer))
    return Verdicts(tuple(step_labels(n_steps, index)), index)


def _parse_step_verdicts(answer: str, n_steps: int) -> Verdicts | ParseFailure:
    """The reply must end with a block of verdict lines rating paragraphs 0..n−1 once each, in order."""
    lines = [line.strip() for line in answer.strip().splitlines() if line.strip()]
    block: list[tuple[int, int]] = []
    for line in reversed(lines):
        match = _VERDICT_LINE.fullmatch(line)
        if match is None:
            break
        block.append((int(match.group(1)), int(match.group(2).replace("−", "-"))))
    if not block:
        return ParseFailure('the reply does not end with "Paragraph i: ±1" lines', _excerpt(answer))
    block.reverse()
    indices = [index for index, _ in block]
    if indices != list(range(n_steps)):
        return ParseFailure(
            f"the verdict lines rate paragraphs {_summary(indices)}, expected 0..{n_steps - 1} in order",
            _excerpt(answer),
        )
    labels = tuple(value for _, value in block)
    return Verdicts(labels, first_error_index(labels))


def _summary(indices: Sequence[int]) -> str:
    shown = ", ".join(str(i) for i in indices[:12])
    return f"[{shown}{', …' if len(indices) > 12 else ''}]"


def _excerpt(text: str) -> str:
    text = text.strip()
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "…"


# --- Panels ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PanelLabel:
    """A panel's label of one step: the strict majority (None without one), and the share of the
    judges who rated the step that gave it."""

    value: int | None
    agreement: float
    votes: int


@dataclass(frozen=True)
class PanelAgreement:
    """Agreement of the judges over the steps they rated: Krippendorff's alpha (ordinal; any
    number of ratings per step) and Fleiss' kappa (over the steps every judge rated). None:
    undefined (one category only, or too few ratings)."""

    krippendorff_alpha: float | None
    fleiss_kappa: float | None
    steps: int


def panel_labels(verdicts: Sequence[Sequence[int | None]]) -> list[PanelLabel | None]:
    """Per step, the strict majority of the judges who rated it (each inner sequence is one
    judge's labels of the same steps); None for a step no judge rated."""
    if not verdicts:
        raise ValueError("a panel needs at least one judge's verdicts")
    lengths = {len(labels) for labels in verdicts}
    if len(lengths) > 1:
        raise ValueError(f"the judges rated different numbers of steps: {sorted(lengths)}")
    result: list[PanelLabel | None] = []
    for votes in zip(*verdicts, strict=True):
        cast = [vote for vote in votes if vote is not None]
        if not cast:
            result.append(None)
            continue
        value, count = Counter(cast).most_common(1)[0]
        majority = value if count * 2 > len(cast) else None
        result.append(PanelLabel(majority, count / len(cast), len(cast)))
    return result


def panel_agreement(ratings_per_step: Sequence[Sequence[int]], judges: int) -> PanelAgreement:
    """Agreement over steps (each item: the values the judges gave one step, any order)."""
    rated = [list(ratings) for ratings in ratings_per_step if len(ratings) >= 2]
    if not rated:
        return PanelAgreement(None, None, 0)
    complete = [ratings for ratings in rated if len(ratings) == judges]
    return PanelAgreement(
        krippendorff_alpha=krippendorff_alpha_ordinal(rated),
        fleiss_kappa=fleiss_kappa(complete) if complete else None,
        steps=len(rated),
    )
