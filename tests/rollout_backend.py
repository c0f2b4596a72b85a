"""A deterministic in-process rollout backend for the tests of Monte Carlo labels (no model, no server).

Continuing a prefix that contains ``WRONG`` never reaches the answer; one containing ``MAYBE``
reaches it in the first half of its samples; any other prefix always does. The reference answer is
the ``answer`` given to the constructor; a miss answers ``answer + 1``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from traces.backends import ChatPrompt, Completion, ProgressCallback, SamplingParams


class RolloutScript:
    """Records each ``continue_from`` call as (number of prefixes, n); ``before_call`` runs first."""

    def __init__(self, answer: int = 4, before_call: Callable[[int], None] | None = None) -> None:
        self.answer = answer
        self.calls: list[tuple[int, int]] = []
        self.before_call = before_call

    def reaches(self, prefix: str, sample: int, n: int) -> bool:
        if "WRONG" in prefix:
            return False
        return "MAYBE" not in prefix or sample < n // 2

    def continue_from(
        self,
        prompts: Sequence[ChatPrompt],
        prefixes: Sequence[str],
        params: SamplingParams,
        progress: ProgressCallback | None = None,
    ) -> list[list[Completion]]:
        if self.before_call is not None:
            self.before_call(len(self.calls))
        self.calls.append((len(prefixes), params.n))
        return [
            [
                Completion(
                    text=f"\nThe answer is {self.answer if self.reaches(prefix, k, params.n) else self.answer + 1}.",
                    completion_tokens=5,
                )
                for k in range(params.n)
            ]
            for prefix in prefixes
        ]

    def generate(
        self, prompts: Sequence[ChatPrompt], params: SamplingParams, progress: ProgressCallback | None = None
    ) -> list[list[Completion]]:
        return self.continue_from(prompts, [""] * len(prompts), params, progress)

    def count_tokens(self, text: str) -> int:
        return len(text.split())
