"""A deterministic in-process generation backend for tests of the run loop (no model, no server)."""

from __future__ import annotations

from collections.abc import Sequence

from traces.backends import ChatPrompt, Completion, ProgressCallback, SamplingParams


def words(text: str) -> int:
    """A stand-in tokenizer: one token per whitespace-separated word."""
    return len(text.split())


class ScriptedBackend:
    """Answers "The answer is <sample index>." for every prompt; can fail on a chosen call."""

    def __init__(self, fail_on_call: int | None = None, error: BaseException | None = None) -> None:
        self.calls: list[int] = []
        self.fail_on_call = fail_on_call
        self.error = error or RuntimeError("engine crashed")

    def generate(
        self, prompts: Sequence[ChatPrompt], params: SamplingParams, progress: ProgressCallback | None = None
    ) -> list[list[Completion]]:
        self.calls.append(len(prompts))
        if len(self.calls) == self.fail_on_call:
            raise self.error
        return [
            [Completion(text=f"The answer is {k}.", prompt_tokens=10, completion_tokens=k + 3) for k in range(params.n)]
            for _ in prompts
        ]

    def count_tokens(self, text: str) -> int:
        return words(text)
