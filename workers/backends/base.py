"""The generation backend interface (STYLE.md §9; SPEC §1 Model, Run).

Every backend (``transformers.py`` local CPU/GPU, ``vllm.py`` in-process, ``openai_compat.py`` for
any OpenAI-compatible server) implements :class:`GenerationBackend`: chat prompts and sampling
parameters in, ``n`` completions per prompt out. This module is imported by the web process, so it
holds plain dataclasses only: no torch, no transformers, no vllm (STYLE.md §9).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

FinishReason = Literal["stop", "length", "error"]

#: Called after each batch with the number of completions that batch finished (a tqdm-style
#: increment, not a running total).
ProgressCallback = Callable[[int], None]


class BackendUnavailable(Exception):
    """The backend cannot run here: a package, the weights or the server is missing.

    Tasks retry on this error only (STYLE.md §8); the message says what to install or start.
    """


@dataclass(frozen=True)
class SamplingParams:
    """Sampling parameters of one Run (SPEC §1 Run). ``temperature == 0`` means greedy decoding.

    ``logprobs``: how many alternatives per generated token to return besides the chosen one
    (None: no logprobs; 0: the chosen token's logprob only), as OpenAI/vLLM do.
    """

    max_new_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 0.95
    n: int = 1
    seed: int | None = None
    logprobs: int | None = None

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
    """One sampled completion of one prompt (SPEC §1 Trace).

    ``prompt_tokens`` and ``completion_tokens`` are exact counts from the model's tokenizer
    (``completion_tokens`` excludes the stop token, so it counts the tokens behind ``text``).
    ``seconds`` is the wall time of the request or batch that produced it (its latency, not a
    share of the batch). ``logprobs``: one ``{"token", "logprob", "top_logprobs"}`` entry per
    generated token when requested, else None.
    """

    text: str
    reasoning_content: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: FinishReason = "stop"
    logprobs: list[dict[str, Any]] | None = None
    seconds: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)


def check_prefixes(prompts: Sequence[ChatPrompt], prefixes: Sequence[str]) -> None:
    """Refuse a ``continue_from`` call whose prompts and prefixes do not pair up one to one."""
    if len(prompts) != len(prefixes):
        raise ValueError(f"{len(prompts)} prompts but {len(prefixes)} prefixes: give one prefix per prompt")


@runtime_checkable
class GenerationBackend(Protocol):
    """What a Run needs from an engine (STYLE.md §9)."""

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
    (SPEC §3.6). Kept apart from :class:`GenerationBackend` so a generation-only engine (or a test
    double) still satisfies that one; the transformers and OpenAI-compatible backends are both."""

    def continue_from(
        self,
        prompts: Sequence[ChatPrompt],
        prefixes: Sequence[str],
        params: SamplingParams,
        progress: ProgressCallback | None = None,
    ) -> list[list[Completion]]:
        """``params.n`` continuations of each ``prompts[i]`` whose assistant answer already starts
        with ``prefixes[i]`` (Monte Carlo rollouts, SPEC §3.6); a completion's text is only what
        follows the prefix. Pass every prefix of a trace in one call: the engine then shares the
        work on their common beginning (transformers: one prefill and its KV cache; vLLM: its prefix
        cache)."""
        ...


class LocalTokenizerBackend:
    """What the in-process engines share (transformers, vLLM): the model's own tokenizer renders
    chat prompts with its template and counts tokens, and a continuation is the rendered prompt
    with the partial answer appended verbatim. A subclass sets ``self.tokenizer`` and implements
    :meth:`generate_texts` over rendered model inputs."""

    tokenizer: Any

    def count_tokens(self, text: str) -> int:
        """Exact token count of ``text`` under the model's tokenizer, without special tokens."""
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def render(self, prompt: ChatPrompt) -> str:
        """The prompt as the model sees it: the chat template with the assistant turn opened."""
        rendered = self.tokenizer.apply_chat_template(prompt.as_list(), tokenize=False, add_generation_prompt=True)
        return str(rendered)

    def generate(
        self,
        prompts: Sequence[ChatPrompt],
        params: SamplingParams,
        progress: ProgressCallback | None = None,
    ) -> list[list[Completion]]:
        """``params.n`` completions per prompt, in prompt order."""
        return self.generate_texts([self.render(prompt) for prompt in prompts], params, progress)

    def continue_from(
        self,
        prompts: Sequence[ChatPrompt],
        prefixes: Sequence[str],
        params: SamplingParams,
        progress: ProgressCallback | None = None,
    ) -> list[list[Completion]]:
        """``params.n`` continuations of each prompt's assistant turn opened with its prefix (SPEC §3.6).

        The completions hold only the new text. All prefixes go to the engine together, so the
        rollouts of every prefix of a trace share its work on their common beginning (vLLM: its
        prefix cache; the transformers backend overrides this with an explicit shared KV cache).
        """
        check_prefixes(prompts, prefixes)
        texts = [self.render(prompt) + prefix for prompt, prefix in zip(prompts, prefixes, strict=True)]
        return self.generate_texts(texts, params, progress)

    def generate_texts(
        self, texts: Sequence[str], params: SamplingParams, progress: ProgressCallback | None
    ) -> list[list[Completion]]:
        """``params.n`` completions of each model input already rendered (``render`` and any
        prefix), in order: what ``generate`` and ``continue_from`` run once they have rendered."""
        raise NotImplementedError
