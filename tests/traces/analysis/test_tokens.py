"""Approximate token counts and character→token offsets (SPEC §1 Trace/Step token counts)."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skyt1_samples import SkyTrace

from traces.analysis.segmentation import choose_segmenter, segment
from traces.analysis.tokens import char_to_token_offsets, count_tokens, token_spans, token_words


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", []),
        ("  \n\t ", []),
        ("Let x = 12345.", ["Let", "x", "=", "123", "45", "."]),
        ("\\frac{a_1}{2}", ["\\", "frac", "{", "a", "_", "1", "}", "{", "2", "}"]),
        ("Wait, θ≈3.14", ["Wait", ",", "θ", "≈", "3", ".", "14"]),
        ("a\u3000b\u00a0\ud800 x²", ["a", "b", "\ud800", "x²"]),  # wide and non-breaking spaces, a lone surrogate
    ],
)
def test_token_spans(text: str, tokens: list[str]) -> None:
    assert [text[s:e] for s, e in token_spans(text)] == tokens
    assert count_tokens(text) == len(tokens)


def test_offsets_of_real_steps_tile_the_token_range(skyt1_traces: list[SkyTrace]) -> None:
    """Steps that tile a trace map to token ranges that tile its tokens, each counted as on its own."""
    for trace in skyt1_traces[:60]:
        text = trace.text
        spans = [(s.start, s.end) for s in segment(text, choose_segmenter(text))]
        offsets = char_to_token_offsets(text, spans)
        assert offsets[0][0] == 0 and offsets[-1][1] == count_tokens(text)
        assert all(a[1] == b[0] for a, b in zip(offsets, offsets[1:]))
        # Segmenters cut between tokens, so each step's own count agrees with its token range.
        assert [end - start for start, end in offsets] == [count_tokens(text[s:e]) for s, e in spans]


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(max_size=200),
    cuts=st.lists(st.integers(0, 200), max_size=12),
)
def test_offsets_are_monotone_and_consistent(text: str, cuts: list[int]) -> None:
    edges = sorted({0, len(text), *(min(c, len(text)) for c in cuts)})
    spans = list(zip(edges, edges[1:]))
    offsets = char_to_token_offsets(text, spans)
    assert all(start <= end for start, end in offsets)
    assert all(a[1] == b[0] for a, b in zip(offsets, offsets[1:]))
    assert sum(end - start for start, end in offsets) == count_tokens(text)
    assert char_to_token_offsets(text, [(0, len(text))]) == [(0, count_tokens(text))]
    token_ranges = token_spans(text)
    assert len(token_ranges) == count_tokens(text)
    assert all(a[1] <= b[0] for a, b in zip(token_ranges, token_ranges[1:]))
    assert all(not text[start:end].isspace() and end > start for start, end in token_ranges)


def test_no_code_point_above_the_whitespace_table_is_whitespace() -> None:
    """``token_words`` looks whitespace up in a table that ends at U+3000 (IDEOGRAPHIC SPACE)."""
    assert chr(0x3000).isspace()
    assert not any(chr(c).isspace() for c in range(0x3001, sys.maxunicode + 1))


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=300))
def test_token_words_are_the_text_without_whitespace_in_place(text: str) -> None:
    words, starts = token_words(text)
    assert "".join(words) == "".join(text.split())
    assert all(text.startswith(word, start) for word, start in zip(words, starts.tolist()))
    assert all(a < b for a, b in zip(starts.tolist(), starts[1:].tolist()))
