"""Process reward models on the workers' disks, declared by the operator, never by a project.

A PRM that scores steps (docs/concepts.md §5) is either trained inside thinkscope (the system keeps
it under the data directory and registers it; ``traces.models.TrainedPrm``) or a folder the
operator declares here, in the endpoints file (``THINKSCOPE_ENDPOINTS_FILE``, app/endpoints.py),
one ``[scorers.NAME]`` table each::

    [scorers.math-shepherd]
    path = "/models/math-shepherd-mistral-7b-prm"
    convention = "step_tag"          # Math-Shepherd style: P("+") against P("-") at each step tag
    step_tag = "ки"                  # step_tag only (default ки); positive/negative: "+", "-"
    device = "cuda"
    batch_size = 8
    max_length = 4096
    projects = ["reasoning-evals"]   # optional: project slugs that may use it (default: all)
    version = "2024-01"              # optional: recorded with every score (default: a digest of its config)

    [scorers.my-token-prm]
    path = "/models/my-prm"
    convention = "token_classification"   # P(class 1) at the separator that ends each step
    separator = "\\n"

A project chooses a declared scorer by its name only: its folder and device are the operator's, so
no project can make a worker read a path of its choosing. Mistakes stop the process with a message
naming the scorer and the key, as for endpoints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.endpoints import EndpointConfigError, read_endpoints_file
from traces.analysis.prm_inputs import (
    CONVENTIONS,
    DEFAULT_NEGATIVE,
    DEFAULT_POSITIVE,
    DEFAULT_SEPARATOR,
    DEFAULT_STEP_TAG,
    STEP_TAG,
    Layout,
)

DEVICES = ("cpu", "cuda")

_KEYS: dict[str, str] = {
    "path": "the model's folder on the workers",
    "convention": "token_classification or step_tag",
    "separator": "token_classification: the text that ends each step (default a newline)",
    "step_tag": "step_tag: the tag after each step (default ки)",
    "positive": "step_tag: the token that says a step is right (default +)",
    "negative": "step_tag: the token that says a step is wrong (default -)",
    "device": "cpu or cuda",
    "batch_size": "traces per forward pass",
    "max_length": "tokens read per trace; steps past it get no score",
    "projects": "project slugs that may use the scorer (default: every project)",
    "description": "shown to projects choosing a scorer",
    "version": "recorded with every score (default: a digest of the folder's config)",
}


@dataclass(frozen=True)
class DeclaredScorer:
    """One operator-declared PRM folder. Frozen and hashable: a worker keys its loaded models on it."""

    name: str
    path: str
    convention: str
    separator: str = DEFAULT_SEPARATOR
    step_tag: str = DEFAULT_STEP_TAG
    positive: str = DEFAULT_POSITIVE
    negative: str = DEFAULT_NEGATIVE
    device: str = "cpu"
    batch_size: int = 8
    max_length: int = 2048
    projects: tuple[str, ...] = ()
    description: str = ""
    version: str = ""

    def open_to(self, project_slug: str) -> bool:
        return not self.projects or project_slug in self.projects

    @property
    def layout(self) -> Layout:
        if self.convention == STEP_TAG:
            return Layout.step_tag(self.step_tag)
        return Layout.token_classification(self.separator)


def load_scorers(file: str | None) -> dict[str, DeclaredScorer]:
    """The ``[scorers.NAME]`` tables of the endpoints ``file`` (None or "": none)."""
    if not file:
        return {}
    tables = read_endpoints_file(file).get("scorers", {})
    if not isinstance(tables, dict):
        raise EndpointConfigError(f"{file}: 'scorers' must be a table of [scorers.NAME] tables")
    return {name: parse_scorer(name, table, file) for name, table in tables.items()}


def parse_scorer(name: str, table: Any, where: str = "scorers") -> DeclaredScorer:
    """One ``[scorers.NAME]`` table; every mistake names the scorer and the key."""
    prefix = f"{where}: scorer '{name}'"
    if not isinstance(table, Mapping):
        raise EndpointConfigError(f"{prefix} must be a table")
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise EndpointConfigError(f"{prefix}: unknown key(s) {unknown}; known: {sorted(_KEYS)}")
    if not isinstance(table.get("path"), str) or not table["path"].strip():
        raise EndpointConfigError(f"{prefix}: 'path' (the model's folder) is required")
    if table.get("convention") not in CONVENTIONS:
        raise EndpointConfigError(f"{prefix}: 'convention' must be one of {list(CONVENTIONS)}, got {table.get('convention')!r}")
    if table.get("device", "cpu") not in DEVICES:
        raise EndpointConfigError(f"{prefix}: 'device' must be one of {list(DEVICES)}")
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key in ("batch_size", "max_length"):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise EndpointConfigError(f"{prefix}: '{key}' must be a positive integer")
        elif key == "projects":
            if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
                raise EndpointConfigError(f"{prefix}: 'projects' must be a list of non-empty strings")
            value = tuple(value)
        elif not isinstance(value, str) or (key in ("separator", "step_tag", "positive", "negative") and not value):
            raise EndpointConfigError(f"{prefix}: '{key}' must be a non-empty string")
        values[key] = value
    return DeclaredScorer(name=name, **values)
