"""Generation through any OpenAI-compatible server (docs/concepts.md §1 Model backend ``openai``).

:class:`OpenAIBackend` implements :class:`~traces.backends.GenerationBackend` over the Chat
Completions HTTP API (``POST {base_url}/v1/chat/completions``) that ``vllm serve``, SGLang, TGI and
hosted APIs accept:

* one request per prompt carrying ``n``, so the server samples the ``n`` completions of a prompt
  together (and shares their prefix); at most ``max_concurrency`` requests are in flight;
* 429, 5xx, connection errors and timeouts are retried with exponential backoff and jitter, or
  after the server's ``Retry-After``; other statuses fail at once. Both errors name the URL, the
  status and an excerpt of the body;
* a separate ``reasoning_content`` field (vLLM's ``--reasoning-parser``; newer vLLM calls it
  ``reasoning``) becomes :attr:`Completion.reasoning_content`; ``finish_reason``, token counts and
  ``logprobs`` are mapped into :class:`Completion`.

HTTP uses the standard library only (``urllib.request``), so the web process and a worker without
the ``cpu``/``vllm`` extras can import this module.
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from email.utils import parsedate_to_datetime
from http.client import HTTPException
from typing import Any

from traces.backends import BackendUnavailable, ChatPrompt, Completion, FinishReason, ProgressCallback, SamplingParams
from workers.backends.base import check_prefixes, tokens_of
from workers.backends.forcing import generate_with_think_budget

#: How much of an error response's body an exception message quotes.
BODY_EXCERPT_CHARS = 300

#: Server finish reasons meaning "the model ended its answer" (TGI says ``eos_token``).
_STOPPED = frozenset({"stop", "eos_token", "stop_sequence", "tool_calls"})


class ServerError(Exception):
    """The server refused a request for good (a 4xx other than 429) or answered something that is
    not a chat completion. Not retried: the same request would fail the same way."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ServerUnavailable(BackendUnavailable):
    """The server still failed (429, 5xx, no connection, timeout) after the last retry.

    A :class:`BackendUnavailable`, so a task retries later.
    """


