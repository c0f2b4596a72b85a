"""Analysis throughput on long reasoning traces, beside a regex-only baseline in the same run.

    .venv/bin/python benchmarks/analysis_throughput.py [--repeat 3]

Runs the whole per-trace analysis (think split, segmentation, answer extraction and grading, then
``engine.analyze_trace``: mismatch, overthinking, loops, behaviours) on the Sky-T1 MATH-500 traces
in ../shared/data (read in place), in one process (so traces/s is per core). The baseline is the
same pass with math-verify switched off (grading falls back to normalised strings and numbers),
which is what "math-verify only when cheap normalisation cannot decide" is measured against.
Prints traces/s for all traces and for the longest tenth (the sample has no trace over the issue's
8k tokens; the longest tenth is the closest stand-in), and the full/baseline ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "data" / "skyt1_math500_traces" / "Sky-T1-math-correct-5K-27B.math500.lines1-300.jsonl"
LONGEST_SHARE = 10  # the longest 1/10 of the traces

sys.path.insert(0, str(ROOT))

from traces.analysis import answers  # noqa: E402
from traces.analysis.engine import TraceInput, analyze_trace  # noqa: E402
from traces.analysis.segmentation import choose_segmenter, segment  # noqa: E402
from traces.analysis.think import split_think  # noqa: E402
from traces.analysis.tokens import token_starts  # noqa: E402


def analyse(record: dict) -> None:
    """Everything thinkscope computes for one imported trace, minus the database."""
    text, reference = record["code"][0], record["answer"]
    split = split_think(text, "sky_t1")
    steps = []
    for start, end in ((split.think_start, split.think_end), (split.answer_start, split.answer_end)):
        if end > start:
            steps += segment(text, choose_segmenter(text[start:end]), start, end)
    final = answers.extract_answer(split.answer_text(text))
    answers.grade(final.text if final else None, reference, answers.infer_answer_type(reference))
    analyze_trace(TraceInput(text, split, steps, reference=reference, token_starts=token_starts(text)))


def timed_pass(records: list[dict]) -> float:
    answers._math_verify_equal.cache_clear()  # each pass pays for its own math-verify calls
    started = time.perf_counter()
    for record in records:
        analyse(record)
    return time.perf_counter() - started


def best_of(repeat: int, run: Callable[[], float]) -> float:
    return min(run() for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="passes per variant; the fastest counts")
    args = parser.parse_args()
    records = [json.loads(line) for line in SAMPLE.open(encoding="utf-8")]
    by_length = sorted(records, key=lambda r: len(token_starts(r["code"][0])), reverse=True)
    longest = by_length[: len(records) // LONGEST_SHARE]
    for label, subset in (("all traces", records), ("longest tenth", longest)):
        full = best_of(args.repeat, lambda: timed_pass(subset))
        with mock.patch.object(answers, "_math_verify_equal", mock.Mock(return_value=None, cache_clear=lambda: None)):
            baseline = best_of(args.repeat, lambda: timed_pass(subset))
        tokens = statistics.median(len(token_starts(r["code"][0])) for r in subset)
        print(
            f"{label}: {len(subset)} traces (median {tokens:.0f} tokens): full analysis {len(subset) / full:,.1f} traces/s, "
            f"regex-only baseline {len(subset) / baseline:,.1f} traces/s; full/baseline time ratio {full / baseline:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
