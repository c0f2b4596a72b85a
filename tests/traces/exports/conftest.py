"""Tests marked ``trl`` run only when asked for (``-m trl``): they build a TRL 1.13 virtualenv."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "trl" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="opt-in: builds a TRL 1.13 venv; run with `pytest -m trl tests/traces/exports`")
    for item in items:
        if item.get_closest_marker("trl") is not None:
            item.add_marker(skip)
