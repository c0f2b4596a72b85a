"""A training run's loss curve as an SVG drawn on the server (docs/concepts.md §5.2).

The job page's progress fragment is swapped by htmx every second while the job runs; a chart that
is markup (an ``<svg>`` with one polyline) redraws with it, with no script to run again and nothing
for the Content-Security-Policy to refuse. Pure: loss points in, coordinates and tick labels out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 640, 220
#: Room for the tick labels left of and under the plot.
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 30


@dataclass(frozen=True)
class Tick:
    at: float  # pixels along the axis
    label: str


@dataclass(frozen=True)
class LossChart:
    """The curve's ``points`` (an SVG ``points`` attribute), the last point, the plot box and ticks."""

    points: str
    last_x: float
    last_y: float
    last_step: int
    last_loss: float
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """About ``count`` round values from ``low`` to ``high`` (steps of 1, 2 or 5 × a power of ten)."""
    if high <= low:
        return [low]
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def loss_chart(points: Sequence[Sequence[float]], total_steps: int) -> LossChart | None:
    """The chart of ``[step, loss]`` points over steps 0 … ``total_steps``; None before the first point."""
    if not points:
        return None
    steps = [float(step) for step, _ in points]
    losses = [float(loss) for _, loss in points]
    x_high = float(max(total_steps, max(steps), 1))
    y_low, y_high = 0.0, max(losses) * 1.1 or 1.0

    def x(step: float) -> float:
        return round(LEFT + (WIDTH - RIGHT - LEFT) * step / x_high, 1)

    def y(loss: float) -> float:
        return round(TOP + (HEIGHT - BOTTOM - TOP) * (1 - (loss - y_low) / (y_high - y_low)), 1)

    return LossChart(
        points=" ".join(f"{x(s)},{y(v)}" for s, v in zip(steps, losses, strict=True)),
        last_x=x(steps[-1]),
        last_y=y(losses[-1]),
        last_step=int(steps[-1]),
        last_loss=losses[-1],
        x_ticks=tuple(Tick(x(t), f"{t:g}") for t in nice_ticks(0, x_high) if t == int(t)),
        y_ticks=tuple(Tick(y(t), f"{t:.3g}") for t in nice_ticks(y_low, y_high)),
    )
