"""Tests marked ``trainers`` run only when asked for (``-m trainers``): they build a venv with the PRM
trainers (TRL 1.13.0, OpenRLHF 0.9.5) beside the app's own."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "trainers" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="opt-in: builds the PRM trainers' venv; run with `pytest -m trainers tests/traces/exports`")
    for item in items:
        if item.get_closest_marker("trainers") is not None:
            item.add_marker(skip)
