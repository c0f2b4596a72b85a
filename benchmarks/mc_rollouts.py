"""Monte Carlo step labels (issue 5 item 7; SPEC §3.6): two ratios, each measured in one run.

    .venv/bin/python benchmarks/mc_rollouts.py [--model-cache DIR] [--k 4] [--max-new-tokens 32] [--skip-engine]

(a) **Prefix-batched vs one prefix at a time**, on the real embedded model (SmolLM2-135M, the
    transformers backend, CPU unless ``--device cuda``): the K rollouts of every prefix of a trace
    in one ``continue_from`` call — what a job does: one prefill of the longest prefix, every row
    continuing from its KV cache — against the naive engine, one prefix at a time with each of its
    K rows run from the start (plain ``model.generate``). Traces: ProcessBench ``gsm8k-201`` (the
    figure of earlier runs) and, from each of the four split files (../shared/data, read in place),
    the first trace with that split's median number of steps. Same prompts, prefixes, sampling
    parameters and seed; per-trace ratios of wall times and the ratio of the summed times. Both
    sample until every row stops or reaches the token limit.
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
    from traces.backends import Completion

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


def median_traces() -> list[dict]:
    """Per ProcessBench split, the first trace with the split's median number of steps."""
    chosen = []
    for path in sorted(PROCESSBENCH.glob("*.jsonl")):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        median = sorted(len(r["steps"]) for r in rows)[len(rows) // 2]
        chosen.append(next(r for r in rows if len(r["steps"]) == median))
    return chosen


def engine_ratio(model_cache: Path, k: int, max_new_tokens: int, device: str, rounds: int) -> None:
    from traces.backends import SamplingParams
    from traces.generation import build_prompt
    from workers.backends.embedded import embedded_model_dir
    from workers.backends.transformers import TransformersBackend

    backend = TransformersBackend(embedded_model_dir(model_cache), device=device, batch_size=64)
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=0.7, n=k, seed=0)
    warm_up = build_prompt("What is 1 + 1?")
    backend.continue_from([warm_up], ["1 + 1"], SamplingParams(max_new_tokens=2, n=1, seed=0))

    def timed(run: Callable[[], list[list[Completion]]]) -> float:
        started = time.perf_counter()
        run()
        return time.perf_counter() - started

    def variants(prompt: str, prefixes: list[str]) -> dict[str, Callable[[], list[list[Completion]]]]:
        return {
            # The naive engine: one prefix at a time, each of its K rows run from the start (model.generate).
            "naive": lambda: [
                row
                for prefix in prefixes
                for row in backend.generate_texts([backend.render(prompt) + prefix], params, None)
            ],
            # What a job does: every prefix of the trace in one call, continuing from the shared KV cache.
            "prefix-batched": lambda: backend.continue_from([prompt] * len(prefixes), prefixes, params),
        }

    print(f"(a) SmolLM2-135M on {device}, K={k}, max_new_tokens={max_new_tokens}, best of {rounds} alternating rounds")
    totals = {"naive": 0.0, "prefix-batched": 0.0}
    traces = [next(r for r in records() if r["id"] == TRACE_ID), *median_traces()]
    for record in traces:
        prompt = build_prompt(record["problem"])
        prefixes = ["\n\n".join(record["steps"][: i + 1]) for i in range(len(record["steps"]))]
        runs = variants(prompt, prefixes)
        best = {name: min(timed(run) for _ in range(rounds)) for name, run in runs.items()}
        for name, took in best.items():
            totals[name] += took
        tokens = backend.count_tokens(prefixes[-1])
        print(f"    {record['id']}: {len(prefixes)} prefixes, longest {tokens} tokens; naive {best['naive']:.1f} s, "
              f"prefix-batched {best['prefix-batched']:.1f} s: {best['naive'] / best['prefix-batched']:.2f}x")
    print(f"    all {len(traces)} traces: naive {totals['naive']:.1f} s, prefix-batched {totals['prefix-batched']:.1f} s; "
          f"ratio {totals['naive'] / totals['prefix-batched']:.2f}x (target >= 3x)")


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
