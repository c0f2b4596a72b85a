"""The engines stop between batches when their progress callback raises (a cancelled run), and
report each batch's completions and tokens: SmolLM2 on the CPU and the OpenAI-compatible backend."""

from __future__ import annotations

import pytest
from fake_openai_server import FakeBehaviour, FakeOpenAIServer

from traces.actions.runs import RunCancelled
from traces.backends import ChatPrompt, SamplingParams
from workers.backends.openai_compat import OpenAIBackend

PROMPTS = [ChatPrompt.of(f"What is {i} + 1?") for i in range(4)]


class StopAfter:
    """A progress callback that records each batch and raises after the first ``batches``."""

    def __init__(self, batches: int) -> None:
        self.batches = batches
        self.seen: list[tuple[int, int]] = []

    def __call__(self, done: int, tokens: int = 0) -> None:
        self.seen.append((done, tokens))
        if len(self.seen) >= self.batches:
            raise RunCancelled("cancelled")


def test_transformers_stops_at_the_batch_the_callback_refuses(smollm2, monkeypatch) -> None:
    monkeypatch.setattr(smollm2, "batch_size", 1)
    stop = StopAfter(batches=1)
    with pytest.raises(RunCancelled):
        smollm2.generate(PROMPTS, SamplingParams(max_new_tokens=4, temperature=0), stop)
    assert len(stop.seen) == 1 and stop.seen[0][0] == 1 and 0 < stop.seen[0][1] <= 4


def test_openai_sends_no_request_after_the_callback_refuses() -> None:
    with FakeOpenAIServer(FakeBehaviour(delay=0.2)) as server:
        backend = OpenAIBackend(server.base_url, "fake-model", max_concurrency=1)
        stop = StopAfter(batches=1)
        with pytest.raises(RunCancelled):
            backend.generate(PROMPTS, SamplingParams(max_new_tokens=8), stop)
        assert len(server.record.chat_requests) <= 2  # the one answered, at most one more in flight
    assert stop.seen[0][0] == 1 and stop.seen[0][1] > 0
