"""Model endpoints: where generation runs, declared by the operator, never by a project.

A project's model (``LanguageModel``) names one of these endpoints and, for a server that hosts
several models, the model id to ask for. Everything that could reach a secret or an address —
the server's URL, the environment variable holding its API key, a folder on the worker's disk, the
device — lives here, in the operator's configuration, so a project owner can neither send the
workers' environment to a server of their choosing nor make a worker fetch an internal URL.

The endpoints come from a TOML file named by ``THINKSCOPE_ENDPOINTS_FILE``; one endpoint per table::

    [endpoints.team-vllm]
    backend = "openai"                      # an OpenAI-compatible server (vLLM, SGLang, TGI, ...)
    base_url = "http://gpu-box:8000/v1"
    api_key_env = "TEAM_VLLM_API_KEY"       # optional: the variable the workers read the key from
    models = ["Qwen/QwQ-32B"]               # optional: model ids projects may ask for (default: any)
    projects = ["reasoning-evals"]          # optional: project slugs that may use it (default: all)
    description = "QwQ on the team's H100"

    [endpoints.local-qwen]
    backend = "transformers"                # a local transformers folder, loaded by the gpu worker
    path = "/models/Qwen2.5-Math-1.5B"
    device = "cuda"

    [endpoints.inproc-vllm]
    backend = "vllm"                        # vLLM in the worker process (GPU workers only)
    path = "/models/DeepSeek-R1-Distill-Qwen-7B"

``embedded`` is always declared: the SmolLM2-135M model that ships with thinkscope, on the CPU. A
table of that name in the file replaces it. The file is read when a process starts (the web
process and every worker must see the same file); a mistake in it stops the process with a message
naming the endpoint and the key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The endpoint every installation has: the embedded SmolLM2 model on the worker's CPU.
EMBEDDED = "embedded"

BACKENDS = ("transformers", "openai", "vllm")

#: The keys a table may hold, and what each means for which backend.
_KEYS: dict[str, str] = {
    "backend": "transformers, openai or vllm",
    "base_url": "openai: the server's base URL (http://host:port/v1)",
    "path": "transformers, vllm: the model's folder (or, for vllm, a hub id the worker can load)",
    "api_key_env": "openai: the environment variable holding the API key",
    "models": "model ids a project may ask for (default: any)",
    "projects": "project slugs that may use the endpoint (default: every project)",
    "description": "shown to projects choosing an endpoint",
    "device": "transformers: cpu or cuda",
    "batch_size": "transformers: sequences per forward pass",
    "max_concurrency": "openai: requests in flight at once",
    "timeout": "openai: seconds per request",
}


class EndpointConfigError(ValueError):
    """The endpoints file is unreadable or declares something that cannot work."""


class EndpointRefused(ValueError):
    """A model asks for an endpoint, or a model id, that the operator did not open to its project."""


@dataclass(frozen=True)
class Endpoint:
    """One declared endpoint. Frozen and hashable: a worker keys its loaded backends on it, so two
    endpoints that differ in anything (a key variable, a URL, a device) never share a backend."""

    name: str
    backend: str
    base_url: str = ""
    path: str = ""
    api_key_env: str = ""
    models: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    description: str = ""
    device: str = "cpu"
    batch_size: int = 32  # sequences per forward pass: 32 measured best for SmolLM2 on 2 CPU cores
    max_concurrency: int = 8
    timeout: float = 600.0

    def open_to(self, project_slug: str) -> bool:
        """Whether a project may use this endpoint."""
        return not self.projects or project_slug in self.projects

    def serves(self, model_id: str) -> bool:
        """Whether projects may ask this endpoint for the model id ``model_id``."""
        return not self.models or model_id in self.models


EMBEDDED_ENDPOINT = Endpoint(
    name=EMBEDDED,
    backend="transformers",
    description="SmolLM2-135M-Instruct, shipped with thinkscope, on the worker's CPU",
)


def load_endpoints(file: str | None) -> dict[str, Endpoint]:
    """The declared endpoints: ``embedded`` plus the tables of the TOML ``file`` (None or "": none)."""
    declared = {EMBEDDED: EMBEDDED_ENDPOINT}
    if not file:
        return declared
    tables = read_endpoints_file(file).get("endpoints", {})
    if not isinstance(tables, dict):
        raise EndpointConfigError(f"{file}: 'endpoints' must be a table of [endpoints.NAME] tables")
    for name, table in tables.items():
        declared[name] = parse_endpoint(name, table, where=file)
    return declared


def read_endpoints_file(file: str) -> dict[str, Any]:
    """The parsed TOML of the endpoints file: ``[endpoints.NAME]`` tables, and the PRM folders of
    ``[scorers.NAME]`` tables (app/scorers.py)."""
    try:
        document = tomllib.loads(Path(file).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise EndpointConfigError(f"THINKSCOPE_ENDPOINTS_FILE {file}: {error}") from None
    unknown = set(document) - {"endpoints", "scorers"}
    if unknown:
        raise EndpointConfigError(
            f"{file}: unknown top-level key(s) {sorted(unknown)}; use [endpoints.NAME] and [scorers.NAME] tables"
        )
    return document


def parse_endpoint(name: str, table: Any, where: str = "endpoints") -> Endpoint:
    """One ``[endpoints.NAME]`` table as an Endpoint; every mistake names the endpoint and the key."""
    prefix = f"{where}: endpoint '{name}'"
    if not isinstance(table, Mapping):
        raise EndpointConfigError(f"{prefix} must be a table")
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise EndpointConfigError(f"{prefix}: unknown key(s) {unknown}; known: {sorted(_KEYS)}")
    backend = table.get("backend")
    if backend not in BACKENDS:
        raise EndpointConfigError(f"{prefix}: 'backend' must be one of {list(BACKENDS)}, got {backend!r}")
    values = {key: _checked(prefix, key, value) for key, value in table.items() if key != "backend"}
    if backend == "openai" and not str(values.get("base_url", "")).startswith(("http://", "https://")):
        raise EndpointConfigError(f"{prefix}: an openai endpoint needs 'base_url' starting with http:// or https://")
    if backend == "vllm" and not values.get("path"):
        raise EndpointConfigError(f"{prefix}: a vllm endpoint needs 'path' (a model folder or hub id)")
    return Endpoint(name=name, backend=backend, **values)


def _checked(prefix: str, key: str, value: Any) -> Any:
    """``value`` in the type ``key`` takes, or an error naming both."""
    if key in ("models", "projects"):
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            raise EndpointConfigError(f"{prefix}: '{key}' must be a list of non-empty strings")
        return tuple(value)
    if key in ("batch_size", "max_concurrency"):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise EndpointConfigError(f"{prefix}: '{key}' must be a positive integer")
        return value
    if key == "timeout":
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise EndpointConfigError(f"{prefix}: 'timeout' must be a positive number of seconds")
        return float(value)
    if not isinstance(value, str):
        raise EndpointConfigError(f"{prefix}: '{key}' must be a string")
    return value


def endpoint_for(endpoints: Mapping[str, Endpoint], name: str, project_slug: str, model_id: str) -> Endpoint:
    """The endpoint ``name`` if the operator declared it, opened it to the project and lets it serve
    ``model_id``; else EndpointRefused saying what a project may choose instead."""
    usable = sorted(key for key, endpoint in endpoints.items() if endpoint.open_to(project_slug))
    endpoint = endpoints.get(name)
    if endpoint is None or not endpoint.open_to(project_slug):
        what = f"'{name}' is not an endpoint this project may use" if name else "no endpoint chosen"
        raise EndpointRefused(f"{what}; the operator declared for this project: {', '.join(usable) or 'none'}")
    if not endpoint.serves(model_id):
        raise EndpointRefused(
            f"endpoint '{name}' does not serve the model id '{model_id}'; it serves: {', '.join(endpoint.models)}"
        )
    return endpoint
