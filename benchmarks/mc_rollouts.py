"""Monte Carlo step labels (issue 5 item 7; SPEC §3.6): two ratios, each measured in one run.

    .venv/bin/python benchmarks/mc_rollouts.py [--model-cache DIR] [--k 4] [--max-new-tokens 32] [--skip-engine]

(a) **Prefix-batched vs one prefix at a time**, on the real embedded model (SmolLM2-135M, the
    transformers backend, CPU unless ``--device cuda``): the K rollouts of every prefix of one
    6-step trace (ProcessBench ``gsm8k-201``, ../shared/data read in place) in one
    ``continue_from`` call — what a job does: one prefill of the longest prefix, every row
    continuing from its KV cache — against the naive engine, one prefix at a time with each of its K
    rows run from the start (plain ``model.generate``), and, for transparency, against one
    ``continue_from`` call per prefix. Same prompts, prefixes, sampling parameters and seed; the
    ratios of wall times. All sample until every row stops or reaches the token limit.
(b) **Binary search vs linear scan**: rollouts needed to find the first error of every erroneous
    trace of the ProcessBench sample (all four files) with a fixed K, with a simulated oracle
    derived from ProcessBench's label (a prefix is solvable iff it ends before the first error);
    ``traces.analysis.rollouts.evaluate`` runs each planner, exactly as a job does. The ratio of
    rollout counts (no timing: it is a count).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from import_throughput import ROOT, setup_django

if TYPE_CHECKING:
    from workers.backends.base import Completion

PROCESSBENCH = ROOT.parent / "shared" / "data" / "processbench"
TRACE_ID = "gsm8k-201"


def records() -> list[dict]:
    rows = []
    for path in sorted(PROCESSBENCH.glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows


def search_ratio(k: int) -> None:
    from traces.analysis.rollouts import NO_ERROR, PrefixValue, Rollout, evaluate, first_error, rollout_count

    erroneous = [r for r in records() if r["label"] != NO_ERROR]
    totals = {"linear": 0, "binary": 0}
    for record in erroneous:
        error = record["label"]

        def oracle(steps: list[int], error: int = error) -> list[PrefixValue]:
            return [PrefixValue(s, tuple(Rollout(None, s < error) for _ in range(k))) for s in steps]

        for mode in totals:
            measured = evaluate(len(record["steps"]), mode, oracle)
            assert first_error({s: pv.value for s, pv in measured.items()}) == error
            totals[mode] += rollout_count(measured)
    steps = sum(len(r["steps"]) for r in erroneous)
    print(
        f"(b) {len(erroneous)} erroneous ProcessBench traces, {steps} steps (mean {steps / len(erroneous):.1f}), K={k}"
    )
    print(f"    linear scan: {totals['linear']} rollouts; binary search: {totals['binary']} rollouts")
    print(f"    ratio linear/binary: {totals['linear'] / totals['binary']:.2f}x (target >= 2x)")


def engine_ratio(model_cache: Path, k: int, max_new_tokens: int, device: str, rounds: int) -> None:
    from workers.backends.base import SamplingParams
    from workers.backends.embedded import embedded_model_dir
    from workers.backends.transformers import TransformersBackend
    from workers.generation import build_prompt

    record = next(r for r in records() if r["id"] == TRACE_ID)
    backend = TransformersBackend(embedded_model_dir(model_cache), device=device, batch_size=64)
    prompt = build_prompt(record["problem"])
    prefixes = ["\n\n".join(record["steps"][: i + 1]) for i in range(len(record["steps"]))]
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=0.7, n=k, seed=0)
    backend.continue_from([prompt], [prefixes[0]], SamplingParams(max_new_tokens=2, n=1, seed=0))  # warm-up

    def timed(run: Callable[[], list[list[Completion]]]) -> tuple[float, int]:
        started = time.perf_counter()
        rows = run()
        return time.perf_counter() - started, sum(c.completion_tokens for samples in rows for c in samples)

    variants = {
        # What a job does: every prefix of the trace in one call, continuing from the shared KV cache.
        "prefix-batched": lambda: backend.continue_from([prompt] * len(prefixes), prefixes, params),
        # One call per prefix, still through continue_from (its K samples share that prefix's cache).
        "one call per prefix": lambda: [
            row for prefix in prefixes for row in backend.continue_from([prompt], [prefix], params)
        ],
        # The naive engine: one prefix at a time, each of its K rows run from the start (model.generate).
        "naive": lambda: [
            row for prefix in prefixes for row in backend._generate_texts([backend.render(prompt) + prefix], params, None)
        ],
    }
    seconds: dict[str, tuple[float, int]] = {}
    for _ in range(rounds):  # alternate the variants; each keeps its fastest round (the machine is shared)
        for name, run in variants.items():
            took, tokens = timed(run)
            seconds[name] = min(seconds.get(name, (took, tokens)), (took, tokens))
    print(f"(a) SmolLM2-135M on {device}, {len(prefixes)} prefixes x K={k}, max_new_tokens={max_new_tokens}, "
          f"best of {rounds} alternating rounds")
    for name, (took, tokens) in seconds.items():
        print(f"    {name}: {took:.1f} s ({tokens} tokens)")
    batched = seconds["prefix-batched"][0]
    print(f"    ratio naive/prefix-batched: {seconds['naive'][0] / batched:.2f}x (target >= 3x)")
    print(f"    ratio one-call-per-prefix/prefix-batched: {seconds['one call per prefix'][0] / batched:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-cache", type=Path, default=None, help="Where the converted SmolLM2 lives")
    parser.add_argument("--k", type=int, default=8, help="Rollouts per prefix for (a), the jobs' default; (b) uses 8")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=2, help="Alternating rounds of (a); the fastest of each counts")
    parser.add_argument("--skip-engine", action="store_true", help="Only (b): no model")
    args = parser.parse_args()
    data_dir = Path(os.environ.get("THINKSCOPE_DATA_DIR", ROOT / "var"))
    setup_django(None, data_dir)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    search_ratio(8)
    if not args.skip_engine:
        engine_ratio(args.model_cache or data_dir / "models", args.k, args.max_new_tokens, args.device, args.rounds)


if __name__ == "__main__":
    main()
