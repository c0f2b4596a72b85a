"""Build a Model's generation backend once per worker process (SPEC §1 Model; issue 5 §1).

A `gpu` worker runs with ``--pool solo --concurrency 1`` and keeps every backend it built in
:data:`_LOADED`, so the weights load on the first task that needs them and later tasks reuse them.

What a Model row means for each backend (``LanguageModel.backend``, ``.path``, ``.default_params``):

* ``transformers``: ``path`` is a local transformers folder, or empty for the embedded default
  (SmolLM2-135M from its package, converted once under ``settings.MODEL_CACHE_DIR``);
  ``default_params["device"]`` picks ``cpu`` (default) or ``cuda``.
* ``openai``: ``path`` is the server's base URL (``http://host:8000/v1``);
  ``default_params["served_model"]`` is the model id the server knows (default: the Model's name),
  ``default_params["api_key_env"]`` names the environment variable holding the API key (keys never
  live in the database), ``max_concurrency`` and ``timeout`` tune the client.
* ``vllm``: ``path`` is the model folder or hub id given to ``vllm.LLM`` (GPU workers only).

Nothing here imports torch or vllm until a backend of that kind is built.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings

from workers.backends.base import BackendUnavailable, GenerationBackend

#: Sequences per forward pass of the transformers backend (MODELS.md: batch 32 on 2 CPU cores).
TRANSFORMERS_BATCH = 32


class ModelLike(Protocol):
    """The fields of a ``LanguageModel`` row a backend is built from."""

    name: str
    backend: str
    path: str
    chat_template: str
    default_params: Mapping[str, Any]


_LOADED: dict[tuple[str, ...], GenerationBackend] = {}


def backend_for(model: ModelLike) -> GenerationBackend:
    """The loaded backend of ``model``, built on first use and kept for this process's lifetime.

    Raises BackendUnavailable (the message says what to install, convert or start) when the
    backend cannot run here, and ValueError for a Model whose backend generates nothing (imported).
    """
    key = _cache_key(model)
    if key not in _LOADED:
        _LOADED[key] = _build(model)
    return _LOADED[key]


def _cache_key(model: ModelLike) -> tuple[str, ...]:
    options = model.default_params or {}
    return (
        model.backend,
        model.path,
        model.chat_template,
        str(options.get("device", "")),
        str(options.get("served_model", "")),
    )


def _build(model: ModelLike) -> GenerationBackend:
    options = dict(model.default_params or {})
    if model.backend == "transformers":
        return _transformers(model, options)
    if model.backend == "openai":
        return _openai(model, options)
    if model.backend == "vllm":
        from workers.backends.vllm import VLLMBackend  # imports vllm: GPU workers only

        return VLLMBackend(model.path, chat_template=model.chat_template or None)
    raise ValueError(f"model '{model.name}' has backend '{model.backend}', which cannot generate")


def _transformers(model: ModelLike, options: Mapping[str, Any]) -> GenerationBackend:
    from workers.backends.embedded import embedded_model_dir
    from workers.backends.transformers import TransformersBackend  # imports torch

    model_dir = Path(model.path) if model.path else embedded_model_dir(Path(settings.MODEL_CACHE_DIR))
    return TransformersBackend(
        model_dir,
        device=str(options.get("device", "cpu")),
        batch_size=int(options.get("batch_size", TRANSFORMERS_BATCH)),
        chat_template=model.chat_template or None,
    )


def _openai(model: ModelLike, options: Mapping[str, Any]) -> GenerationBackend:
    from workers.backends.openai_compat import OpenAIBackend

    if not model.path:
        raise BackendUnavailable(f"model '{model.name}': set its path to the server's base URL (…/v1)")
    key_env = options.get("api_key_env")
    api_key = os.environ.get(str(key_env)) if key_env else None
    if key_env and not api_key:
        raise BackendUnavailable(f"model '{model.name}': environment variable {key_env} (its API key) is not set")
    return OpenAIBackend(
        model.path,
        str(options.get("served_model") or model.name),
        api_key=api_key,
        max_concurrency=int(options.get("max_concurrency", 8)),
        timeout=float(options.get("timeout", 600.0)),
    )
