"""Analysis throughput on long reasoning traces, beside a regex-only baseline in the same run.

    .venv/bin/python benchmarks/analysis_throughput.py [--repeat 3]

Runs the whole per-trace analysis (think split, segmentation, answer extraction and grading, then
``engine.analyze_trace``: mismatch, overthinking, loops, behaviours) on the Sky-T1 MATH-500 traces
in ../shared/data (read in place), in one process (so traces/s and tokens/s are per core; tokens
are the approximate tokens of ``traces.analysis.tokens``, which the analysis counts with, as it
does for an imported trace without the model tokenizer's offsets). The baseline is the same pass with
math-verify switched off (grading falls back to normalised strings and numbers), which is what
"math-verify only when cheap normalisation cannot decide" is measured against.

Prints traces/s and tokens/s for all traces, for the longest tenth and for traces over the
issue's 8k tokens, and the full/baseline time ratio. No real trace in ../shared/data is that long
(the longest, in this sample, has about 4.2k approximate tokens; every other file there holds
short solutions), so the 8k row is a stand-in: each trace of the longest tenth with the reasoning
of the next two put in front of its own (about 11k tokens of real, different reasoning; repeating
one trace's text would only measure loop detection on a text made of loops).

Last, the floor: the two regex passes no analysis of this kind avoids (cutting the text into
tokens for loop matching, and the behaviour cue scan), timed alone on the same traces, as the
most traces/s the full analysis could reach if everything else took no time.
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
LONG_TRACE_TOKENS = 8000  # the "long trace"

sys.path.insert(0, str(ROOT))

from traces.analysis import answers  # noqa: E402
from traces.analysis.behaviours import find_behaviours  # noqa: E402
from traces.analysis.engine import TraceInput, analyze_trace  # noqa: E402
from traces.analysis.segmentation import choose_segmenter, segment  # noqa: E402
from traces.analysis.think import split_think  # noqa: E402
from traces.analysis.tokens import token_starts, token_words  # noqa: E402


def analyse(record: dict) -> None:
    """Everything thinkscope computes for one imported trace, minus the database."""
    text, reference = record["code"][0], record["answer"]
    split = split_think(text, "sky_t1")
    steps = []
    for start, end in ((split.think_start, split.think_end), (split.answer_start, split.answer_end)):
        if end > start:
            steps += segment(text, choose_segmenter(text[start:end]), start, end)
    final = answers.extract_answer(split.answer_text(text))
    answer_type = answers.infer_answer_type(reference)  # as the importer stores it on the problem
    answers.grade(final.text if final else None, reference, answer_type)
    # Imported: no real token offsets.
    analyze_trace(TraceInput(text, split, steps, reference=reference, answer_type=answer_type))


def timed_pass(records: list[dict]) -> float:
    answers._math_verify_equal.cache_clear()  # each pass pays for its own math-verify calls
    answers._normalize_short.cache_clear()  # and its own answer normalisations
    started = time.perf_counter()
    for record in records:
        analyse(record)
    return time.perf_counter() - started


def best_of(repeat: int, run: Callable[[], float]) -> float:
    return min(run() for _ in range(repeat))


def report(label: str, subset: list[dict], repeat: int) -> None:
    """One row: traces/s and tokens/s of the full analysis and of the regex-only baseline."""
    full = best_of(repeat, lambda: timed_pass(subset))
    with mock.patch.object(answers, "_math_verify_equal", mock.Mock(return_value=None, cache_clear=lambda: None)):
        baseline = best_of(repeat, lambda: timed_pass(subset))
    lengths = [trace_tokens(r) for r in subset]
    total = sum(lengths)
    print(
        f"{label}: {len(subset)} traces (median {statistics.median(lengths):,.0f} tokens): "
        f"full analysis {len(subset) / full:,.1f} traces/s ({total / full:,.0f} tokens/s), "
        f"regex-only baseline {len(subset) / baseline:,.1f} traces/s ({total / baseline:,.0f} tokens/s); "
        f"full/baseline time ratio {full / baseline:.2f}",
        flush=True,
    )


def trace_tokens(record: dict) -> int:
    return len(token_starts(record["code"][0]))


def joined_reasoning(records: list[dict]) -> dict:
    """The last record with the reasoning of the others put in front of its own (a long stand-in)."""
    *before, last = records
    text = last["code"][0]
    at = split_think(text, "sky_t1").think_start
    thoughts = [split_think(r["code"][0], "sky_t1").think_text(r["code"][0]) for r in before]
    return {"code": [text[:at] + "\n\n".join(thoughts) + "\n\n" + text[at:]], "answer": last["answer"]}


def report_floor(subset: list[dict], repeat: int) -> None:
    """Time of the unavoidable regex passes alone, as a ceiling on the full analysis's traces/s."""

    def scans() -> float:
        started = time.perf_counter()
        for record in subset:
            text = record["code"][0]
            token_words(text)
            find_behaviours(text)
        return time.perf_counter() - started

    floor = best_of(repeat, scans)
    print(
        f"floor on the {len(subset)} longest: tokenising + behaviour cue scan alone "
        f"{floor / len(subset) * 1000:.2f} ms per trace, so at most {len(subset) / floor:,.0f} traces/s "
        "even if all else took no time",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="passes per variant; the fastest counts")
    args = parser.parse_args()
    records = [json.loads(line) for line in SAMPLE.open(encoding="utf-8")]
    by_length = sorted(records, key=trace_tokens, reverse=True)
    report("all traces", records, args.repeat)
    report("longest tenth", by_length[: len(records) // LONGEST_SHARE], args.repeat)
    longest = by_length[: len(records) // LONGEST_SHARE]
    long_traces = [r for r in by_length if trace_tokens(r) > LONG_TRACE_TOKENS]
    if not long_traces:
        print(
            f"no trace over {LONG_TRACE_TOKENS:,} tokens in the sample (longest: {trace_tokens(by_length[0]):,}); "
            "stand-in: each of the longest tenth after the reasoning of the next two",
            flush=True,
        )
        n = len(longest)
        long_traces = [joined_reasoning([longest[(i + 1) % n], longest[(i + 2) % n], longest[i]]) for i in range(n)]
    report(f"over {LONG_TRACE_TOKENS:,} tokens", long_traces, args.repeat)
    report_floor(long_traces, args.repeat)


if __name__ == "__main__":
    main()
