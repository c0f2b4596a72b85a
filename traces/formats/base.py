"""What every format reader yields (SPEC §2), and how a bad line is reported.

A format is one module in ``traces/formats/`` (STYLE.md §5) exposing ``NAME`` and
``parse_record(record, line_no) -> list[ParsedTrace]``; ``read_records`` streams a file through it
one line at a time, so memory stays constant whatever the file's size. The import action
(``traces/actions/imports.py``) turns ``ParsedTrace`` objects into rows; readers never touch the ORM.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

#: A JSON line nested deeper than this is refused (guards the recursion of json.loads).
MAX_NESTING = 64


@dataclass
class ParsedStep:
    """A step given by the file itself, with that file's label for it."""

    text: str
    label: int | None = None  # −1 / 0 / +1 (PRM800K semantics), None = unrated
    flagged: bool | None = None
    # PRM800K: the step's raw record (a dict with completions/human_completion/chosen_completion);
    # empty list when the format has no alternatives.
    alternatives: dict[str, Any] | list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ParsedTrace:
    """One completion read from a file, before it is stored."""

    line_no: int
    prompt: str
    text: str  # the completion's raw text; for step-wise formats the steps joined by ``step_separator``
    model_name: str = "unknown"
    reference_answer: str = ""
    answer_type: str | None = None  # None: infer from the reference answer
    source: str = ""  # dataset name, e.g. "gsm8k", "prm800k"
    split: str = ""
    problem_id: str = ""
    problem_meta: dict[str, Any] = field(default_factory=dict)
    reasoning_content: str | None = None  # OpenAI-style separate think part
    steps: list[ParsedStep] | None = None  # None: segment the text automatically
    step_separator: str = "\n\n"
    first_error: int | None = None  # ProcessBench: 0-based index of the first wrong step, −1 = none
    finish_reason: str = "unknown"
    is_correct: bool | None = None  # the file's own grading, when it has one
    label_source: str = ""  # e.g. "import:prm800k"; labels of steps are stored under it
    meta: dict[str, Any] = field(default_factory=dict)  # whatever an exact export round-trip needs
    # Set by generation (workers), unknown for most imports:
    sample_index: int | None = None  # None: the line number
    think_tokens: int | None = None  # exact counts from the model's tokenizer
    answer_tokens: int | None = None
    generation_ms: int | None = None
    logprobs: list[Any] | None = None
    think_format: str = "auto"  # see traces.analysis.think


class FormatError(ValueError):
    """A record that cannot be read: names the file, the line and the field that was wrong."""

    def __init__(self, message: str, *, line_no: int | None = None, field: str | None = None, path: str = ""):
        self.message = message
        self.line_no = line_no
        self.field = field
        self.path = path
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path or "<input>"
        if self.line_no is not None:
            where += f", line {self.line_no}"
        if self.field:
            where += f", field '{self.field}'"
        return f"{where}: {self.message}"


RecordParser = Callable[[dict[str, Any], int], list[ParsedTrace]]

#: The longest value each short text of a trace may have: the widths of the columns that store them
#: (``LanguageModel.name``, ``Problem.source``/``split``/``external_id``; a test keeps them equal).
#: PostgreSQL refuses a longer value, so a reader's error must say so first, naming the line.
FIELD_LIMITS = {"model_name": 200, "source": 200, "split": 50, "problem_id": 200}


def check_field_lengths(trace: ParsedTrace) -> None:
    """Raise a FormatError when a short text of ``trace`` is longer than its column stores."""
    for name, limit in FIELD_LIMITS.items():
        length = len(getattr(trace, name))
        if length > limit:
            what = name.replace("_", " ")
            raise FormatError(f"the {what} is {length:,} characters long; at most {limit} are stored",
                              line_no=trace.line_no)  # fmt: skip


#: A complete JSON string literal (unrolled loop: linear, no backtracking blow-up).
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


