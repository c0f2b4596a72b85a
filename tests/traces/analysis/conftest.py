"""Fixtures of the analysis tests: the real samples in ../shared/data, read in place."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from skyt1_samples import SKYT1_FILE, SkyTrace, read_jsonl, sky_trace


@pytest.fixture(scope="session")
def sample_records(shared_data: Path) -> Callable[[str], list[dict[str, Any]]]:
    """``sample_records("gsm8k/test.lines1-500.jsonl")``: the records of a sample file (cached)."""
    return cache(lambda relative: read_jsonl(shared_data / relative))


@pytest.fixture(scope="session")
def skyt1_traces(sample_records: Callable[[str], list[dict[str, Any]]]) -> list[SkyTrace]:
    """The 300 Sky-T1 MATH-500 traces, split by exact tags."""
    return [sky_trace(record) for record in sample_records(SKYT1_FILE)]
