"""Answers stated in prose (docs/concepts.md §3.2–3.4): conclusions, results and closing statements.

Each class of phrasing is tested on sentences in the styles of two model families (R1-style
thinking, Sky-T1-style thinking, Kimi-style multiple choice) or of our own making.
"""

from __future__ import annotations

import pytest

from traces.analysis.conclusions import closing_answer, conclusion


def _concluded(sentence: str) -> str | None:
    found = conclusion(sentence, 0, len(sentence))
    return None if found is None else found.text


def _closing(text: str) -> str | None:
    found = closing_answer(text)
    assert found is None or text[found.start : found.end] == found.text
    return None if found is None else found.text


@pytest.mark.parametrize(
    ("sentence", "value"),
    [
        # A cue that is the verb of its sentence is followed by its value.
        ("This totals to 98 pens.", "98 pens"),
        ("This gives me 100 barrels.", "100 barrels"),
        ("That's 98 again.", "98 again"),
        # Cues that sum up: "combining these results", "putting it all together".
        ("Combining these results, the polar coordinates are (3, \\( \\frac{\\pi}{2} \\)).", "(3, \\( \\frac{\\pi}{2} \\))"),
        ("Putting it all together, the area is 42.", "42"),
        # "gives … as V".
        ("Finally, multiplying 6 by 7 inches gives the perimeter of the regular hexagon as 42 inches.", "42 inches"),
        ("So dividing 84 by 12 gives the number of dozens as 7.", "7"),
        # A computation in words or on constants, before "is".
        ("Let me calculate that: 6 times 7 is 42 inches.", "42 inches"),
        ("I know that arccos(-0.5) is 120 degrees.", "120 degrees"),
        # One count, stated as what happened.
        ("So he fills three boxes.", "three"),
        ("So Billy sold 7 DVDs on Tuesday.", "7"),
        # An option letter followed by its text is the letter.
        ("So the most likely outcome is B: New plant varieties being patented.", "B"),
        ("Thus, the answer is J) The Enlightenment.", "J"),
        # A value followed by a clause is the value.
        ("So, comparing these, the highest average speed is Evelyn with 3.6 units per time unit.", "Evelyn"),
        ("Thus the integral is -756, which corresponds to one of the options.", "-756"),
        # A list of one unknown's solutions, each in its own math.
        ("Therefore, the solutions are \\(x = 3 + 2\\sqrt{2}\\) and \\(x = 3 - 2\\sqrt{2}\\).",
         "\\(x = 3 + 2\\sqrt{2}\\) and \\(x = 3 - 2\\sqrt{2}\\)"),
        ("So the roots are $x = 1$ or $x = 5$.", "$x = 1$ or $x = 5$"),
        # The subject named the answer or an extreme ("… is the smallest", "… is the correct answer").
        ("After checking all the multiples up to 2220, I find that 2220 is the smallest number that works.", "2220"),
        ("Yes, I'm confident that B is the correct answer.", "B"),
        ("So 5 is the only solution.", "5"),
        # Naming the one with the asked property.
        ("Clearly Evelyn has the highest average speed at 3.6.", "Evelyn"),
        ("Thus, Briana's distance is the greatest of the five.", "Briana"),
    ],
)
def test_conclusions_read_in_prose(sentence: str, value: str) -> None:
    assert _concluded(sentence) == value


@pytest.mark.parametrize(
    "sentence",
    [
        # An equation still to be solved: a constant on one side, unknowns on the other.
        "Gina has 28, so 28 = 2F.",
        "So, 3n + 3 = 27.",
        "Thus 2(a + b) = 26.",
        # The value of an approximation is a neighbour's, not the unknown's.
        "So \\sqrt{120} \\approx \\sqrt{121} = 11.",
        "Hence 7.9 ≈ 8 = 2^3.",
        # A multiplier, or counts coordinated in a description.
        "Therefore, the perimeter of the hexagon is six times the length of one side.",
        "So, there are four multiplications and one addition.",
        # A task, or a number that is an operand.
        "So first compute the sum of the proper divisors of 284.",
        "So I need to find how many of the 12 cards are red.",
        # A description with an article.
        "So 3 is a root.",
        "So x is the unknown.",
        "Thus the answer is the same.",
    ],
)
def test_no_conclusion_where_nothing_is_concluded(sentence: str) -> None:
    assert _concluded(sentence) is None


def test_a_solution_and_a_rewriting_still_conclude() -> None:
    """The equation rules leave a lone symbol ("n = 8") and a rewriting with unknowns on both sides."""
    assert _concluded("So n = 8.") == "8"
    assert _concluded("So, x^3 + 0x^2 + 3x - 6 = x^3 + 3x - 6.") == "x^3 + 3x - 6"


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        # Prose answers closing a finished response (Sky-T1 without markers; R1's answer part).
        ("Listing them all: 1, 2, 4, 7, 14, 28, 49, 98, 196.\n\nTherefore, the number of divisors of 196 is 9.", "9"),
        ("The rest were sold on Tuesday: 40 − 33 = 7.\n\nTherefore, Billy sold 7 DVDs on Tuesday.", "7"),
        ("Everything checks out.\n\nI think I'm good. The height is 5 cm.", "5 cm"),
        ("So the total is $1250.\n\nI think $1250 is the right answer.", "1250"),
        ("Each box holds 12 apples and 36 ÷ 12 = 3 with nothing left over.\n\nTom fills three boxes.", "three"),
        # Remarks without a value are passed over.
        ("Therefore, the remainder is 1.\n\nI think that's the answer. Everything checks out.", "1"),
        # Naming the one with the property asked for, even before the figures that support it.
        ("Evelyn has the greatest average speed: 4.5 / 1.25 = 3.6. This beats Briana (0.88) and Carla (1.22).", "Evelyn"),
        ("Her average speed is 4.5 / 1.25 = 3.6, the largest.", "3.6"),
        ("- Angela: 1.4 / 6.8 ≈ 0.21\n\nThus, Evelyn’s average speed is the largest.", "Evelyn"),
    ],
)
def test_closing_statements(text: str, answer: str) -> None:
    assert _closing(text) == answer


@pytest.mark.parametrize(
    "text",
    [
        # Cut off: mid-sentence, or right after announcing a list.
        "Wait, no, if it ends with 0, then the preceding digits can be 0 or 2.\n\nSo,",
        "Next, we compute the partial derivatives:\n\n1.",
        "So the angle at P is x degrees, and the angle at R is",
        # The last sentence with a value reads as no answer: undetermined, not a guess.
        "Also, 56 + 24 = 80 answered questions, and 20 unanswered ones, which adds up to 100 questions.",
        # Only remarks.
        "I think that's the answer. Everything checks out. Yes. Done. Good.",
    ],
)
def test_no_closing_statement(text: str) -> None:
    assert _closing(text) is None
