"""LLM judges (SPEC §3.7): the fixed prompts, the strict parsers (a failure is never a guess) and
panels of judges with their agreement."""

from __future__ import annotations

from typing import Any

import pytest

from traces.analysis.judges import (
    FIRST_ERROR_PROMPT,
    PanelLabel,
    ParseFailure,
    Verdicts,
    judge_prompt,
    panel_agreement,
    panel_labels,
    parse_reply,
)

STEPS = ["2 + 3 = 5.", "5 * 2 = 11.", "The answer is 11."]


def test_the_first_error_prompt_is_processbench_s_critic_template() -> None:
    prompt = judge_prompt("What is (2+3)*2?", STEPS, "first_error")
    assert prompt.startswith("The following is a math problem and a solution (split into paragraphs, enclosed")
    assert "[Math Problem]\n\nWhat is (2+3)*2?\n\n[Solution]\n\n<paragraph_0>\n2 + 3 = 5.\n</paragraph_0>" in prompt
    assert "<paragraph_2>\nThe answer is 11.\n</paragraph_2>" in prompt
    assert prompt.endswith("Please put your final answer (i.e., the index) in \\boxed{}.")
    assert "{" not in FIRST_ERROR_PROMPT.replace("{{}}", "").replace("{problem}", "").replace("{tagged_response}", "")


def test_the_step_prompt_asks_for_one_line_per_paragraph() -> None:
    prompt = judge_prompt("Q?", STEPS, "steps")
    assert 'from paragraph 0 to paragraph 2, each of the form "Paragraph i: +1"' in prompt
    with pytest.raises(ValueError, match="at least one step"):
        judge_prompt("Q?", [], "steps")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("The second paragraph multiplies wrongly.\n\n\\boxed{1}", Verdicts((1, -1, None), 1)),
        ("All correct. \\boxed{-1}", Verdicts((1, 1, 1), -1)),
        ("<think>maybe \\boxed{0}</think>Paragraph 1 is wrong: \\boxed{1}", Verdicts((1, -1, None), 1)),
    ],
)
def test_first_error_replies(reply: str, expected: Verdicts) -> None:
    assert parse_reply(reply, 3, "first_error") == expected


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("Paragraph 1 is wrong.", "no \\boxed{} index"),
        ("\\boxed{paragraph 1}", "is not a paragraph index"),
        ("\\boxed{3}", "index 3 is outside -1..2"),
        ("\\boxed{-2}", "outside"),
        ("<think>paragraph 1 looks off, so \\boxed{1}", "thinking never ended"),
        ("", "empty"),
    ],
)
def test_first_error_parse_failures_say_why(reply: str, reason: str) -> None:
    failure = parse_reply(reply, 3, "first_error")
    assert isinstance(failure, ParseFailure) and reason in failure.reason


def test_step_verdicts_take_the_final_block() -> None:
    reply = (
        "Paragraph 0: +1 seems right at first.\nLet me check.\n\nParagraph 0: +1\nParagraph 1: -1\n**Paragraph 2:** 0\n"
    )
    assert parse_reply(reply, 3, "steps") == Verdicts((1, -1, 0), 1)
    assert parse_reply("paragraph_0: 1\nparagraph_1: 1\nparagraph_2: −1", 3, "steps") == Verdicts((1, 1, -1), 2)


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("Everything is fine.", 'does not end with "Paragraph i: ±1" lines'),
        ("Paragraph 0: +1\nParagraph 1: -1", "rate paragraphs [0, 1], expected 0..2"),
        ("Paragraph 0: +1\nParagraph 2: -1\nParagraph 1: 0", "rate paragraphs [0, 2, 1]"),
        ("Paragraph 0: +1\nParagraph 1: +1\nParagraph 2: +1\nParagraph 3: +1", "expected 0..2"),
        ("Paragraph 0: +1\nParagraph 1: 2\nParagraph 2: +1", "rate paragraphs [2]"),
        ("Paragraph 0: +1\nParagraph 1: +1\nParagraph 2: +1\nI am not sure.", "does not end with"),
    ],
)
def test_step_parse_failures_say_why(reply: str, reason: str) -> None:
    failure = parse_reply(reply, 3, "steps")
    assert isinstance(failure, ParseFailure) and reason in failure.reason
    assert failure.excerpt


def test_panel_labels_by_strict_majority() -> None:
    labels = panel_labels([(1, -1, None, 1), (1, 1, None, 0), (1, -1, -1, -1)])
    assert labels == [
        PanelLabel(1, 1.0, 3),
        PanelLabel(-1, 2 / 3, 3),
        PanelLabel(-1, 1.0, 1),
        PanelLabel(None, 1 / 3, 3),  # three different votes: no majority
    ]
    assert panel_labels([(1,), (None,)]) == [PanelLabel(1, 1.0, 1)]
    assert panel_labels([(None,), (None,)]) == [None]
    with pytest.raises(ValueError, match="different numbers of steps"):
        panel_labels([(1, 1), (1,)])


def test_panel_agreement_reuses_the_metrics() -> None:
    perfect = panel_agreement([[1, 1], [-1, -1], [1, 1], [0, 0]], judges=2)
    assert perfect.krippendorff_alpha == pytest.approx(1.0) and perfect.fleiss_kappa == pytest.approx(1.0)
    assert perfect.steps == 4
    mixed: Any = panel_agreement([[1, -1], [-1, 1], [1, 1], [1]], judges=2)
    assert mixed.krippendorff_alpha < 0.5 and mixed.steps == 3
    assert panel_agreement([[1], [0]], judges=2) == panel_agreement([], judges=2)
    assert panel_agreement([[1, 1], [1, 1]], judges=2).krippendorff_alpha is None  # one category: undefined
