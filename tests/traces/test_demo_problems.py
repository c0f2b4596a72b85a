"""thinkscope's own demo word problems: deterministic, distinct, and answered correctly."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from fractions import Fraction

import pytest

from traces.demo_problems import SOURCE, TEMPLATES, DemoProblem, demo_problems


def _exact(numerator: int, denominator: int) -> int:
    """An answer the problem states as an exact division: it must come out whole."""
    value = Fraction(numerator, denominator)
    assert value.denominator == 1, f"{numerator}/{denominator} is not a whole number"
    return int(value)


def _shopping_change(n: dict[str, int]) -> int:
    total = n["notebooks"] * n["notebook_price"] + n["pens"] * n["pen_price"]
    assert n["bill"] > total  # the bill covers the purchase
    return n["bill"] - total


#: Each template's answer recomputed here from the numbers it drew, independently of the module.
RECOMPUTE: dict[str, Callable[[dict[str, int]], int]] = {
    "apples_left": lambda n: n["apples"] - n["given"],
    "marbles_in_all": lambda n: n["red"] + n["blue"],
    "pencils_in_boxes": lambda n: n["boxes"] * n["per_box"],
    "cookies_shared": lambda n: _exact(n["cookies"], n["friends"]),
    "shopping_change": _shopping_change,
    "sibling_ages": lambda n: n["age"] + (n["age"] + n["gap"]) + 2 * n["years"],
    "train_distance": lambda n: n["speed1"] * n["hours1"] + n["speed2"] * n["hours2"],
    "sharing_stickers": lambda n: _exact(n["stickers"], n["friends"]) - n["gift"],
    "percent_discount": lambda n: _exact(n["price"] * (100 - n["percent"]), 100),
    "flour_for_cakes": lambda n: math.floor(Fraction(n["kilograms"] * 1000, n["grams"])),
    "fence_cost": lambda n: 2 * (n["length"] + n["width"]) * n["cost"],
    "tile_boxes": lambda n: math.ceil(Fraction(n["length"] * n["width"], n["per_box"])),
    "machines_together": lambda n: _exact(n["bottles"], n["rate_a"] + n["rate_b"]),
    "weeks_of_saving": lambda n: _exact(n["price"] - n["saved"], n["weekly"]),
    "average_score": lambda n: _exact(sum(n[f"score{i}"] for i in range(1, 5)), 4),
    "pages_read": lambda n: n["pages"] * n["days"],
}


def test_every_template_has_an_independent_recomputation() -> None:
    assert {template.__name__ for template in TEMPLATES} == set(RECOMPUTE)


@pytest.mark.parametrize("count", [0, 1, len(TEMPLATES), 50])
def test_count_is_honoured(count: int) -> None:
    assert len(demo_problems(count)) == count


def test_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match="count"):
        demo_problems(-1)


def test_same_seed_same_problems_other_seed_other_problems() -> None:
    assert demo_problems(30, seed=3) == demo_problems(30, seed=3)
    assert [p.prompt for p in demo_problems(30, seed=3)] != [p.prompt for p in demo_problems(30, seed=4)]


def test_a_smaller_demo_is_a_prefix_of_a_larger_one() -> None:
    assert demo_problems(5) == demo_problems(40)[:5]


def test_prompts_and_ids_are_unique() -> None:
    problems = demo_problems(200)
    assert len({p.prompt for p in problems}) == 200
    assert len({p.problem_id for p in problems}) == 200


def test_templates_rotate() -> None:
    problems = demo_problems(2 * len(TEMPLATES))
    assert [p.template for p in problems] == [t.__name__ for t in TEMPLATES] * 2


@pytest.mark.parametrize("problem", demo_problems(150, seed=11), ids=lambda p: p.problem_id)
def test_answer_is_a_positive_integer_equal_to_its_recomputation(problem: DemoProblem) -> None:
    assert re.fullmatch(r"[1-9][0-9]*", problem.answer), problem.answer
    assert int(problem.answer) == RECOMPUTE[problem.template](problem.numbers)
    assert (problem.answer_type, problem.source) == ("numeric", SOURCE)


@pytest.mark.parametrize("problem", demo_problems(30), ids=lambda p: p.problem_id)
def test_every_drawn_number_is_stated_in_the_prompt(problem: DemoProblem) -> None:
    stated = {int(number) for number in re.findall(r"\d+", problem.prompt)}
    assert set(problem.numbers.values()) <= stated
    assert problem.meta == {"template": problem.template, "numbers": problem.numbers}
