"""Helpers for the format readers' tests: read a file raw (the independent side) and parsed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from traces.formats import get_parser
from traces.formats.base import FormatError, ParsedTrace, read_records

Parsed = list[ParsedTrace | FormatError]


def read_raw(path: Path) -> list[dict[str, Any]]:
    """Every record of a JSONL file, decoded with the standard library alone."""
    with path.open(encoding="utf-8") as fp:
        return [json.loads(line) for line in fp if line.strip()]


def parse_path(path: Path, fmt: str, **options: Any) -> Parsed:
    """Everything ``read_records`` yields for the file in format ``fmt``."""
    with path.open(encoding="utf-8", newline="") as fp:
        return list(read_records(fp, get_parser(fmt, **options)))


@pytest.fixture
def raw_records() -> Callable[[Path], list[dict[str, Any]]]:
    return read_raw


@pytest.fixture
def parse_file() -> Callable[..., Parsed]:
    return parse_path


@pytest.fixture
def parse_lines(tmp_path: Path) -> Callable[..., Parsed]:
    """Parse the given lines (strings, or records to dump) as a file in format ``fmt``."""

    def parse(fmt: str, lines: list[str | dict[str, Any]], **options: Any) -> Parsed:
        path = tmp_path / f"input.{fmt}.jsonl"
        texts = [line if isinstance(line, str) else json.dumps(line, ensure_ascii=False) for line in lines]
        path.write_text("".join(text + "\n" for text in texts), encoding="utf-8")
        return parse_path(path, fmt, **options)

    return parse


@pytest.fixture
def only_error(parse_lines: Callable[..., Parsed]) -> Callable[..., FormatError]:
    """Parse ``good, good, bad`` and return the error reported for the bad third line."""

    def error(fmt: str, good: dict[str, Any], bad: str | dict[str, Any], **options: Any) -> FormatError:
        results = parse_lines(fmt, [good, good, bad], **options)
        assert [type(r) for r in results[:2]] == [ParsedTrace, ParsedTrace]
        assert len(results) == 3 and isinstance(results[2], FormatError), results[2:]
        assert results[2].line_no == 3
        return results[2]

    return error