class _Retryable(Exception):
    """One failed attempt worth retrying; ``retry_after`` is the server's wish in seconds."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def body_excerpt(body: bytes) -> str:
    """The start of a response body as text, for error messages (the body may be anything)."""
    text = body.decode("utf-8", errors="replace").strip()
    return text if len(text) <= BODY_EXCERPT_CHARS else text[:BODY_EXCERPT_CHARS] + "…"


def json_excerpt(data: Any) -> str:
    """The start of a decoded JSON answer, for error messages."""
    return body_excerpt(json.dumps(data).encode())


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def backoff_seconds(attempt: int, base: float, cap: float, retry_after: float | None) -> float:
    """The wait before retry number ``attempt`` (0-based): the server's ``Retry-After`` when it
    gave one, else ``base · 2^attempt`` with "equal jitter" (half fixed, half random); never more
    than ``cap``."""
    if retry_after is not None:
        return min(cap, retry_after)
    delay = min(cap, base * 2**attempt)
    return delay / 2 + random.uniform(0, delay / 2)


def server_root(base_url: str) -> str:
    """The server's root URL: ``base_url`` without a trailing slash or ``/v1`` (both are accepted,
    as OpenAI clients take ``…/v1`` while vLLM documents the bare host)."""
    root = base_url.rstrip("/")
    if not root.startswith(("http://", "https://")):
        raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
    return root.removesuffix("/v1")


def request_body(model: str, prompt: ChatPrompt, params: SamplingParams) -> dict[str, Any]:
    """The Chat Completions request for one prompt and its ``n`` samples.

    Logprobs are always asked for when ``n > 1`` (with no alternatives unless requested): the
    usage block counts the tokens of all ``n`` choices together, the logprobs count each one.
    """
    body: dict[str, Any] = {
        "model": model,
        "messages": prompt.as_list(),
        "max_tokens": params.max_new_tokens,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "n": params.n,
    }
    if params.seed is not None:
        body["seed"] = params.seed
    if params.logprobs is not None or params.n > 1:
        body["logprobs"] = True
        body["top_logprobs"] = params.logprobs or 0
    return body


def continuation_body(
    model: str, prompt: ChatPrompt, prefix: str, params: SamplingParams, stop: Sequence[str] = ()
) -> dict[str, Any]:
    """The Chat Completions request continuing an assistant answer that starts with ``prefix``
    (docs/concepts.md §3.6 rollouts, budget forcing): the conversation ends with that assistant message, and
    vLLM's extension ``continue_final_message`` (with ``add_generation_prompt`` off) makes the
    server render it without closing the turn, so the choices hold only the continuation. ``stop``
    strings, when given, end a continuation early and stay in its text (vLLM's
    ``include_stop_str_in_output``), as the local backends keep them."""
    body = request_body(model, prompt, params)
    body["messages"] = [*prompt.as_list(), {"role": "assistant", "content": prefix}]
    body["continue_final_message"] = True
    body["add_generation_prompt"] = False
    if stop:
        body["stop"] = list(stop)
        body["include_stop_str_in_output"] = True
    return body


def finish_reason(raw: str | None) -> FinishReason:
    """The server's finish reason in thinkscope's terms: the answer ended, hit the token limit, or
    anything else (``content_filter``, ``abort``, none at all) is an error."""
    if raw == "length":
        return "length"
    return "stop" if raw in _STOPPED else "error"


def token_logprobs(choice_logprobs: Mapping[str, Any], top: int) -> list[dict[str, Any]]:
    """OpenAI's ``choice.logprobs.content`` as :attr:`Completion.logprobs` entries, keeping
    ``top`` alternatives per token."""
    return [
        {
            "token": entry["token"],
            "logprob": float(entry["logprob"]),
            "top_logprobs": [
                {"token": alt["token"], "logprob": float(alt["logprob"])}
                for alt in (entry.get("top_logprobs") or [])[:top]
            ],
        }
        for entry in choice_logprobs.get("content") or []
    ]


def completions_from_response(data: Mapping[str, Any], params: SamplingParams, seconds: float) -> list[Completion]:
    """The ``n`` completions of one Chat Completions response, in choice order.

    ``completion_tokens`` of a choice is the server's usage count when there is one choice, else
    the number of its logprob entries (:func:`request_body` asks for them).
    """
    choices = sorted(data["choices"], key=lambda choice: choice["index"])
    if len(choices) != params.n:
        raise ValueError(f"{params.n} choices expected, got {len(choices)}")
    usage = data.get("usage") or {}
    completions = []
    for choice in choices:
        message = choice["message"]
        logprobs = choice.get("logprobs")
        entries = token_logprobs(logprobs, params.logprobs or 0) if logprobs else None
        if len(choices) == 1 and "completion_tokens" in usage:
            completion_tokens = int(usage["completion_tokens"])
        elif entries is not None:
            completion_tokens = len(entries)
        else:
            raise ValueError("per-choice token counts need logprobs, and the server returned none")
        completions.append(
            Completion(
                text=message.get("content") or "",
                reasoning_content=message.get("reasoning_content") or message.get("reasoning"),
                prompt_tokens=int(usage.get("prompt_tokens", 0)),
                completion_tokens=completion_tokens,
                finish_reason=finish_reason(choice.get("finish_reason")),
                logprobs=entries if params.logprobs is not None else None,
                seconds=seconds,
                meta={"finish_reason": choice.get("finish_reason"), "response_id": data.get("id")},
            )
        )
    return completions


class OpenAIBackend:
    """Chat completions from an OpenAI-compatible server (docs/concepts.md §1 Model backend ``openai``).

    ``max_retries`` retries follow the first attempt of a request; ``timeout`` bounds each attempt
    (connecting and reading the whole answer), so a request gives up after at most
    ``(max_retries + 1) · timeout`` plus the waits in between.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        max_concurrency: int = 8,
        max_retries: int = 5,
        timeout: float = 600.0,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if max_retries < 0:
            raise ValueError("max_retries must not be negative")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.root = server_root(base_url)
        self.model = model
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.timeout = timeout
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"

    # -- GenerationBackend --

    def generate(
        self,
        prompts: Sequence[ChatPrompt],
        params: SamplingParams,
        progress: ProgressCallback | None = None,
    ) -> list[list[Completion]]:
        """``params.n`` completions per prompt, in prompt order; ``progress(n)`` as each prompt's
        request finishes (called in the caller's thread). The first request that fails for good
        cancels those not yet sent and raises once those in flight have ended. With a think budget,
        budget forcing (``workers.backends.forcing``) runs its two phases as continuations."""
        if params.think_budget is not None:
            return generate_with_think_budget(self.continue_with_stop, prompts, params, progress)
        return self._complete_all([request_body(self.model, prompt, params) for prompt in prompts], params, progress)

    def continue_from(
        self,
        prompts: Sequence[ChatPrompt],
        prefixes: Sequence[str],
        params: SamplingParams,
        progress: ProgressCallback | None = None,
    ) -> list[list[Completion]]:
        """``params.n`` continuations per (prompt, prefix) through vLLM's ``continue_final_message``
        (:func:`continuation_body`), one request per prefix; vLLM's prefix cache shares the prompt
        they have in common. Concurrency, retries and ``progress`` as in :meth:`generate`."""
        return self.continue_with_stop(prompts, prefixes, params, (), progress)

    def continue_with_stop(
        self,
        prompts: Sequence[ChatPrompt],
        prefixes: Sequence[str],
        params: SamplingParams,
        stop: Sequence[str],
        progress: ProgressCallback | None = None,
    ) -> list[list[Completion]]:
        """:meth:`continue_from` whose continuations also end after any of the ``stop`` strings,
        which their text keeps (:func:`continuation_body`)."""
        check_prefixes(prompts, prefixes)
        bodies = [
            continuation_body(self.model, prompt, prefix, params, stop)
            for prompt, prefix in zip(prompts, prefixes, strict=True)
        ]
        return self._complete_all(bodies, params, progress)

    def _complete_all(
        self, bodies: Sequence[Mapping[str, Any]], params: SamplingParams, progress: ProgressCallback | None
    ) -> list[list[Completion]]:
        """Send the chat requests ``max_concurrency`` at a time; their completions in request order."""
        if not bodies:
            return []
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(bodies))) as pool:
            futures = [pool.submit(self._complete_request, body, params) for body in bodies]
            try:
                for future in as_completed(futures):
                    if progress is not None:
                        progress(params.n, tokens_of([future.result()]))
            except BaseException:  # a failed request, or progress stopping the call: send no more
                pool.shutdown(cancel_futures=True)
                raise
            return [future.result() for future in futures]

    def count_tokens(self, text: str) -> int:
        """Exact token count of ``text`` from the server's tokenizer, without special tokens
        (vLLM's ``POST /tokenize``; a server without it raises :class:`ServerError`)."""
        data = self._post("/tokenize", {"model": self.model, "prompt": text, "add_special_tokens": False})
        try:
            return int(data["count"])
        except (KeyError, TypeError, ValueError):
            raise ServerError(f"{self.root}/tokenize: no token 'count' in {json_excerpt(data)}") from None

    # -- one request --

    def _complete_request(self, body: Mapping[str, Any], params: SamplingParams) -> list[Completion]:
        started = time.perf_counter()
        data = self._post("/v1/chat/completions", body)
        seconds = time.perf_counter() - started
        try:
            return completions_from_response(data, params, seconds)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ServerError(
                f"{self.root}/v1/chat/completions: not a chat completion ({error}): "
                f"{json_excerpt(data)}"
            ) from None

    # -- HTTP with retries --

    def _post(self, path: str, payload: Mapping[str, Any]) -> Any:
        """POST ``payload`` as JSON, retrying what is worth retrying; the decoded JSON answer."""
        url = self.root + path
        body = json.dumps(payload).encode()
        attempt = 0
        while True:
            try:
                return self._attempt(url, body)
            except _Retryable as failure:
                if attempt == self.max_retries:
                    raise ServerUnavailable(
                        f"POST {url} failed after {attempt + 1} attempts; last: {failure}"
                    ) from None
                time.sleep(backoff_seconds(attempt, self.backoff_base, self.backoff_cap, failure.retry_after))
                attempt += 1

    def _attempt(self, url: str, body: bytes) -> Any:
        request = urllib.request.Request(url, data=body, headers=self._headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            excerpt = body_excerpt(error.read())
            if error.code == 429 or error.code >= 500:
                raise _Retryable(
                    f"HTTP {error.code}: {excerpt}", retry_after_seconds(error.headers.get("Retry-After"))
                ) from None
            raise ServerError(f"POST {url}: HTTP {error.code}: {excerpt}", status=error.code) from None
        except TimeoutError:
            raise _Retryable(f"no answer within {self.timeout:g} s") from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                raise _Retryable(f"no answer within {self.timeout:g} s") from None
            raise _Retryable(f"cannot connect: {error.reason}") from None
        except (ConnectionError, HTTPException) as error:
            raise _Retryable(f"connection failed: {error!r}") from None
        try:
            return json.loads(raw)
        except ValueError:
            raise ServerError(f"POST {url}: the answer is not JSON: {body_excerpt(raw)}") from None

