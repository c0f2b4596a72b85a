"""The think format each model's traces are read with in one import (docs/concepts.md §1, Trace).

A model's format is decided once per import, for all its traces, never guessed trace by trace:

1. the import's own think format, when the person importing chose one, for every trace;
2. a line's own ``think_format`` (thinkscope JSONL), for that line;
3. the model's setting (``LanguageModel.think_format``) when it is not ``auto``;
4. else what the model's traces in the file show (``think.decide_think_format``), or ``none``
   when they show nothing (reported as undetermined).

``plan_think_formats`` reads the records once before the import stores them (an import reads its
file twice; the first read costs a parse, small beside storing) and returns the plan; the import
report lists per model the format, where it came from and why (``ModelFormat``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from traces.analysis.think import ThinkEvidence, decide_think_format
from traces.formats.base import ParsedTrace
from traces.models import LanguageModel, Project, ThinkFormat

AUTO = ThinkFormat.AUTO.value

#: The formats a person can choose for an import (``auto``: decide per model).
CHOICES = tuple(ThinkFormat.values)


@dataclass(frozen=True)
class ModelFormat:
    """How one model's traces of an import are read: the format, where it came from, and why."""

    model: str
    think_format: str
    source: str  # "import", "file", "model", "detected" or "undetermined"
    reason: str
    traces: int

    def as_dict(self) -> dict[str, str | int]:
        return asdict(self)


class FormatPlan:
    """The think format of each model of one import, applied to its traces as they are stored."""

    def __init__(self, chosen: str, models: dict[str, ModelFormat]) -> None:
        self.chosen = chosen
        self.models = models

    def apply(self, parsed: ParsedTrace) -> ParsedTrace:
        """``parsed`` with the think format it is read with (rules 1–4 of the module docstring)."""
        if self.chosen != AUTO:
            parsed.think_format = self.chosen
        elif parsed.think_format == AUTO and model_name(parsed) in self.models:
            parsed.think_format = self.models[model_name(parsed)].think_format
        # A model the planning read did not see (the file changed between the two reads) is read
        # by each trace's own delimiters.
        return parsed

    def report(self) -> list[dict[str, str | int]]:
        """The per-model entries of the import report, by model name."""
        return [self.models[name].as_dict() for name in sorted(self.models)]


def model_name(parsed: ParsedTrace) -> str:
    """The model a trace is stored under (``traces.actions.store``)."""
    return parsed.model_name or "unknown"


def check_choice(chosen: str | None) -> str:
    """The import's think format (``auto`` when none was chosen); a clear error for an unknown one."""
    chosen = chosen or AUTO
    if chosen not in CHOICES:
        raise ValueError(f"unknown think format {chosen!r} (expected one of {', '.join(CHOICES)})")
    return chosen


def plan_think_formats(project: Project, records: Iterable[ParsedTrace], chosen: str | None = None) -> FormatPlan:
    """Read ``records`` (every trace of the import) and decide each model's think format."""
    chosen = check_choice(chosen)
    evidence: dict[str, ThinkEvidence] = defaultdict(ThinkEvidence)
    named: dict[str, Counter[str]] = defaultdict(Counter)  # formats the lines name themselves
    for parsed in records:
        name = model_name(parsed)
        if chosen != AUTO or parsed.think_format != AUTO:
            named[name][chosen if chosen != AUTO else parsed.think_format] += 1
        else:
            evidence[name].add(parsed.text, parsed.reasoning_content if parsed.steps is None else None)
    settings = dict(
        LanguageModel.objects.filter(project=project, name__in=[*evidence, *named])
        .exclude(think_format=AUTO)
        .values_list("name", "think_format")
    )
    models = {name: _named(name, counts, chosen) for name, counts in named.items()}
    for name, shown in evidence.items():
        models[name] = _decided(name, shown, settings.get(name), models.get(name))
    return FormatPlan(chosen, models)


def _named(name: str, counts: Counter[str], chosen: str) -> ModelFormat:
    """A model whose traces' format the import or the file names."""
    total = sum(counts.values())
    if chosen != AUTO:
        return ModelFormat(name, chosen, "import", "chosen for this import", total)
    fmt, _ = counts.most_common(1)[0]
    said = ", ".join(f"{count} {value}" for value, count in counts.most_common())
    return ModelFormat(name, fmt if len(counts) == 1 else "mixed", "file", f"named by the lines: {said}", total)


def _decided(name: str, evidence: ThinkEvidence, setting: str | None, named: ModelFormat | None) -> ModelFormat:
    """A model whose traces the import reads by its setting, else by what they show."""
    extra = f"; {named.traces} more name their own format" if named else ""
    traces = evidence.traces + (named.traces if named else 0)
    if setting is not None:
        return ModelFormat(name, setting, "model", f"the model's setting{extra}", traces)
    decision = decide_think_format(evidence)
    if decision.determined:
        return ModelFormat(name, decision.think_format, "detected", f"detected: {decision.reason}{extra}", traces)
    reason = f"undetermined, read with no think part: {decision.reason}{extra}"
    return ModelFormat(name, decision.think_format, "undetermined", reason, traces)
