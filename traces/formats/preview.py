"""A file's first records as an import would read them, before anything is stored (the import page).

``preview_records`` streams a file through a format's parser, exactly as ``read_records`` feeds an
import, and describes its first records as the trace builder will store them: where the problem
starts, the reference answer, the model, the number of steps, the think/answer split and the labels
the file brings. It also reports the first line that cannot be read, looking ``CHECKED_LINES`` lines
deep, so a person sees a bad line before the import refuses the file for it. ``count_records``
counts a file's records without parsing them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, TextIO

from traces.formats.base import FormatError, ParsedTrace, RecordParser, read_records
from traces.trace_builder import build_trace_fields

#: How many records a preview shows.
PREVIEW_RECORDS = 5
#: How many lines a preview reads looking for one that cannot be read.
CHECKED_LINES = 200
#: How much of a problem's text a preview row shows.
PROBLEM_CHARS = 160

_RATING_NAMES = {1: "+1", 0: "0", -1: "−1"}


@dataclass(frozen=True)
class PreviewRow:
    """One record as it will be stored."""

    line_no: int
    problem: str
    reference_answer: str
    model: str
    steps: int
    think_tokens: int | None  # None: the completion has no think part
    answer_tokens: int
    think_closed: bool
    final_answer: str
    labels: tuple[str, ...]  # the labels the file brings, in words


@dataclass(frozen=True)
class FilePreview:
    """The first records of a file, the first error within ``lines_read`` lines, and whether that
    was the whole file."""

    rows: list[PreviewRow]
    error: FormatError | None
    lines_read: int
    whole_file: bool


def preview_records(
    fp: TextIO,
    parser: RecordParser,
    limit: int = PREVIEW_RECORDS,
    prepare: Callable[[ParsedTrace], ParsedTrace] | None = None,
) -> FilePreview:
    """Read ``fp`` with ``parser`` until ``limit`` records are shown and either a bad line is found
    or ``CHECKED_LINES`` lines were read (or the file ends). ``prepare`` readies each record as the
    import will (its think format, ``traces.actions.think_formats``)."""
    rows: list[PreviewRow] = []
    error: FormatError | None = None
    line_no = 0
    records = _records(fp, parser)
    for record in records:
        line_no = record.line_no or line_no
        if isinstance(record, FormatError):
            error = error or record
        elif len(rows) < limit:
            rows.append(preview_row(prepare(record) if prepare else record))
        if len(rows) >= limit and (error is not None or line_no >= CHECKED_LINES):
            return FilePreview(rows, error, line_no, whole_file=next(records, None) is None)
    return FilePreview(rows, error, line_no, whole_file=True)


def _records(fp: TextIO, parser: RecordParser) -> Iterator[ParsedTrace | FormatError]:
    """``read_records``, with an error that stops the whole file (a broken JSON array) as its last item."""
    try:
        yield from read_records(fp, parser)
    except FormatError as fatal:
        yield fatal


def preview_row(parsed: ParsedTrace) -> PreviewRow:
    """``parsed`` as the trace builder stores it: its think/answer split, its steps, its answer."""
    built = build_trace_fields(parsed)
    has_think = built.think_end > built.think_start
    return PreviewRow(
        line_no=parsed.line_no,
        problem=_shortened(parsed.prompt.strip(), PROBLEM_CHARS),
        reference_answer=parsed.reference_answer,
        model=parsed.model_name,
        steps=len(built.steps),
        think_tokens=built.think_tokens if has_think else None,
        answer_tokens=built.answer_tokens,
        think_closed=built.think_closed,
        final_answer=built.final_answer,
        labels=labels_in_words(parsed),
    )


def labels_in_words(parsed: ParsedTrace) -> tuple[str, ...]:
    """The labels a record brings: its step ratings by value, its first error, its own verdict."""
    words = []
    ratings = Counter(step.label for step in parsed.steps or [] if step.label is not None)
    if ratings:
        counts = ", ".join(f"{_RATING_NAMES[value]} ×{ratings[value]}" for value in (1, 0, -1) if ratings[value])
        words.append(f"{sum(ratings.values())} step labels ({counts})")
    if parsed.first_error is not None:
        words.append("no wrong step" if parsed.first_error < 0 else f"first error at step {parsed.first_error + 1}")
    if parsed.is_correct is not None:
        words.append("answer marked right" if parsed.is_correct else "answer marked wrong")
    return tuple(words)


def _shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def count_records(fp: BinaryIO) -> int | None:
    """How many non-blank lines a JSONL file has, streamed line by line without parsing; None for a
    file holding one JSON array (its items are not lines, and counting them means parsing it)."""
    if fp.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"[":
        return None
    fp.seek(0)
    return sum(1 for line in fp if line.strip())
