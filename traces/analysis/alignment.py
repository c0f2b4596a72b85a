"""Step alignment of several traces of one problem for the side-by-side comparison (docs/concepts.md §4).

Each trace is a list of steps and, when its thinking reaches the reference answer, the position of
its t* step (docs/concepts.md §3.4: the first step at which the reference answer is reached). The comparison
shows one column per trace and one row per aligned position:

* the t* steps of every trace that has one land on the same row, the *anchor row*;
* a trace whose t* comes earlier than the latest one is padded with gaps before its first step, so
  its t* moves down to the anchor row; after its last step it is padded with gaps to the end;
* a trace without t* (never reached, or not analysed) starts at the first row;
* every other step keeps its order, one step per row: no step is ever dropped or repeated.

So a reader sees, on one line, where each model first had the right answer, and above it the work
each did to get there, below it what each spent afterwards (the overthinking tail).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class StepList:
    """What the alignment needs of one trace: its number of steps and the position of its t* step."""

    count: int
    anchor: int | None = None  # 0-based position of the t* step in the list; None: never reached

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError(f"a trace has at least 0 steps, not {self.count}")
        if self.anchor is not None and not 0 <= self.anchor < self.count:
            raise ValueError(f"t* at position {self.anchor} is not one of the {self.count} steps")


@dataclass(frozen=True)
class AlignedRow:
    """One row of the comparison: per trace (in the order given) the step position shown there, None for a gap."""

    cells: tuple[int | None, ...]
    anchor: bool  # the row of the t* steps


@dataclass(frozen=True)
class Alignment:
    """The aligned rows and where each trace's steps start (its leading gaps)."""

    rows: list[AlignedRow]
    offsets: tuple[int, ...]  # per trace: the row of its first step
    anchor_row: int | None  # None when no trace has a t* step


def align_steps(traces: Sequence[StepList]) -> Alignment:
    """Align the steps of ``traces`` so that their t* steps share one row (see the module docstring)."""
    anchors = [trace.anchor for trace in traces if trace.anchor is not None]
    anchor_row = max(anchors) if anchors else None
    offsets = tuple(0 if trace.anchor is None else anchor_row - trace.anchor for trace in traces)  # type: ignore[operator]  # an anchor makes anchor_row an int
    height = max((offset + trace.count for offset, trace in zip(offsets, traces, strict=True)), default=0)
    rows = [
        AlignedRow(
            cells=tuple(
                row - offset if 0 <= row - offset < trace.count else None
                for offset, trace in zip(offsets, traces, strict=True)
            ),
            anchor=row == anchor_row,
        )
        for row in range(height)
    ]
    return Alignment(rows=rows, offsets=offsets, anchor_row=anchor_row)
