"""The generation backend interface (docs/concepts.md §1 Model, Run): what the store needs from an engine.

Every backend (``workers/backends``: ``transformers.py`` local CPU/GPU, ``vllm.py`` in-process,
``openai_compat.py`` for any OpenAI-compatible server) implements :class:`GenerationBackend`: chat
prompts and sampling parameters in, ``n`` completions per prompt out. The actions that run jobs take
a backend as an argument, so this interface lives here and the engines in ``workers`` (which imports
``traces``, never the reverse). It is imported by the web process and by vLLM's own environment,
so it holds plain dataclasses only: no Django, no torch, no transformers, no vllm.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

FinishReason = Literal["stop", "length", "error"]


class ProgressCallback(Protocol):
    """Called after each engine batch with the completions that batch finished and the tokens they
    generated (tqdm-style increments, not running totals). It may raise to stop the call (a
    cancelled run): the backend then starts no further batch and the exception propagates."""

    def __call__(self, done: int, tokens: int = 0) -> None: ...


class BackendUnavailable(Exception):
    """The backend cannot run here: a package, the weights or the server is missing.

    Tasks retry on this error only; the message says what to install or start.
    """


@dataclass(frozen=True)
class SamplingParams:
    """Sampling parameters of one Run (docs/concepts.md §1 Run). ``temperature == 0`` means greedy decoding.

    ``logprobs``: how many alternatives per generated token to return besides the chosen one
    (None: no logprobs; 0: the chosen token's logprob only), as OpenAI/vLLM do.

    ``think_budget``: generate with budget forcing (``workers.backends.forcing``; Muennighoff et
    al. 2025, "s1"): the model thinks in a ``<think>`` block for at most this many tokens, then
    answers after a forced end of thinking in at most ``max_new_tokens`` more. None: generate the
    answer directly. The forced text has no logprobs, so the two do not combine.
    """

    max_new_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 0.95
    n: int = 1
    seed: int | None = None
    logprobs: int | None = None
    think_budget: int | None = None

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be at least 1")
        if self.temperature < 0:
            raise ValueError("temperature must not be negative")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")
        if self.n < 1:
            raise ValueError("n must be at least 1")
        if self.logprobs is not None and self.logprobs < 0:
            raise ValueError("logprobs must be None or a non-negative count")
        if self.think_budget is not None and self.think_budget < 1:
            raise ValueError("think_budget must be None or at least 1")
        if self.think_budget is not None and self.logprobs is not None:
            raise ValueError("logprobs are not available with a think budget (its forced text has none)")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, as stored in ``Run.params``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SamplingParams:
        """Inverse of :meth:`as_dict`; unknown keys are ignored (a Run's params may hold more)."""
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)


@dataclass(frozen=True)
class ChatPrompt:
    """One conversation to complete: OpenAI-style ``{"role": …, "content": …}`` messages."""

    messages: tuple[Mapping[str, str], ...]

    def __post_init__(self) -> None:
        if not self.messages:
            raise ValueError("a chat prompt needs at least one message")
        for message in self.messages:
            if set(message) != {"role", "content"}:
                raise ValueError(f"a message has exactly 'role' and 'content', got {sorted(message)}")

    @classmethod
    def of(cls, user: str, system: str | None = None) -> ChatPrompt:
        """A one-turn prompt: an optional system message and one user message."""
        messages: list[Mapping[str, str]] = []
        if system:
            messages.append({"role": "system", "content": system})
        messages.append({"role": "user", "content": user})
        return cls(tuple(messages))

    def as_list(self) -> list[dict[str, str]]:
        """Plain list of dicts, as chat templates and OpenAI clients take them."""
        return [dict(message) for message in self.messages]


@dataclass
class Completion:
    """One sampled completion of one prompt (docs/concepts.md §1 Trace).

    ``prompt_tokens`` and ``completion_tokens`` are exact counts from the model's tokenizer
    (``completion_tokens`` excludes the stop token, so it counts the tokens behind ``text``).
    ``seconds`` is the wall time of the request or batch that produced it (its latency, not a
    share of the batch). ``logprobs``: one ``{"token", "logprob", "top_logprobs"}`` entry per
    generated token when requested, else None. ``think_format``: the think delimiters the backend
    itself wrote into ``text`` (budget forcing writes ``think_tags``), else None (the model's own
    format applies). A budget-forced completion's token counts are described in
    ``workers.backends.forcing.forced_completion``.
    """

    text: str
    reasoning_content: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: FinishReason = "stop"
    logprobs: list[dict[str, Any]] | None = None
    seconds: float = 0.0
    think_format: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class GenerationBackend(Protocol):
    """What a Run needs from an engine."""

    def generate(
        self,
        prompts: Sequence[ChatPrompt],
        params: SamplingParams,
        progress: ProgressCallback | None = None,
    ) -> list[list[Completion]]:
        """``params.n`` completions for each prompt, in prompt order (one inner list per prompt)."""
        ...

    def count_tokens(self, text: str) -> int:
        """Exact number of tokens of ``text`` under the model's tokenizer (no special tokens)."""
        ...


@runtime_checkable
class RolloutBackend(GenerationBackend, Protocol):
    """A backend that can also continue a partial answer: what Monte Carlo step labels need
    (docs/concepts.md §3.6). Kept apart from :class:`GenerationBackend` so a generation-only engine (or a test
    double) still satisfies that one; the transformers and OpenAI-compatible backends are both."""

    def continue_from(
        self,
        prompts: Sequence[ChatPrompt],
        prefixes: Sequence[str],
        params: SamplingParams,
        progress: ProgressCallback | None = None,
    ) -> list[list[Completion]]:
        """``params.n`` continuations of each ``prompts[i]`` whose assistant answer already starts
        with ``prefixes[i]`` (Monte Carlo rollouts, docs/concepts.md §3.6); a completion's text is only what
        follows the prefix. Pass every prefix of a trace in one call: the engine then shares the
        work on their common beginning (transformers: one prefill and its KV cache; vLLM: its prefix
        cache)."""
        ...
