"""What every format reader yields (docs/concepts.md §2), and how a bad line is reported.

A format is one module in ``traces/formats/`` exposing ``NAME`` and
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

import ijson
from ijson.backends import python as ijson_python

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
    # The text is a person's, not the model's (PRM800K's human_completion); see traces.exports.policy.
    human_written: bool = False


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
    # Only a \u escape can bring a lone surrogate or a NUL into a decoded line.
    return _checked_record(value, line_no, escaped="\\u" in line)


def _checked_record(value: Any, line_no: int, *, escaped: bool = True) -> dict[str, Any]:
    """``value`` if it is a JSON object whose text a database can store, else a FormatError.

    ``escaped=False`` says its source held no ``\\u`` escape, so no string needs scanning.
    """
    if not isinstance(value, dict):
        raise FormatError(f"expected a JSON object, got {json_type(value)}", line_no=line_no)
    if escaped:
        _refuse_unstorable_text(value, line_no)
    return value


#: Characters a JSON escape can produce that no database text column takes: UTF-16
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
    ProcessBench layout; item k counts as line k), streamed item by item like the lines of a JSONL
    file. A leading UTF-8 byte order mark is skipped.
    """
    _skip_byte_order_mark(fp)
    records = _array_records(fp) if _peek_first_char(fp) == "[" else _line_records(fp)
    for line_no, record in records:
        try:
            if isinstance(record, FormatError):
                raise record
            traces = parse_record(record, line_no)
            for trace in traces:
                check_field_lengths(trace)
            yield from traces
        except FormatError as error:
            error.line_no = error.line_no or line_no
            yield error


#: A decoded record, or the error that kept its line from decoding.
Decoded = dict[str, Any] | FormatError


def _line_records(fp: TextIO) -> Iterator[tuple[int, Decoded]]:
    """The non-blank lines of a JSONL file, decoded (blank lines are counted, not read)."""
    for line_no, line in enumerate(fp, start=1):
        if line.strip():
            try:
                yield line_no, decode_line(line, line_no)
            except FormatError as error:
                yield line_no, error


def _skip_byte_order_mark(fp: TextIO) -> None:
    position = fp.tell()
    if fp.read(1) != "\ufeff":
        fp.seek(position)


def _peek_first_char(fp: TextIO) -> str:
    position = fp.tell()
    chunk = fp.read(4096).lstrip(" \t\r\n")
    fp.seek(position)
    return chunk[:1]


# --- JSON-array files, streamed ------------------------------------------------------------------


class _Utf8Bytes:
    """A text stream read as UTF-8 bytes: what ijson's parsers take."""

    def __init__(self, fp: TextIO):
        self.fp = fp

    def read(self, size: int = -1) -> bytes:
        return self.fp.read(size).encode("utf-8", "surrogatepass")


def _array_records(fp: TextIO) -> Iterator[tuple[int, Decoded]]:
    """The items of a file holding one JSON array, decoded one at a time (item k is line k).

    Memory holds one item, never the array. An item that is not an object or nests too deep is an
    error of its own line; JSON that cannot be read stops the file with a FormatError naming the
    item it was in. ijson's pure-Python parser is used on purpose: its C parser turns a lone UTF-16
    surrogate escape into ``?`` and refuses integers beyond 64 bits, where ``json`` (the JSONL path)
    keeps them or names them.
    """
    events = ijson_python.basic_parse(_Utf8Bytes(fp), use_float=True)
    item_no = 0
    try:
        next(events)  # the array's opening bracket (the caller saw it)
        for event, value in events:
            if event == "end_array":
                break
            item_no += 1
            try:
                item = _array_item(event, value, events, item_no)
            except ijson.JSONError as exc:
                raise _unreadable(exc, item_no) from None
            yield item_no, item
        for _ in events:  # raises on anything after the closing bracket
            pass
    except ijson.JSONError as exc:  # between items: the next one could not start
        raise _unreadable(exc, item_no + 1) from None


def _unreadable(exc: ijson.JSONError, item_no: int) -> FormatError:
    """The error that stops a JSON-array file, naming the item being read (as its line)."""
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return FormatError(f"invalid JSON array ({reason})", line_no=item_no)


class _TooDeep(Exception):
    """An array item nests deeper than ``MAX_NESTING`` (its remaining events were consumed)."""


Events = Iterator[tuple[str, Any]]


def _array_item(event: str, value: Any, events: Events, item_no: int) -> Decoded:
    """The array item that starts with ``(event, value)`` as a record, or the FormatError saying
    why it is not one."""
    try:
        return _checked_record(_item_value(event, value, events), item_no)
    except _TooDeep:
        return FormatError(f"JSON nested deeper than {MAX_NESTING} levels", line_no=item_no)
    except FormatError as error:
        return error


def _item_value(event: str, value: Any, events: Events) -> Any:
    """Build the value that starts with ``(event, value)`` from ijson's events, without recursion;
    _TooDeep past ``MAX_NESTING`` levels."""
    if event not in ("start_map", "start_array"):
        return value
    root: Any = {} if event == "start_map" else []
    stack: list[Any] = [root]
    key = ""
    for event, value in events:
        if event in ("end_map", "end_array"):
            stack.pop()
            if not stack:
                return root
            continue
        if event == "map_key":
            key = value
            continue
        child = {} if event == "start_map" else [] if event == "start_array" else value
        parent = stack[-1]
        if isinstance(parent, dict):
            parent[key] = child
        else:
            parent.append(child)
        if event in ("start_map", "start_array"):
            stack.append(child)
            if len(stack) > MAX_NESTING:
                _skip_container(events, len(stack))
                raise _TooDeep
    raise ijson.IncompleteJSONError("Incomplete JSON content")


def _skip_container(events: Events, depth: int) -> None:
    """Consume the events of ``depth`` open containers, keeping none of their values."""
    for event, _ in events:
        if event in ("start_map", "start_array"):
            depth += 1
        elif event in ("end_map", "end_array"):
            depth -= 1
            if depth == 0:
                return
    raise ijson.IncompleteJSONError("Incomplete JSON content")


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

#: The step-label values of docs/concepts.md §1 (PRM800K semantics).
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
    """A step label: −1, 0, +1 or null (docs/concepts.md §1); with ``allow_bool`` true → +1 and false → −1."""
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
