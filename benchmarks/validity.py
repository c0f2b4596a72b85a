"""Validity: thinkscope's analyses held against the hand-checked truth set (benchmarks/truth/README.md).

    .venv/bin/python benchmarks/validity.py [--data ../shared/data] [--truth benchmarks/truth] [--quiet]

Each truth record names a trace of a public sample file (read in place from the sample data folder)
or of ``own_traces.jsonl``. Every trace goes through the import and the analysis as the app runs
them, minus the database: the sample line as a thinkscope JSONL record (``traces.formats.jsonl``),
the think format decided once per model from all that model's traces in the file
(``think.decide_think_format``, as an import does), ``trace_builder.build_trace_fields`` (think and
answer split, steps, final answer and its correctness) and ``engine.analyze_trace`` (mismatch, t*,
truncation, loops).

Prints, per analysis and per model (docs/concepts.md §3.2–3.4):

* think–answer mismatch: precision and recall of the traces flagged ``mismatch``;
* final-answer correctness: agreement with the reader on the traces the reader could grade;
* truncated thinking: agreement with the reader on every trace (the target is exact);
* t*: the share of the reader's correct traces where t* is found as the reader finds it (found when
  the reader found it, absent when the reader's thinking never reaches the reference, as a plan
  that is never carried out), and of those where both found it, the share within one step (the reader's ``t_star_char`` mapped to the step holding it, in the
  segmentation the analysis counts t* in);
* loops: precision (and recall) of the traces flagged as looping;

then lists every disagreement with the reader, and every trace whose source's own verdict differs from
the reader's or from thinkscope's, with the reader's note on its cause.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
DEFAULT_TRUTH = ROOT / "benchmarks" / "truth"
OWN = "own"
OWN_TRACES = "own_traces.jsonl"
SKYT1_PREFIX = "skyt1_math500_traces/"

sys.path.insert(0, str(ROOT))

from traces.analysis.engine import TraceInput, TraceReport, analyze_trace, steps_within  # noqa: E402
from traces.analysis.overthinking import reasoning_range  # noqa: E402
from traces.analysis.segmentation import Span  # noqa: E402
from traces.analysis.think import ThinkEvidence, ThinkSplit, decide_think_format  # noqa: E402
from traces.formats.base import ParsedTrace  # noqa: E402
from traces.formats.jsonl import parse_record  # noqa: E402
from traces.trace_builder import BuiltTrace, build_trace_fields, resolve_answer_type  # noqa: E402


@dataclass(frozen=True)
class Judged:
    """One truth record beside what thinkscope made of its trace."""

    truth: dict[str, Any]
    built: BuiltTrace
    report: TraceReport
    truth_step: int | None  # the step (of those t* is counted in) holding the reader's t*

    @property
    def name(self) -> str:
        return f"{self.truth['file']}:{self.truth['line']}"

    @property
    def model(self) -> str:
        return str(self.truth["model"])


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fp:
        return [json.loads(line) for line in fp if line.strip()]


def truth_records(truth_dir: Path) -> list[dict[str, Any]]:
    """Every judgement of the truth set, file by file (``own_traces.jsonl`` holds traces, not judgements)."""
    return [
        record
        for path in sorted(truth_dir.glob("*.jsonl"))
        if path.name != OWN_TRACES
        for record in read_jsonl(path)
    ]


def as_import_record(file: str, record: dict[str, Any]) -> dict[str, Any]:
    """A sample line as the thinkscope JSONL record a user would import: the reasoning-trace files
    already are one; a Sky-T1 line's question, raw output and reference are named as the format
    names them."""
    if file.startswith(SKYT1_PREFIX):
        return {
            "prompt": record["question"],
            "completion": record["code"][0],
            "reference_answer": record["answer"],
            "model": Path(file).name.split(".")[0],
            "problem_id": str(record["idx"]),
        }
    return record


def thinking_text(record: dict[str, Any]) -> str:
    """The text the reader's offsets index: the separate reasoning_content, else the raw output."""
    return record.get("reasoning_content") or record.get("completion") or record["code"][0]


