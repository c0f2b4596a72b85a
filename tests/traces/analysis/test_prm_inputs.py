"""The token layout a PRM reads (docs/concepts.md §5.1): TRL's PRM trainer's and Math-Shepherd's."""

from __future__ import annotations

import pytest

from traces.analysis.prm_inputs import IGNORED, NEGATIVE_CLASS, POSITIVE_CLASS, STEP_TAG, Layout, step_input


def characters(text: str) -> list[int]:
    """A tokenizer of one token per character (its code point)."""
    return [ord(c) for c in text]


def test_token_classification_is_trls_layout_with_the_label_on_each_separator() -> None:
    inputs = step_input(characters, Layout.token_classification("\n"), "Q?", ["a", "bc"], bos_token_id=0)
    assert inputs.input_ids == [0, *characters("Q?a\nbc\n")]
    assert inputs.positions == [4, 7]  # the separators after "a" and "bc"
    assert [chr(inputs.input_ids[p]) for p in inputs.positions] == ["\n", "\n"]
    labels = inputs.labels([True, False])
    assert labels[4] == POSITIVE_CLASS and labels[7] == NEGATIVE_CLASS
    assert all(label == IGNORED for i, label in enumerate(labels) if i not in (4, 7))


def test_step_tag_is_math_shepherds_layout_with_the_score_at_each_tag() -> None:
    layout = Layout.step_tag("#")
    inputs = step_input(characters, layout, "Q", ["a", "b"], bos_token_id=0)
    assert layout.convention == STEP_TAG
    assert "".join(map(chr, inputs.input_ids)) == "Q a #\nb #"  # no beginning-of-text token
    assert [chr(inputs.input_ids[p]) for p in inputs.positions] == ["#", "#"]


def test_a_long_trace_is_cut_and_its_last_steps_get_no_position() -> None:
    inputs = step_input(characters, Layout.token_classification(), "Q", ["aaaa", "bbbb"], max_length=7)
    assert len(inputs.input_ids) == 7
    assert inputs.positions == [5, None]
    assert inputs.labels([False, True]).count(IGNORED) == 6


def test_bad_layouts_and_labels_are_named() -> None:
    with pytest.raises(ValueError, match="separator must not be empty"):
        Layout.token_classification("")
    with pytest.raises(ValueError, match="step tag must not be empty"):
        Layout.step_tag(" ")
    with pytest.raises(ValueError, match="1 labels for 2 steps"):
        step_input(characters, Layout.token_classification(), "Q", ["a", "b"]).labels([True])
    with pytest.raises(ValueError, match="max_length must be at least 1"):
        step_input(characters, Layout.token_classification(), "Q", ["a"], max_length=0)
