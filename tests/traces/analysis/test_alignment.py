"""Step alignment of the side-by-side comparison (issue 6 item 4): t* steps share a row, nothing is lost."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from traces.analysis.alignment import AlignedRow, StepList, align_steps


def columns(rows: list[AlignedRow]) -> list[list[int | None]]:
    """The alignment read column by column."""
    return [list(column) for column in zip(*(row.cells for row in rows), strict=True)] if rows else []


def test_t_star_steps_share_a_row_and_the_earlier_one_is_padded_before() -> None:
    alignment = align_steps([StepList(count=4, anchor=1), StepList(count=6, anchor=3)])
    assert alignment.anchor_row == 3
    assert alignment.offsets == (2, 0)
    assert columns(alignment.rows) == [
        [None, None, 0, 1, 2, 3],
        [0, 1, 2, 3, 4, 5],
    ]
    assert [row.anchor for row in alignment.rows] == [False, False, False, True, False, False]


def test_a_longer_tail_pads_the_shorter_trace_after_its_last_step() -> None:
    alignment = align_steps([StepList(count=3, anchor=2), StepList(count=8, anchor=0)])
    assert columns(alignment.rows) == [
        [0, 1, 2, None, None, None, None, None, None, None],
        [None, None, 0, 1, 2, 3, 4, 5, 6, 7],
    ]
    assert alignment.rows[2].cells == (2, 0)
    assert alignment.rows[2].anchor


def test_a_trace_that_never_reaches_the_answer_starts_at_the_top() -> None:
    alignment = align_steps([StepList(count=2), StepList(count=3, anchor=2), StepList(count=1, anchor=0)])
    assert alignment.offsets == (0, 0, 2)
    assert columns(alignment.rows) == [[0, 1, None], [0, 1, 2], [None, None, 0]]
    assert alignment.anchor_row == 2


def test_without_any_t_star_steps_are_aligned_by_position() -> None:
    alignment = align_steps([StepList(count=2), StepList(count=4)])
    assert alignment.anchor_row is None
    assert not any(row.anchor for row in alignment.rows)
    assert columns(alignment.rows) == [[0, 1, None, None], [0, 1, 2, 3]]


def test_empty_traces_and_no_traces() -> None:
    assert align_steps([]).rows == []
    alignment = align_steps([StepList(count=0), StepList(count=1)])
    assert columns(alignment.rows) == [[None], [0]]


@pytest.mark.parametrize("count, anchor", [(-1, None), (3, 3), (3, -1), (0, 0)])
def test_impossible_step_lists_are_refused(count: int, anchor: int | None) -> None:
    with pytest.raises(ValueError):
        StepList(count=count, anchor=anchor)


@st.composite
def step_lists(draw: st.DrawFn) -> StepList:
    count = draw(st.integers(min_value=0, max_value=30))
    anchor = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=count - 1))) if count else None
    return StepList(count=count, anchor=anchor)


@given(st.lists(step_lists(), min_size=1, max_size=6))
def test_every_step_appears_once_in_order_and_every_t_star_is_on_the_anchor_row(traces: list[StepList]) -> None:
    alignment = align_steps(traces)
    for trace, column in zip(traces, columns(alignment.rows) or [[] for _ in traces], strict=True):
        assert [cell for cell in column if cell is not None] == list(range(trace.count))
        if trace.anchor is not None:
            assert column[alignment.anchor_row] == trace.anchor
    # No row is all gaps: the alignment is as short as it can be.
    assert all(any(cell is not None for cell in row.cells) for row in alignment.rows)
