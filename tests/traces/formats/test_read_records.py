"""Reading a file line by line (traces/formats/base.py): bad lines, layouts, memory (SPEC §2)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from traces.formats import FORMAT_NAMES, get_parser
from traces.formats.base import MAX_NESTING, FormatError, ParsedTrace, read_records

REPO_ROOT = Path(__file__).resolve().parents[3]

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
    ("text", "item"),
    [
        ("[" + json.dumps(GOOD) + ",", 2),
        ("[" + json.dumps(GOOD) + ', {"prompt": tru}]', 2),
        ("[" + "9" * 5000 + "]", 1),
        ("[" + json.dumps(GOOD) + "] []", 2),
    ],
    ids=["truncated", "bad literal", "huge integer", "data after the array"],
)
def test_unreadable_json_array_is_a_format_error_naming_the_item(text: str, item: int) -> None:
    with pytest.raises(FormatError, match="invalid JSON array") as raised:
        read_text(text)
    assert raised.value.line_no == item


def test_array_items_are_checked_like_lines() -> None:
    """Nesting, NUL and lone surrogates are refused per item, naming the item; the others are read."""
    deep = "[" * 100_000 + "]" * 100_000
    nul = json.dumps({**GOOD, "completion": "a\u0000b"})
    surrogate = json.dumps({**GOOD, "prompt": "\ud800"})
    results = read_text("[" + ", ".join([json.dumps(GOOD), deep, nul, surrogate, json.dumps(GOOD)]) + "]")
    assert [type(r) for r in results] == [ParsedTrace, FormatError, FormatError, FormatError, ParsedTrace]
    assert [r.line_no for r in results] == [1, 2, 3, 4, 5]
    assert "nested deeper" in results[1].message
    assert (results[2].field, results[3].field) == ("completion", "prompt")


def test_error_message_names_file_line_and_field() -> None:
    error = FormatError("expected a list, got string", line_no=7, field="steps", path="data/x.jsonl")
    assert str(error) == "data/x.jsonl, line 7, field 'steps': expected a list, got string"


def test_registry_lists_every_format_in_order() -> None:
    assert FORMAT_NAMES == ("jsonl", "math_shepherd", "prm800k", "prmbench", "processbench", "trl")


def test_unknown_format_names_the_valid_ones() -> None:
    valid = "jsonl, math_shepherd, prm800k, prmbench, processbench, trl"
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


#: Reads the file named on the command line as a whole import would; prints items read and peak RSS.
_PEAK_RSS_SCRIPT = """
import resource, sys
from traces.formats import get_parser
from traces.formats.base import ParsedTrace, read_records
with open(sys.argv[1], encoding="utf-8", newline="") as fp:
    count = sum(isinstance(record, ParsedTrace) for record in read_records(fp, get_parser("jsonl")))
print(count, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _array_file(path: Path, items: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        out.write("[\n")
        for i in range(items):
            ratings = [{"step": step, "rating": 1} for step in range(60)]  # small objects cost most when held
            record = {"prompt": f"Problem {i}: what is {i}+1?", "completion": f"{i}+1={i + 1}. " * 100, "ratings": ratings}
            out.write(("," if i else "") + json.dumps(record) + "\n")
        out.write("]\n")
    return path


def _peak_rss_reading(path: Path) -> tuple[int, int]:
    """Items read and peak resident memory (KiB) of a fresh process reading ``path``."""
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS_SCRIPT, str(path)], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    count, peak = done.stdout.split()
    return int(count), int(peak)


def test_a_json_array_file_streams_in_flat_memory(tmp_path: Path) -> None:
    """A 10 MB array is read item by item: the reading process peaks about as high as for a 0.1 MB
    one (decoding the whole array first peaked at 5 times as high)."""
    small, large = _array_file(tmp_path / "small.json", 50), _array_file(tmp_path / "large.json", 4_000)
    assert large.stat().st_size > 10_000_000
    (small_count, small_peak), (large_count, large_peak) = _peak_rss_reading(small), _peak_rss_reading(large)
    assert (small_count, large_count) == (50, 4_000)
    assert large_peak < 1.5 * small_peak, f"peak RSS {large_peak} KiB for the large array, {small_peak} KiB for the small"