def parsed_file(path: Path, file: str) -> dict[int, ParsedTrace]:
    """Every line of a sample file that the importer accepts, by line, each with the think format its
    model's traces in the file decide (as one import of the whole file would)."""
    parsed: dict[int, ParsedTrace] = {}
    for line_no, record in enumerate(read_jsonl(path), start=1):
        try:
            parsed[line_no] = parse_record(as_import_record(file, record), line_no)[0]
        except ValueError:  # FormatError: a line the importer refuses (e.g. a null completion)
            continue
    evidence: dict[str, ThinkEvidence] = defaultdict(ThinkEvidence)
    for trace in parsed.values():
        if trace.think_format == "auto":
            evidence[trace.model_name].add(trace.text, trace.reasoning_content)
    decided = {model: decide_think_format(shown).think_format for model, shown in evidence.items()}
    for trace in parsed.values():
        if trace.think_format == "auto":
            trace.think_format = decided[trace.model_name]
    return parsed


def judge(truth_dir: Path = DEFAULT_TRUTH, data_dir: Path = DEFAULT_DATA) -> list[Judged]:
    """Import and analyse the trace of every truth record; raises FileNotFoundError without the data."""
    truths = truth_records(truth_dir)
    files: dict[str, dict[int, ParsedTrace]] = {}
    sources: dict[str, list[dict[str, Any]]] = {}
    judged = []
    for truth in truths:
        file = truth["file"]
        path = truth_dir / OWN_TRACES if file == OWN else data_dir / file
        if file not in files:
            files[file] = parsed_file(path, file)
            sources[file] = read_jsonl(path)
        parsed = files[file].get(truth["line"])
        if parsed is None:
            raise ValueError(f"{file}:{truth['line']}: the importer refuses this line")
        judged.append(_judged(truth, parsed, thinking_text(sources[file][truth["line"] - 1])))
    return judged


def _judged(truth: dict[str, Any], parsed: ParsedTrace, thinking: str) -> Judged:
    built = build_trace_fields(parsed)
    split = ThinkSplit(built.think_start, built.think_end, built.answer_start, built.answer_end, built.think_closed)
    trace = TraceInput(
        text=built.raw_text,
        split=split,
        steps=[Span(step.char_start, step.char_end) for step in built.steps],
        finish_reason=parsed.finish_reason,
        reference=parsed.reference_answer or None,
        answer_type=resolve_answer_type(parsed),
        problem=parsed.prompt,
    )
    report = analyze_trace(trace)
    truth_step = None
    if truth["t_star_char"] is not None:
        at = built.raw_text.find(thinking)
        if at < 0:
            raise ValueError(f"{truth['file']}:{truth['line']}: the reader's thinking text is not in the imported text")
        steps = steps_within(trace.steps, *reasoning_range(split))
        truth_step = max(0, bisect_right([s.start for s in steps], at + truth["t_star_char"]) - 1)
    return Judged(truth, built, report, truth_step)


@dataclass
class Rate:
    """``hits`` of ``total``, with the names of the misses."""

    hits: int = 0
    total: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, hit: bool, name: str) -> None:
        self.total += 1
        self.hits += hit
        if not hit:
            self.misses.append(name)

    @property
    def value(self) -> float | None:
        return self.hits / self.total if self.total else None

    def __str__(self) -> str:
        return "n/a (0 traces)" if self.value is None else f"{self.value:.3f} ({self.hits}/{self.total})"


@dataclass
class Measures:
    """The validity figures of a set of judged traces (module docstring)."""

    mismatch_precision: Rate = field(default_factory=Rate)
    mismatch_recall: Rate = field(default_factory=Rate)
    correctness: Rate = field(default_factory=Rate)
    truncation: Rate = field(default_factory=Rate)
    t_star_found: Rate = field(default_factory=Rate)
    t_star_within_one: Rate = field(default_factory=Rate)
    loop_precision: Rate = field(default_factory=Rate)
    loop_recall: Rate = field(default_factory=Rate)


