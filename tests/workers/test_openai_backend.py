"""The ``openai`` backend against a real local HTTP server speaking the OpenAI protocol
(issue 5 item 6): retries, the concurrency bound, timeouts, ``reasoning_content``, ``n`` samples."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from email.utils import formatdate

import pytest
from fake_openai_server import FakeBehaviour, FakeOpenAIServer, fake_answer, fake_tokens

from traces.backends import ChatPrompt, GenerationBackend, SamplingParams
from traces.demo_problems import demo_problems
from traces.generation import completion_to_parsed
from workers.backends.openai_compat import (
    OpenAIBackend,
    ServerError,
    ServerUnavailable,
    backoff_seconds,
    completions_from_response,
    finish_reason,
    retry_after_seconds,
    server_root,
)

QUESTION = "What is 2 + 2 ?"


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as running:
        yield running


def backend_for(server: FakeOpenAIServer, **options: float) -> OpenAIBackend:
    """A backend with short waits, so retries cost milliseconds unless a test says otherwise."""
    settings = {"backoff_base": 0.01, "timeout": 5.0, **options}
    return OpenAIBackend(server.base_url, model="fake-model", **settings)


def test_is_a_generation_backend(server: FakeOpenAIServer) -> None:
    assert isinstance(backend_for(server), GenerationBackend)


def test_maps_text_tokens_and_finish_reason(server: FakeOpenAIServer) -> None:
    prompt = ChatPrompt.of(QUESTION, system="Be brief.")
    [[completion]] = backend_for(server).generate([prompt], SamplingParams(max_new_tokens=50))
    assert completion.text == f"sample 0: {QUESTION}"
    assert completion.reasoning_content is None
    assert completion.finish_reason == "stop"
    assert completion.completion_tokens == len(completion.text.split())
    assert completion.prompt_tokens == len("Be brief.".split()) + len(QUESTION.split())
    assert completion.logprobs is None
    assert completion.seconds > 0
    [sent] = server.record.chat_requests
    assert sent["messages"] == prompt.as_list()
    assert sent["model"] == "fake-model"
    assert "logprobs" not in sent


def test_length_limit_is_finish_reason_length(server: FakeOpenAIServer) -> None:
    [[completion]] = backend_for(server).generate([ChatPrompt.of(QUESTION)], SamplingParams(max_new_tokens=3))
    assert completion.finish_reason == "length"
    assert completion.completion_tokens == 3
    assert completion.text == " ".join(f"sample 0: {QUESTION}".split()[:3])


def test_retries_then_succeeds(server: FakeOpenAIServer) -> None:
    server.behaviour = FakeBehaviour(fail_first=2, fail_status=503)
    [[completion]] = backend_for(server, max_retries=3).generate([ChatPrompt.of(QUESTION)], SamplingParams())
    assert completion.text == f"sample 0: {QUESTION}"
    assert len(server.record.chat_requests) == 3  # two 503s, then the answer


def test_honours_retry_after(server: FakeOpenAIServer) -> None:
    server.behaviour = FakeBehaviour(fail_first=1, fail_status=429, retry_after="1")
    started = time.perf_counter()
    backend_for(server, backoff_base=0.001).generate([ChatPrompt.of(QUESTION)], SamplingParams())
    assert time.perf_counter() - started >= 1.0
    assert len(server.record.chat_requests) == 2


def test_gives_up_after_max_retries_naming_status_and_body(server: FakeOpenAIServer) -> None:
    server.behaviour = FakeBehaviour(fail_first=100, fail_status=503)
    with pytest.raises(ServerUnavailable, match=r"after 3 attempts; last: HTTP 503: .*the fake server is busy"):
        backend_for(server, max_retries=2).generate([ChatPrompt.of(QUESTION)], SamplingParams())
    assert len(server.record.chat_requests) == 3


def test_client_error_is_not_retried(server: FakeOpenAIServer) -> None:
    server.behaviour = FakeBehaviour(fail_first=100, fail_status=400)
    with pytest.raises(ServerError, match="HTTP 400") as raised:
        backend_for(server, max_retries=5).generate([ChatPrompt.of(QUESTION)], SamplingParams())
    assert raised.value.status == 400
    assert len(server.record.chat_requests) == 1


def test_concurrency_bound_respected_and_order_kept(server: FakeOpenAIServer) -> None:
    server.behaviour = FakeBehaviour(delay=0.15)
    prompts = [ChatPrompt.of(f"problem {number}") for number in range(12)]
    reported: list[int] = []
    results = backend_for(server, max_concurrency=3).generate(prompts, SamplingParams(), progress=lambda done, tokens: reported.append(done))
    assert 1 < server.record.max_in_flight <= 3
    assert [samples[0].text for samples in results] == [f"sample 0: problem {number}" for number in range(12)]
    assert reported == [1] * 12


def test_timeout_is_an_error_not_a_hang(server: FakeOpenAIServer) -> None:
    server.behaviour = FakeBehaviour(delay=10)
    started = time.perf_counter()
    with pytest.raises(ServerUnavailable, match=r"after 2 attempts; last: no answer within 0.3 s"):
        backend_for(server, timeout=0.3, max_retries=1).generate([ChatPrompt.of(QUESTION)], SamplingParams())
    assert time.perf_counter() - started < 3


def test_no_server_is_unavailable() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = OpenAIBackend(f"http://127.0.0.1:{port}", model="m", max_retries=1, backoff_base=0.01)
    with pytest.raises(ServerUnavailable, match="cannot connect"):
        backend.generate([ChatPrompt.of(QUESTION)], SamplingParams())


def test_reasoning_content_becomes_the_reasoning_part(server: FakeOpenAIServer) -> None:
    thought = "2 + 2: add the units. <b>4</b>"
    server.behaviour = FakeBehaviour(reasoning_content=thought)
    [[completion]] = backend_for(server).generate([ChatPrompt.of(QUESTION)], SamplingParams())
    assert completion.reasoning_content == thought
    assert completion.text == f"sample 0: {QUESTION}"


def test_n_samples_in_one_request_with_their_own_token_counts(server: FakeOpenAIServer) -> None:
    prompts = [ChatPrompt.of(QUESTION), ChatPrompt.of("Name a prime number larger than ten")]
    results = backend_for(server).generate(prompts, SamplingParams(n=3, max_new_tokens=50, seed=7))
    assert len(server.record.chat_requests) == 2
    for prompt, samples in zip(prompts, results, strict=True):
        expected = [fake_answer(prompt.as_list(), index) for index in range(3)]
        assert [sample.text for sample in samples] == expected
        assert [sample.completion_tokens for sample in samples] == [len(fake_tokens(text)) for text in expected]
        assert all(sample.logprobs is None for sample in samples)  # counted from logprobs, not returned
    assert {request["n"] for request in server.record.chat_requests} == {3}
    assert {request["seed"] for request in server.record.chat_requests} == {7}


def test_logprobs_passed_through(server: FakeOpenAIServer) -> None:
    [[completion]] = backend_for(server).generate([ChatPrompt.of(QUESTION)], SamplingParams(logprobs=2))
    [sent] = server.record.chat_requests
    assert (sent["logprobs"], sent["top_logprobs"]) == (True, 2)
    assert completion.logprobs is not None
    assert [entry["token"] for entry in completion.logprobs] == completion.text.split()
    assert all(len(entry["top_logprobs"]) == 2 for entry in completion.logprobs)
    assert completion.logprobs[0]["top_logprobs"][0] == {"token": "sample", "logprob": -0.5}


def test_count_tokens_asks_the_servers_tokenizer(server: FakeOpenAIServer) -> None:
    assert backend_for(server).count_tokens("one two three four") == 4


@pytest.mark.parametrize("base_url", ["http://h:8000", "http://h:8000/", "http://h:8000/v1", "http://h:8000/v1/"])
def test_base_url_with_or_without_v1(base_url: str) -> None:
    assert server_root(base_url) == "http://h:8000"


def test_base_url_needs_a_scheme() -> None:
    with pytest.raises(ValueError, match="base_url must start with http"):
        server_root("localhost:8000")


def test_retry_after_as_seconds_or_http_date() -> None:
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    in_ten = retry_after_seconds(formatdate(time.time() + 10, usegmt=True))
    assert in_ten is not None and 8 <= in_ten <= 10


def test_backoff_grows_with_jitter_and_respects_cap() -> None:
    for attempt in range(6):
        delay = min(60.0, 0.5 * 2**attempt)
        assert delay / 2 <= backoff_seconds(attempt, 0.5, 60.0, None) <= delay
    assert backoff_seconds(0, 0.5, 60.0, retry_after=7.0) == 7.0
    assert backoff_seconds(0, 0.5, 5.0, retry_after=7.0) == 5.0


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("stop", "stop"), ("eos_token", "stop"), ("length", "length"), ("content_filter", "error"), (None, "error")],
)
def test_finish_reason_in_spec_terms(raw: str | None, expected: str) -> None:
    assert finish_reason(raw) == expected


def test_a_response_missing_choices_is_rejected() -> None:
    answer = {"choices": [{"index": 0, "message": {"content": "x"}}], "usage": {"completion_tokens": 1}}
    with pytest.raises(ValueError, match="2 choices expected, got 1"):
        completions_from_response(answer, SamplingParams(n=2), seconds=0.1)


def test_budget_forcing_thinks_then_forces_the_answer_as_continuations(server: FakeOpenAIServer) -> None:
    """s1 budget forcing through ``continue_final_message``: sample 0 closes its thinking itself, sample
    1 runs out of its 12-token budget and is cut there; each then answers after the forced cue."""
    thinking = {
        0: "Add the two : 2 + 2 = 4 . </think> So it is 4",
        1: "Two and two make four so four it is , no more and no less",
    }

    def responder(body: dict[str, object], index: int) -> str:
        prefix = body["messages"][-1]["content"]
        return thinking[index] if prefix == "<think>\n" else " 4 ."

    server.behaviour = FakeBehaviour(responder=responder)
    backend = backend_for(server)
    prompt = ChatPrompt.of(QUESTION)
    [[closed, cut]] = backend.generate([prompt], SamplingParams(max_new_tokens=5, n=2, seed=1, think_budget=12))

    assert closed.text == "<think>\nAdd the two : 2 + 2 = 4 .\n</think>\n\nThe final answer is 4 ."
    assert cut.text == "<think>\nTwo and two make four so four it is , no more\n</think>\n\nThe final answer is 4 ."
    assert [c.meta["budget_forcing"]["think_end"] for c in (closed, cut)] == ["closed", "budget"]
    # the words both phases generated, sample 0's own </think> included
    assert (closed.completion_tokens, cut.completion_tokens) == (11 + 2, 12 + 2)
    assert (closed.finish_reason, cut.finish_reason, closed.think_format) == ("stop", "stop", "think_tags")

    thinking_request, *answer_requests = server.record.chat_requests
    assert thinking_request["messages"] == [*prompt.as_list(), {"role": "assistant", "content": "<think>\n"}]
    assert thinking_request["continue_final_message"] and not thinking_request["add_generation_prompt"]
    assert (thinking_request["stop"], thinking_request["include_stop_str_in_output"]) == (["</think>"], True)
    assert (thinking_request["max_tokens"], thinking_request["n"]) == (12, 2)
    assert sorted(r["messages"][-1]["content"] for r in answer_requests) == sorted(
        c.text.removesuffix(" 4 .") for c in (closed, cut)
    )
    assert all((r["max_tokens"], r["n"], "stop" in r) == (5, 1, False) for r in answer_requests)

    problem = demo_problems(1)[0]
    parsed = completion_to_parsed(problem, closed, 0, "fake", count_tokens=backend.count_tokens, think_format="none")
    assert (parsed.think_format, parsed.think_tokens, parsed.answer_tokens) == ("think_tags", 10, 6)
