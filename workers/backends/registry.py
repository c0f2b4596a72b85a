"""Build a Model's generation backend once per worker process (docs/concepts.md §1 Model).

A `gpu` worker runs with ``--pool solo --concurrency 1`` and keeps every backend it built in
:data:`_LOADED`, so the weights load on the first task that needs them and later tasks reuse them.

A model generates on the endpoint it names (``LanguageModel.endpoint``), which the operator declared
in ``settings.MODEL_ENDPOINTS`` (app/endpoints.py): the server's URL, the API key's environment
variable, the model folder and the device come from there, never from the project's row. The
project's row adds the model id to ask for (``served_model``, default: its name) and its chat
template. A loaded backend is keyed on all of these, so two endpoints at one URL with different
keys, or two model ids on one server, never share a client.

Nothing here imports torch or vllm until a backend of that kind is built.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from django.conf import settings

from app.endpoints import Endpoint, EndpointRefused, endpoint_for
from traces.backends import BackendUnavailable, GenerationBackend


class ModelLike(Protocol):
    """The fields of a ``LanguageModel`` row a backend is built from."""

    name: str
    endpoint: str
    chat_template: str

    @property
    def model_id(self) -> str: ...

    @property
    def project_slug(self) -> str: ...


_LOADED: dict[tuple[Endpoint, str, str], GenerationBackend] = {}


def backend_for(model: ModelLike) -> GenerationBackend:
    """The loaded backend of ``model``, built on first use and kept for this process's lifetime.

    Raises EndpointRefused when the model names no endpoint its project may use (the message lists
    the ones it may; retrying cannot help) and BackendUnavailable when the endpoint cannot run yet
    (what to install, convert or start).
    """
    try:
        endpoint = endpoint_for(settings.MODEL_ENDPOINTS, model.endpoint, model.project_slug, model.model_id)
    except EndpointRefused as refused:
        raise EndpointRefused(f"model '{model.name}': {refused}") from None
    key = (endpoint, model.model_id, model.chat_template)
    if key not in _LOADED:
        _LOADED[key] = _build(endpoint, model)
    return _LOADED[key]


def _build(endpoint: Endpoint, model: ModelLike) -> GenerationBackend:
    if endpoint.backend == "transformers":
        return _transformers(endpoint, model)
    if endpoint.backend == "openai":
        return _openai(endpoint, model)
    from workers.backends.vllm import VLLMBackend  # imports vllm: GPU workers only

    return VLLMBackend(endpoint.path, chat_template=model.chat_template or None)


def _transformers(endpoint: Endpoint, model: ModelLike) -> GenerationBackend:
    from workers.backends.embedded import embedded_model_dir
    from workers.backends.transformers import TransformersBackend  # imports torch

    model_dir = Path(endpoint.path) if endpoint.path else embedded_model_dir(Path(settings.MODEL_CACHE_DIR))
    return TransformersBackend(
        model_dir,
        device=endpoint.device,
        batch_size=endpoint.batch_size,
        chat_template=model.chat_template or None,
    )


def _openai(endpoint: Endpoint, model: ModelLike) -> GenerationBackend:
    from workers.backends.openai_compat import OpenAIBackend

    api_key = os.environ.get(endpoint.api_key_env) if endpoint.api_key_env else None
    if endpoint.api_key_env and not api_key:
        raise BackendUnavailable(
            f"endpoint '{endpoint.name}': its API key variable {endpoint.api_key_env} is not set on this worker"
        )
    return OpenAIBackend(
        endpoint.base_url,
        model.model_id,
        api_key=api_key,
        max_concurrency=endpoint.max_concurrency,
        timeout=endpoint.timeout,
    )
