"""Helpers for the export tests: read files back independently, seed synthetic traces in bulk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from traces.actions.store import store_traces
from traces.formats.base import ParsedStep, ParsedTrace
from traces.models import Project, Run, RunKind

SYNTHETIC_SOURCE = "import:synthetic"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every record of a JSONL file, decoded with the standard library alone."""
    with path.open(encoding="utf-8") as fp:
        return [json.loads(line) for line in fp if line.strip()]


def synthetic_trace(i: int, problems: int, steps: int) -> ParsedTrace:
    """Trace ``i`` of problem ``i % problems``: ``steps`` steps, the last one wrong on every third trace."""
    texts = [f"Trace {i}, step {k}: carry on." for k in range(steps)]
    labels = [1] * (steps - 1) + [-1 if i % 3 == 0 else 1]
    problem = i % problems
    return ParsedTrace(
        line_no=i + 1,
        prompt=f"Problem {problem}: what is {problem} + {problem}?",
        text="\n".join(texts),
        model_name="synthetic-model",
        steps=[ParsedStep(text=text, label=label) for text, label in zip(texts, labels, strict=True)],
        step_separator="\n",
        label_source=SYNTHETIC_SOURCE,
    )


def seed_traces(project: Project, count: int, *, problems: int | None = None, steps: int = 3) -> Run:
    """``count`` synthetic traces over ``problems`` problems (default: one each), stored in bulk."""
    run = Run.objects.create(project=project, kind=RunKind.IMPORT, name="synthetic.jsonl", source_format="trl")
    store_traces(project, run, (synthetic_trace(i, problems or count, steps) for i in range(count)))
    return run
