"""thinkscope's own demo problems: templated math word problems with computed answers (docs/concepts.md §1
Problem; used by ``manage.py demo``).

Pure: no ORM, no data files. Every problem is written by a template from numbers drawn with a
seeded ``random.Random``; the answer is computed by the same code, is always an integer, and is
stored as its decimal string with ``answer_type="numeric"``. No dataset is copied.

Templates are used in a fixed rotation and each problem's numbers come from one RNG that advances
problem by problem, so ``demo_problems(4)`` is the first four of ``demo_problems(32)``: a smaller
demo is a prefix of a larger one, and ``problem_id`` (``demo-s<seed>-<index>``) names the same
problem whatever the count.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SOURCE = "thinkscope-demo"
NAMES = ("Maya", "Tom", "Aisha", "Lukas", "Priya", "Omar", "Sofia", "Kenji", "Lena", "Diego", "Grace", "Ivan")


@dataclass(frozen=True)
class DemoProblem:
    """One generated word problem and its known answer."""

    problem_id: str
    prompt: str
    answer: str
    template: str
    numbers: dict[str, int] = field(default_factory=dict)
    answer_type: str = "numeric"
    source: str = SOURCE

    @property
    def meta(self) -> dict[str, Any]:
        """What is stored as ``Problem.meta``: the template and the numbers it drew."""
        return {"template": self.template, "numbers": dict(self.numbers)}


@dataclass(frozen=True)
class _Draft:
    prompt: str
    answer: int
    numbers: dict[str, int]


def plural(count: int, noun: str) -> str:
    """``"1 hour"``, ``"3 hours"``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


# --- Templates: each draws its numbers from ``rng`` and computes the answer -----------------------
# Five one-step problems (the demo's 135M model gets most of them right when it thinks first) and
# problems of two or more steps (it gets few right, and loses its way in some); the rotation below
# mixes them, so the demo's 16 problems, one per template, show both verdicts.


def apples_left(rng: random.Random) -> _Draft:
    name = rng.choice(NAMES)
    apples, given = rng.randint(6, 20), rng.randint(1, 5)
    prompt = f"{name} has {apples} apples and gives {given} of them to a friend. How many apples does {name} have left?"
    return _Draft(prompt, apples - given, {"apples": apples, "given": given})


def marbles_in_all(rng: random.Random) -> _Draft:
    name = rng.choice(NAMES)
    red, blue = rng.randint(2, 15), rng.randint(2, 15)
    prompt = f"{name} has {red} red marbles and {blue} blue marbles. How many marbles does {name} have in all?"
    return _Draft(prompt, red + blue, {"red": red, "blue": blue})


def pencils_in_boxes(rng: random.Random) -> _Draft:
    boxes, per_box = rng.randint(2, 9), rng.randint(2, 10)
    prompt = f"There are {boxes} boxes with {per_box} pencils in each box. How many pencils are there in total?"
    return _Draft(prompt, boxes * per_box, {"boxes": boxes, "per_box": per_box})


def cookies_shared(rng: random.Random) -> _Draft:
    name = rng.choice(NAMES)
    friends, each = rng.randint(2, 6), rng.randint(2, 8)
    prompt = (
        f"{name} shares {friends * each} cookies equally among {friends} friends. "
        "How many cookies does each friend get?"
    )
    return _Draft(prompt, each, {"cookies": friends * each, "friends": friends})


def pages_read(rng: random.Random) -> _Draft:
    name = rng.choice(NAMES)
    pages, days = rng.randint(3, 12), rng.randint(2, 7)
    prompt = f"{name} reads {pages} pages every day for {days} days. How many pages does {name} read in all?"
    return _Draft(prompt, pages * days, {"pages": pages, "days": days})


def shopping_change(rng: random.Random) -> _Draft:
    name = rng.choice(NAMES)
    notebooks, notebook_price = rng.randint(2, 6), rng.randint(2, 9)
    pens, pen_price = rng.randint(2, 8), rng.randint(1, 4)
    total = notebooks * notebook_price + pens * pen_price
    bill = 20 * math.ceil((total + 1) / 20)
    prompt = (
        f"{name} buys {notebooks} notebooks at ${notebook_price} each and {pens} pens at ${pen_price} each. "
        f"{name} pays with ${bill}. How many dollars of change does {name} get back?"
    )
    return _Draft(
        prompt,
        bill - total,
        {"notebooks": notebooks, "notebook_price": notebook_price, "pens": pens, "pen_price": pen_price, "bill": bill},
    )


def sibling_ages(rng: random.Random) -> _Draft:
    name = rng.choice(NAMES)
    age, gap, years = rng.randint(5, 30), rng.randint(2, 12), rng.randint(2, 15)
    prompt = (
        f"{name} is {age} years old. {name}'s brother is {gap} years older. "
        f"In {years} years, what will the sum of their ages be?"
    )
    return _Draft(prompt, age + (age + gap) + 2 * years, {"age": age, "gap": gap, "years": years})


def train_distance(rng: random.Random) -> _Draft:
    speed1, hours1 = 10 * rng.randint(4, 12), rng.randint(1, 5)
    speed2, hours2 = 10 * rng.randint(4, 12), rng.randint(1, 4)
    prompt = (
        f"A train travels at {speed1} km per hour for {plural(hours1, 'hour')}, then at {speed2} km per hour "
        f"for {plural(hours2, 'hour')}. How many kilometres does it travel in total?"
    )
    return _Draft(
        prompt,
        speed1 * hours1 + speed2 * hours2,
        {"speed1": speed1, "hours1": hours1, "speed2": speed2, "hours2": hours2},
    )


