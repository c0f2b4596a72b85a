"""A local OpenAI-compatible HTTP server for the ``openai`` backend's tests.

A real HTTP server (``http.server`` in a thread, on 127.0.0.1 and an ephemeral port) answering
``POST /v1/chat/completions`` and vLLM's ``POST /tokenize`` with the JSON those endpoints return.
Its "model" is deterministic so tests can predict its answers: choice ``i`` of a request is
``"sample {i}: {last user message}"``, one token per whitespace-separated word, cut at its first
``stop`` string and at ``max_tokens`` (then ``finish_reason`` is ``length``). A request
continuing an assistant message (vLLM's ``continue_final_message``, SPEC §3.6 rollouts) gets only
the continuation: ``"continued sample {i}: {user message}"``. A test may script the answers instead
(``FakeBehaviour.responder``), e.g. to play an LLM judge.

It can be told to fail the first K chat requests (``fail_first``, ``fail_status``, ``retry_after``),
to answer slowly (``delay``) and to add a ``reasoning_content`` field; it records every request
body, every request's path and ``Authorization`` header, and the most requests it served at once.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def fake_tokens(text: str) -> list[str]:
    """The fake model's tokenizer: whitespace-separated words."""
    return text.split()


def fake_answer(messages: list[dict[str, str]], index: int) -> str:
    """Choice ``index``'s full answer (before the ``max_tokens`` cut) to a conversation."""
    return f"sample {index}: {messages[-1]['content']}"


def fake_continuation(messages: list[dict[str, str]], index: int) -> str:
    """Choice ``index``'s continuation of a conversation ending with a partial assistant message."""
    return f"continued sample {index}: {messages[-2]['content']}"


def is_continuation(body: dict[str, Any]) -> bool:
    """Whether a request asks to continue its final (assistant) message, as vLLM's extension does."""
    return bool(body.get("continue_final_message")) and body["messages"][-1]["role"] == "assistant"


@dataclass
class FakeBehaviour:
    """What the server does; tests change it between requests."""

    fail_first: int = 0
    fail_status: int = 503
    retry_after: str | None = None
    delay: float = 0.0
    reasoning_content: str | None = None
    #: When set, choice ``i`` of a request ``body`` answers ``responder(body, i)`` (before the cut).
    responder: Callable[[dict[str, Any], int], str] | None = None


@dataclass
class FakeRecord:
    """What the server saw."""

    chat_requests: list[dict[str, Any]] = field(default_factory=list)
    #: Every request's path and ``Authorization`` header, chat or not, in arrival order.
    seen: list[tuple[str, str | None]] = field(default_factory=list)
    failures_sent: int = 0
    in_flight: int = 0
    max_in_flight: int = 0


class FakeOpenAIServer:
    """Start with ``with FakeOpenAIServer() as server:``; ``server.base_url`` is its address."""

    def __init__(self, behaviour: FakeBehaviour | None = None) -> None:
        self.behaviour = behaviour or FakeBehaviour()
        self.record = FakeRecord()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.httpd.daemon_threads = True
        serve = {"poll_interval": 0.02}  # shutdown() waits up to one poll interval
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs=serve, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeOpenAIServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()  # wakes handlers sleeping in a delay
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()

    # -- what a request gets --

    def chat_response(self, body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Status, extra headers and JSON body for one chat request."""
        with self.lock:
            self.record.chat_requests.append(body)
            failing = self.record.failures_sent < self.behaviour.fail_first
            if failing:
                self.record.failures_sent += 1
            self.record.in_flight += 1
            self.record.max_in_flight = max(self.record.max_in_flight, self.record.in_flight)
        try:
            self.stopping.wait(self.behaviour.delay)
            if failing:
                headers = {"Retry-After": self.behaviour.retry_after} if self.behaviour.retry_after else {}
                return self.behaviour.fail_status, headers, {"error": {"message": "the fake server is busy"}}
            return 200, {}, self.completion(body)
        finally:
            with self.lock:
                self.record.in_flight -= 1

    def answer(self, body: dict[str, Any], index: int) -> str:
        """Choice ``index``'s full text: scripted, a continuation, or the fake model's answer."""
        if self.behaviour.responder is not None:
            return self.behaviour.responder(body, index)
        if is_continuation(body):
            return fake_continuation(body["messages"], index)
        return fake_answer(body["messages"], index)

    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        choices = []
        completion_tokens = 0
        for index in range(body.get("n", 1)):
            answer = _stopped(self.answer(body, index), body)
            words = fake_tokens(answer)
            kept = words[: body["max_tokens"]]
            completion_tokens += len(kept)
            # a scripted answer keeps its line breaks (a judge's verdict lines); the fake model's
            # own answers are single-spaced words
            content = _cut(answer, len(kept)) if self.behaviour.responder is not None else " ".join(kept)
            message: dict[str, Any] = {"role": "assistant", "content": content}
            if self.behaviour.reasoning_content is not None:
                message["reasoning_content"] = self.behaviour.reasoning_content
            choice: dict[str, Any] = {
                "index": index,
                "message": message,
                "finish_reason": "length" if len(kept) < len(words) else "stop",
                "logprobs": None,
            }
            if body.get("logprobs"):
                choice["logprobs"] = {"content": [_logprob_entry(word, body.get("top_logprobs", 0)) for word in kept]}
            choices.append(choice)
        prompt_tokens = sum(len(fake_tokens(message["content"])) for message in body["messages"])
        return {
            "id": f"chatcmpl-fake-{len(self.record.chat_requests)}",
            "object": "chat.completion",
            "model": body["model"],
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


def _stopped(answer: str, body: dict[str, Any]) -> str:
    """The answer up to its first ``stop`` string (kept with vLLM's ``include_stop_str_in_output``)."""
    found = [(answer.find(stop), stop) for stop in body.get("stop") or () if stop in answer]
    if not found:
        return answer
    position, stop = min(found)
    return answer[: position + len(stop) if body.get("include_stop_str_in_output") else position]


def _cut(text: str, words: int) -> str:
    """``text`` up to the end of its first ``words`` words, its whitespace kept."""
    ends = [match.end() for match in re.finditer(r"\S+", text)]
    return text[: ends[words - 1]] if words else ""


def _logprob_entry(word: str, top: int) -> dict[str, Any]:
    """The chosen word at logprob -0.5, its alternatives below it (as OpenAI lays them out)."""
    alternatives = [{"token": word, "logprob": -0.5, "bytes": list(word.encode())}]
    alternatives += [{"token": f"alt{k}", "logprob": -1.0 - k, "bytes": None} for k in range(1, top)]
    return {"token": word, "logprob": -0.5, "bytes": list(word.encode()), "top_logprobs": alternatives[:top]}


def _handler_for(server: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self._note()
            self._send(404, {}, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            self._note()
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path == "/v1/chat/completions":
                self._send(*server.chat_response(body))
            elif self.path == "/tokenize":
                tokens = fake_tokens(body["prompt"])
                self._send(200, {}, {"count": len(tokens), "tokens": list(range(len(tokens)))})
            else:
                self._send(404, {}, {"error": {"message": f"no route {self.path}"}})

        def _note(self) -> None:
            with server.lock:
                server.record.seen.append((self.path, self.headers.get("Authorization")))

        def _send(self, status: int, headers: dict[str, str], payload: dict[str, Any]) -> None:
            raw = json.dumps(payload).encode()
            try:
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                pass

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
            """Silent: the tests assert on the record instead."""

    return Handler
