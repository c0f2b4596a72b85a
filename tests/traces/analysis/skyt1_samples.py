"""Real samples for the analysis tests, read with the standard library alone.

The Sky-T1 traces are split into thought and solution here with plain ``str.find`` on the exact
tags, independently of ``traces.analysis.think`` (whose regexes are lenient), so the tests compare
the module against a second, simpler reading of the same text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SKYT1_FILE = "skyt1_math500_traces/Sky-T1-math-correct-5K-27B.math500.lines1-300.jsonl"

BEGIN_THOUGHT = "<|begin_of_thought|>"
END_THOUGHT = "<|end_of_thought|>"
BEGIN_SOLUTION = "<|begin_of_solution|>"
ALT_BEGIN_SOLUTION = "<|im_start|>solution"
END_SOLUTION = "<|end_of_solution|>"
_OPEN_WORDS = frozenset(
    "and or the a an of to so then that which is are with by for in if but because since when where while "
    "alternatively wait now next let".split()
)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every record of a JSONL file."""
    with path.open(encoding="utf-8") as fp:
        return [json.loads(line) for line in fp if line.strip()]


@dataclass(frozen=True)
class SkyTrace:
    """One Sky-T1 record: the raw output, its parts by exact tags, and the original grading."""

    idx: int
    text: str
    answer: str
    solution_reference: str
    score: bool
    think_span: tuple[int, int] | None  # None: no thought tag at all
    solution_span: tuple[int, int]
    truncated: bool  # a thought was opened and never closed, and no solution follows

    @property
    def cut_off(self) -> bool:
        """Truncated, or without any marker and stopping mid-sentence (on a comma, an operator, an
        opening bracket, a LaTeX command or a word such as "and", "the", "Alternatively")."""
        if self.truncated or self.think_span is not None:
            return self.truncated
        last = self.text.rstrip()
        word = last.split()[-1] if last.split() else ""
        command = word.rsplit("\\", 1)[-1].isalpha() and "\\" in word  # "\\cdot", "(\\cos"
        return last[-1:] in tuple(",+-=([{") or command or word.lower() in _OPEN_WORDS

    @property
    def solution(self) -> str:
        return self.text[slice(*self.solution_span)]

    @property
    def thought(self) -> str:
        return "" if self.think_span is None else self.text[slice(*self.think_span)]


def _find_after(text: str, tag: str, start: int = 0) -> int:
    """Offset just past ``tag`` in ``text`` from ``start``, or -1."""
    at = text.find(tag, start)
    return -1 if at < 0 else at + len(tag)


def sky_trace(record: dict[str, Any]) -> SkyTrace:
    """Split ``record["code"][0]`` at the exact Sky-T1 tags (see the module docstring)."""
    text = record["code"][0]
    n = len(text)
    begin_thought = _find_after(text, BEGIN_THOUGHT)
    think_start = max(begin_thought, 0)
    end_thought = text.find(END_THOUGHT, think_start)
    after_thought = think_start if end_thought < 0 else end_thought + len(END_THOUGHT)
    solution_tag = BEGIN_SOLUTION if BEGIN_SOLUTION in text else ALT_BEGIN_SOLUTION
    solution_start = _find_after(text, solution_tag, after_thought)

    think_span: tuple[int, int] | None
    truncated = False
    if begin_thought < 0 and end_thought < 0 and solution_start < 0:
        think_span, solution_span = None, (0, n)
    elif end_thought < 0 and solution_start < 0:
        think_span, solution_span, truncated = (think_start, n), (n, n), True
    else:
        think_end = end_thought if end_thought >= 0 else solution_start - len(solution_tag)
        answer_start = solution_start if solution_start >= 0 else after_thought
        end_solution = text.find(END_SOLUTION, answer_start)
        think_span = (think_start, think_end)
        solution_span = (answer_start, n if end_solution < 0 else end_solution)
    return SkyTrace(
        idx=record["idx"],
        text=text,
        answer=record["answer"],
        solution_reference=record["solution"],
        score=record["score"][0],
        think_span=think_span,
        solution_span=solution_span,
        truncated=truncated,
    )