def sharing_stickers(rng: random.Random) -> _Draft:
    friends, each, gift = rng.randint(3, 9), rng.randint(6, 20), rng.randint(1, 5)
    prompt = (
        f"{friends} friends share {friends * each} stickers equally. Then each friend gives {gift} "
        f"stickers to a younger cousin. How many stickers does each friend have left?"
    )
    return _Draft(prompt, each - gift, {"friends": friends, "stickers": friends * each, "gift": gift})


def percent_discount(rng: random.Random) -> _Draft:
    price = 20 * rng.randint(2, 15)
    percent = rng.choice((10, 15, 20, 25, 30, 40, 50, 75))
    prompt = f"A jacket costs ${price}. It is on sale for {percent}% off. What is the sale price in dollars?"
    return _Draft(prompt, price * (100 - percent) // 100, {"price": price, "percent": percent})


def flour_for_cakes(rng: random.Random) -> _Draft:
    grams = rng.choice((100, 125, 200, 250, 500))
    kilograms = rng.randint(1, 6)
    prompt = (
        f"A cake needs {grams} grams of flour. How many cakes can be baked with "
        f"{plural(kilograms, 'kilogram')} of flour? (1 kilogram = 1000 grams)"
    )
    return _Draft(prompt, kilograms * 1000 // grams, {"grams": grams, "kilograms": kilograms})


def fence_cost(rng: random.Random) -> _Draft:
    length, cost = rng.randint(5, 30), rng.randint(2, 12)
    width = rng.randint(3, length - 1)
    prompt = (
        f"A rectangular garden is {length} metres long and {width} metres wide. Fencing costs ${cost} "
        f"per metre. How many dollars does it cost to put a fence all the way around the garden?"
    )
    return _Draft(prompt, 2 * (length + width) * cost, {"length": length, "width": width, "cost": cost})


def tile_boxes(rng: random.Random) -> _Draft:
    length, width, per_box = rng.randint(3, 12), rng.randint(3, 12), rng.choice((5, 6, 8, 10, 12))
    prompt = (
        f"A floor is {length} metres by {width} metres. Each tile covers 1 square metre and tiles come "
        f"in boxes of {per_box}. What is the smallest number of boxes needed to cover the floor?"
    )
    return _Draft(prompt, -(-length * width // per_box), {"length": length, "width": width, "per_box": per_box})


def machines_together(rng: random.Random) -> _Draft:
    rate_a, rate_b, minutes = rng.randint(3, 15), rng.randint(3, 15), rng.randint(4, 20)
    total = (rate_a + rate_b) * minutes
    prompt = (
        f"Machine A fills {rate_a} bottles per minute and machine B fills {rate_b} bottles per minute. "
        f"Working together, how many minutes do they need to fill {total} bottles?"
    )
    return _Draft(prompt, minutes, {"rate_a": rate_a, "rate_b": rate_b, "bottles": total})


def weeks_of_saving(rng: random.Random) -> _Draft:
    name = rng.choice(NAMES)
    weekly, saved, weeks = rng.randint(5, 25), rng.randint(10, 90), rng.randint(3, 15)
    price = saved + weekly * weeks
    prompt = (
        f"{name} has ${saved} and saves ${weekly} every week. A bike costs ${price}. "
        f"How many weeks does {name} need to save to buy the bike?"
    )
    return _Draft(prompt, weeks, {"saved": saved, "weekly": weekly, "price": price})


def average_score(rng: random.Random) -> _Draft:
    name = rng.choice(NAMES)
    mean = rng.randint(55, 70)
    offsets = [rng.randint(-10, 10) for _ in range(3)]
    scores = [mean + offset for offset in offsets] + [mean - sum(offsets)]  # all within 25..100
    listed = ", ".join(str(score) for score in scores[:-1]) + f" and {scores[-1]}"
    prompt = f"{name} scored {listed} on four tests. What is {name}'s average score?"
    return _Draft(prompt, sum(scores) // 4, {f"score{i + 1}": s for i, s in enumerate(scores)})


Template = Callable[[random.Random], _Draft]

#: The rotation: problem ``i`` uses ``TEMPLATES[i % len(TEMPLATES)]``.
TEMPLATES: tuple[Template, ...] = (
    apples_left,
    shopping_change,
    marbles_in_all,
    sibling_ages,
    pencils_in_boxes,
    train_distance,
    cookies_shared,
    sharing_stickers,
    percent_discount,
    pages_read,
    flour_for_cakes,
    fence_cost,
    tile_boxes,
    machines_together,
    weeks_of_saving,
    average_score,
)

#: Redraws allowed before a template is declared unable to give a new problem.
_MAX_REDRAWS = 50


def demo_problems(count: int = 32, seed: int = 7) -> list[DemoProblem]:
    """``count`` distinct word problems with integer answers, the same ones for the same seed."""
    if count < 0:
        raise ValueError("count must not be negative")
    rng = random.Random(seed)
    seen: set[str] = set()
    problems = []
    for index in range(count):
        template = TEMPLATES[index % len(TEMPLATES)]
        draft = _fresh_draft(template, rng, seen)
        seen.add(draft.prompt)
        problems.append(
            DemoProblem(
                problem_id=f"demo-s{seed}-{index:03d}",
                prompt=draft.prompt,
                answer=str(draft.answer),
                template=template.__name__,
                numbers=draft.numbers,
            )
        )
    return problems


def _fresh_draft(template: Template, rng: random.Random, seen: set[str]) -> _Draft:
    for _ in range(_MAX_REDRAWS):
        draft = template(rng)
        if draft.prompt not in seen:
            return draft
    raise ValueError(f"template {template.__name__} cannot draw a new problem after {_MAX_REDRAWS} tries")
