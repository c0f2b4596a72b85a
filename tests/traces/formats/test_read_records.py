"""Reading a file line by line (traces/formats/base.py): bad lines, layouts, memory (SPEC §2)."""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path

import pytest

from traces.formats import FORMAT_NAMES, get_parser
from traces.formats.base import MAX_NESTING, FormatError, ParsedTrace, read_records

GOOD = {"prompt": "What is 1+1?", "completion": "2"}


def read_text(text: str, fmt: str = "jsonl") -> list[ParsedTrace | FormatError]:
    return list(read_records(io.StringIO(text, newline=""), get_parser(fmt)))


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('{"prompt": "p", "completion": ', "invalid JSON"),
        ("{'prompt': 'p'}", "invalid JSON"),
        ('["prompt", "completion"]', "expected a JSON object, got array"),
        ("42", "expected a JSON object, got number"),
        ('"text"', "expected a JSON object, got string"),
        ("null", "expected a JSON object, got null"),
        ('{"prompt": "p", "completion": "c", "x": NaN}', "non-finite"),
        ('{"prompt": "p", "completion": "c", "x": -Infinity}', "non-finite"),
        ('{"prompt": "p", "completion": "c", "x": 1e999}', "out of range"),
        ('{"prompt": "p", "completion": "c", "x": ' + "9" * 5000 + "}", "invalid JSON"),
        ('{"prompt": "p", "completion": "c", "x": ' + "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1) + "}", "nested"),
    ],
)
def test_bad_line_is_reported_with_its_number(line: str, says: str) -> None:
    good = json.dumps(GOOD)
    results = read_text("\n".join([good, "", good, line, good]) + "\n")
    assert [type(r) for r in results] == [ParsedTrace, ParsedTrace, FormatError, ParsedTrace]
    assert [r.line_no for r in results] == [1, 3, 4, 5]  # blank line 2 is skipped but counted
    assert says in results[2].message


def test_brackets_inside_strings_are_not_nesting() -> None:
    text = "[0, 1) " * (MAX_NESTING * 2)
    (trace,) = read_text(json.dumps({"prompt": "Which intervals?", "completion": text}))
    assert trace.text == text


def test_crlf_bom_and_unicode_line_separators() -> None:
    """CRLF line ends and a byte order mark are accepted; U+2028 inside a string does not split a line."""
    lines = [json.dumps({**GOOD, "completion": "a\u2028b\u0085c"}, ensure_ascii=False), json.dumps(GOOD)]
    results = read_text("\ufeff" + "\r\n".join(lines) + "\r\n")
    assert [(r.line_no, r.text) for r in results] == [(1, "a\u2028b\u0085c"), (2, "2")]


def test_json_array_layout() -> None:
    results = read_text("\ufeff \n[" + json.dumps(GOOD) + ", 3, " + json.dumps(GOOD) + "]")
    assert [type(r) for r in results] == [ParsedTrace, FormatError, ParsedTrace]
    assert results[1].line_no == 2


@pytest.mark.parametrize(
    "text",
    ["[" + json.dumps(GOOD) + ",", "[" * 100_000 + "]" * 100_000, "[" + "9" * 5000 + "]"],
    ids=["truncated", "nested past the recursion limit", "huge integer"],
)
def test_unreadable_json_array_is_a_format_error(text: str) -> None:
    with pytest.raises(FormatError, match="invalid JSON array"):
        read_text(text)


def test_error_message_names_file_line_and_field() -> None:
    error = FormatError("expected a list, got string", line_no=7, field="steps", path="data/x.jsonl")
    assert str(error) == "data/x.jsonl, line 7, field 'steps': expected a list, got string"


def test_registry_lists_every_format_in_order() -> None:
    assert FORMAT_NAMES == ("jsonl", "prm800k", "math_shepherd", "processbench", "trl")


def test_unknown_format_names_the_valid_ones() -> None:
    valid = "jsonl, prm800k, math_shepherd, processbench, trl"
    with pytest.raises(ValueError, match=f"unknown format 'csv': expected one of {valid}"):
        get_parser("csv")


def test_step_separator_only_for_formats_that_take_one() -> None:
    assert get_parser("trl", step_separator="\n\n") is not get_parser("trl")
    with pytest.raises(ValueError, match="'prm800k' has no configurable step separator"):
        get_parser("prm800k", step_separator="\n")


def test_reading_streams_in_constant_memory(tmp_path: Path) -> None:
    """A 13 MB file is read one line at a time: peak memory stays far below the file's size."""
    path = tmp_path / "big.jsonl"
    lines = 5_000
    with path.open("w", encoding="utf-8") as out:
        for i in range(lines):
            out.write(json.dumps({"prompt": f"Problem {i}: what is {i}+1?", "completion": f"{i}+1={i + 1}. " * 200}) + "\n")
    size = path.stat().st_size
    count = 0
    tracemalloc.start()
    try:
        with path.open(encoding="utf-8", newline="") as fp:
            for record in read_records(fp, get_parser("jsonl")):
                assert isinstance(record, ParsedTrace)
                count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == lines
    assert peak < size / 100, f"peak {peak} bytes while reading a {size}-byte file"