def measure(judged: Iterable[Judged]) -> Measures:
    """Precision, recall and agreement of each analysis against the reader (module docstring)."""
    m = Measures()
    for j in judged:
        truth, verdicts = j.truth, j.report.verdicts
        flagged = verdicts["mismatch"] == "mismatch"
        if flagged:
            m.mismatch_precision.add(truth["mismatch"] is True, j.name)
        if truth["mismatch"] is True:
            m.mismatch_recall.add(flagged, j.name)
        if truth["final_correct"] is not None:
            m.correctness.add(j.built.is_correct == truth["final_correct"], j.name)
        m.truncation.add(verdicts["truncated"] == truth["thinking_truncated"], j.name)
        if truth["final_correct"] is True:
            m.t_star_found.add((verdicts["t_star"] is None) == (truth["t_star_char"] is None), j.name)
        if verdicts["t_star"] is not None and j.truth_step is not None:
            m.t_star_within_one.add(abs(int(verdicts["t_star"]) - j.truth_step) <= 1, j.name)
        if verdicts["loop"]:
            m.loop_precision.add(truth["loop"] is True, j.name)
        if truth["loop"]:
            m.loop_recall.add(bool(verdicts["loop"]), j.name)
    return m


ROWS: list[tuple[str, Callable[[Measures], Rate]]] = [
    ("mismatch precision", lambda m: m.mismatch_precision),
    ("mismatch recall", lambda m: m.mismatch_recall),
    ("final-answer correctness agreement (gradable)", lambda m: m.correctness),
    ("truncated thinking agreement", lambda m: m.truncation),
    ("t* found (as the reader finds it) on correct traces", lambda m: m.t_star_found),
    ("t* within one step of the reader's", lambda m: m.t_star_within_one),
    ("loop precision", lambda m: m.loop_precision),
    ("loop recall", lambda m: m.loop_recall),
]


def describe(j: Judged) -> str:
    """One trace's readings, the reader's and thinkscope's, on one line."""
    t, v = j.truth, j.report.verdicts
    return (
        f"final {t['final_answer']!r}→{t['final_correct']} vs {j.built.final_answer!r}→{j.built.is_correct}; "
        f"conclusion {t['thinking_conclusion']!r} vs {v['think_answer']!r}; mismatch {t['mismatch']} vs {v['mismatch']}; "
        f"truncated {t['thinking_truncated']} vs {v['truncated']}; t* step {j.truth_step} vs {v['t_star']}; "
        f"loop {t['loop']} vs {v['loop']}"
    )


def source_disagreements(judged: Iterable[Judged]) -> list[Judged]:
    """Traces whose source's own verdict differs from the reader's or from thinkscope's."""
    return [
        j
        for j in judged
        if j.truth["source_correct"] is not None
        and (j.truth["source_correct"] != j.truth["final_correct"] or j.truth["source_correct"] != j.built.is_correct)
    ]


def report(judged: list[Judged], *, quiet: bool = False) -> None:
    by_model: dict[str, list[Judged]] = defaultdict(list)
    for j in judged:
        by_model[j.model].append(j)
    overall = measure(judged)
    print(f"{len(judged)} traces of the truth set, {len(by_model)} models")
    for label, rate in ROWS:
        print(f"\n{label}: {rate(overall)}")
        for model, traces in sorted(by_model.items()):
            print(f"    {model}: {rate(measure(traces))}")
    if quiet:
        return
    names = {j.name: j for j in judged}
    print("\nDisagreements with the reader:")
    for label, rate in ROWS:
        for name in rate(overall).misses:
            print(f"  [{label}] {name} ({names[name].model}): {describe(names[name])}")
    print("\nThe source's own verdict against the reader's and thinkscope's:")
    for j in source_disagreements(judged):
        print(
            f"  {j.name}: source {j.truth['source_correct']}, reader {j.truth['final_correct']}, "
            f"thinkscope {j.built.is_correct} ({j.built.grading_method}, final {j.built.final_answer!r}): "
            f"{j.truth['notes'] or '(no note)'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the sample data folder (default: %(default)s)")
    parser.add_argument("--truth", type=Path, default=DEFAULT_TRUTH, help="the truth-set folder (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="figures only, without the lists of disagreements")
    args = parser.parse_args()
    started = time.perf_counter()
    judged = judge(args.truth, args.data)
    elapsed = time.perf_counter() - started
    report(judged, quiet=args.quiet)
    print(f"\nimported and analysed {len(judged)} traces in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