def _nesting_depth_exceeds(line: str, limit: int) -> bool:
    """Bracket-depth scan outside string literals.

    Brackets inside strings are skipped, so text such as a run of half-open intervals ``[0, 1)``
    in a long trace is not mistaken for nesting; an unterminated string is scanned as-is (a
    conservative over-estimate on a line that is invalid anyway).
    """
    if line.count("[") + line.count("{") <= limit:
        return False
    depth = 0
    for char in _JSON_STRING.sub('""', line):
        if char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def decode_line(line: str, line_no: int) -> dict[str, Any]:
    """Decode one JSONL line into an object, or raise a FormatError saying why not.

    Refused besides invalid JSON: nesting deeper than ``MAX_NESTING``, ``NaN``/``Infinity`` and
    numbers that overflow (they cannot be stored in a JSON column), integers longer than Python's
    digit limit.
    """
    if _nesting_depth_exceeds(line, MAX_NESTING):
        raise FormatError(f"JSON nested deeper than {MAX_NESTING} levels", line_no=line_no)
    try:
        value = json.loads(line, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise FormatError(f"invalid JSON ({exc.msg} at column {exc.colno})", line_no=line_no) from None
    except (ValueError, RecursionError) as exc:  # int digit limit, NaN/Infinity, overflowing floats
        raise FormatError(f"invalid JSON ({exc})", line_no=line_no) from None
    if not isinstance(value, dict):
        raise FormatError(f"expected a JSON object, got {json_type(value)}", line_no=line_no)
    if "\\u" in line:  # only a \u escape can bring a lone surrogate or a NUL into a decoded line
        _refuse_unstorable_text(value, line_no)
    return value


#: Characters a JSON escape can produce that no database text column takes (issue 9 item 3): UTF-16
#: surrogates cannot be encoded as UTF-8, PostgreSQL text cannot hold NUL.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _refuse_unstorable_text(value: Any, line_no: int, field: str = "") -> None:
    """Raise a FormatError naming the first string (or key) under ``value`` with an unstorable character."""
    if isinstance(value, str):
        found = _UNSTORABLE.search(value)
        if found:
            what = "a NUL character" if found[0] == "\x00" else f"a lone UTF-16 surrogate (U+{ord(found[0]):04X})"
            raise FormatError(f"holds {what} at character {found.start()}: not storable text",
                              line_no=line_no, field=field or None)  # fmt: skip
    elif isinstance(value, dict):
        for key, item in value.items():
            path = f"{field}.{ascii(key)[1:-1]}" if field else ascii(key)[1:-1]
            _refuse_unstorable_text(key, line_no, path)  # a key is named by its own (escaped) path
            _refuse_unstorable_text(item, line_no, path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_unstorable_text(item, line_no, f"{field}[{index}]")


def read_records(fp: TextIO, parse_record: RecordParser) -> Iterator[ParsedTrace | FormatError]:
    """Stream a JSONL file through a format's record parser.

    Yields parsed traces, and a FormatError in place of each line that could not be read, so the
    caller decides between an atomic import (stop at the first error) and ``--skip-invalid``.
    A file whose first non-blank character is ``[`` is read as one JSON array (the original
    ProcessBench layout; item k counts as line k); that case is not streamed. A leading UTF-8 byte
    order mark is skipped.
    """
    _skip_byte_order_mark(fp)
    first = _peek_first_char(fp)
    lines: Iterator[tuple[int, str]]
    if first == "[":
        lines = _array_items(fp)
    else:
        lines = ((n, line) for n, line in enumerate(fp, start=1) if line.strip())
    for line_no, line in lines:
        try:
            traces = parse_record(decode_line(line, line_no), line_no)
            for trace in traces:
                check_field_lengths(trace)
            yield from traces
        except FormatError as error:
            error.line_no = error.line_no or line_no
            yield error


def _skip_byte_order_mark(fp: TextIO) -> None:
    position = fp.tell()
    if fp.read(1) != "\ufeff":
        fp.seek(position)


def _peek_first_char(fp: TextIO) -> str:
    position = fp.tell()
    chunk = fp.read(4096).lstrip(" \t\r\n")
    fp.seek(position)
    return chunk[:1]


def _array_items(fp: TextIO) -> Iterator[tuple[int, str]]:
    try:
        items = json.load(fp)
    except json.JSONDecodeError as exc:
        raise FormatError(f"invalid JSON array ({exc.msg} at line {exc.lineno})", line_no=exc.lineno) from None
    except (ValueError, RecursionError) as exc:  # int digit limit, nesting beyond the recursion limit
        raise FormatError(f"invalid JSON array ({exc})") from None
    for index, item in enumerate(items, start=1):
        yield index, json.dumps(item)


# --- Field access with errors that name the field -------------------------------------------------


def require_str(record: dict[str, Any], key: str, line_no: int, *, allow_empty: bool = False) -> str:
    """``record[key]`` as a string, or a FormatError naming the field."""
    if key not in record:
        raise FormatError("missing required field", line_no=line_no, field=key)
    value = record[key]
    if not isinstance(value, str):
        raise FormatError(f"expected a string, got {json_type(value)}", line_no=line_no, field=key)
    if not allow_empty and not value.strip():
        raise FormatError("must not be empty", line_no=line_no, field=key)
    return value


def optional_str(record: dict[str, Any], key: str, line_no: int) -> str:
    """``record[key]`` as a string ("" when absent or null; numbers are accepted and stringified)."""
    value = record.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise FormatError(f"expected a string, got {json_type(value)}", line_no=line_no, field=key)
    return str(value)


def require_list(record: dict[str, Any], key: str, line_no: int) -> list[Any]:
    """``record[key]`` as a list, or a FormatError naming the field."""
    if key not in record:
        raise FormatError("missing required field", line_no=line_no, field=key)
    value = record[key]
    if not isinstance(value, list):
        raise FormatError(f"expected a list, got {json_type(value)}", line_no=line_no, field=key)
    return value


# --- Value checks for nested fields (the field is a dotted path, e.g. ``label.steps[3].rating``) ---

#: The step-label values of SPEC §1 (PRM800K semantics).
RATINGS = (-1, 0, 1)


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def expect_str(value: Any, line_no: int, field: str, *, allow_empty: bool = True) -> str:
    """``value`` as a string (blank refused unless ``allow_empty``), or a FormatError naming ``field``."""
    if not isinstance(value, str):
        raise FormatError(f"expected a string, got {json_type(value)}", line_no=line_no, field=field)
    if not allow_empty and not value.strip():
        raise FormatError("must not be empty", line_no=line_no, field=field)
    return value


def expect_dict(value: Any, line_no: int, field: str) -> dict[str, Any]:
    """``value`` as a JSON object, or a FormatError naming ``field``."""
    if not isinstance(value, dict):
        raise FormatError(f"expected an object, got {json_type(value)}", line_no=line_no, field=field)
    return value


def expect_list(value: Any, line_no: int, field: str) -> list[Any]:
    """``value`` as a JSON array, or a FormatError naming ``field``."""
    if not isinstance(value, list):
        raise FormatError(f"expected a list, got {json_type(value)}", line_no=line_no, field=field)
    return value


def expect_int(value: Any, line_no: int, field: str, *, nullable: bool = False) -> int | None:
    """``value`` as an integer (booleans refused; None only if ``nullable``)."""
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        wanted = "an integer or null" if nullable else "an integer"
        raise FormatError(f"expected {wanted}, got {json_type(value)}", line_no=line_no, field=field)
    return value


def expect_optional_bool(value: Any, line_no: int, field: str) -> bool | None:
    """``value`` as true/false/null, or a FormatError naming ``field``."""
    if value is None or isinstance(value, bool):
        return value
    raise FormatError(f"expected true, false or null, got {json_type(value)}", line_no=line_no, field=field)


def expect_rating(value: Any, line_no: int, field: str, *, allow_bool: bool = False) -> int | None:
    """A step label: −1, 0, +1 or null (SPEC §1); with ``allow_bool`` true → +1 and false → −1."""
    if value is None:
        return None
    if isinstance(value, bool):
        if allow_bool:
            return 1 if value else -1
        raise FormatError(f"expected -1, 0, 1 or null, got {json_type(value)}", line_no=line_no, field=field)
    if isinstance(value, int) and value in RATINGS:
        return value
    wanted = "-1, 0, 1, true, false or null" if allow_bool else "-1, 0, 1 or null"
    shown = repr(value) if isinstance(value, (int, float)) else json_type(value)
    raise FormatError(f"expected {wanted}, got {shown}", line_no=line_no, field=field)


def extra_fields(record: dict[str, Any], known: frozenset[str] | set[str]) -> dict[str, Any]:
    """The record's fields that a format does not read, in file order (kept in ``meta``)."""
    return {key: value for key, value in record.items() if key not in known}
