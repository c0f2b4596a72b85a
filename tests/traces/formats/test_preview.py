"""The import preview (``traces/formats/preview.py``): a file's first records as they will be stored,
its first bad line within the lines checked, and its line count, read without a database."""

from __future__ import annotations

import io
import json

from traces.formats import get_parser
from traces.formats.preview import CHECKED_LINES, PREVIEW_RECORDS, count_records, preview_records

GOOD = {"prompt": "What is 2+3?", "completion": "<think>2+3 is 5.</think>The answer is 5.", "reference_answer": "5"}
BAD = {"prompt": 7, "completion": "x"}


def lines(*records: dict[str, object]) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


def test_the_first_records_read_as_they_will_be_stored() -> None:
    preview = preview_records(io.StringIO(lines(GOOD, {**GOOD, "model": "m", "is_correct": False})), get_parser("jsonl"))

    first, second = preview.rows
    assert (first.line_no, first.problem, first.reference_answer, first.model) == (1, "What is 2+3?", "5", "unknown")
    assert first.think_tokens and first.think_closed and first.final_answer == "5" and first.labels == ()
    assert second.model == "m" and second.labels == ("answer marked wrong",)
    assert preview.error is None and preview.whole_file


def test_a_bad_line_after_the_shown_records_is_found_and_reading_stops_there() -> None:
    text = lines(*[GOOD] * (PREVIEW_RECORDS + 1), BAD, *[GOOD] * 3)

    preview = preview_records(io.StringIO(text), get_parser("jsonl"))

    assert len(preview.rows) == PREVIEW_RECORDS
    assert preview.error is not None and (preview.error.line_no, preview.error.field) == (PREVIEW_RECORDS + 2, "prompt")
    assert not preview.whole_file and preview.lines_read == PREVIEW_RECORDS + 2


def test_a_preview_checks_a_bounded_number_of_lines() -> None:
    text = lines(*[GOOD] * CHECKED_LINES, BAD)

    preview = preview_records(io.StringIO(text), get_parser("jsonl"))

    assert preview.error is None and preview.lines_read == CHECKED_LINES and not preview.whole_file


def test_a_json_array_previews_item_by_item_and_a_broken_one_names_its_item() -> None:
    item = {"id": "math-1", "generator": "g", "problem": "p", "steps": ["a", "b"], "label": -1}
    preview = preview_records(io.StringIO(json.dumps([item, item])), get_parser("processbench"))
    assert [row.line_no for row in preview.rows] == [1, 2] and preview.rows[0].labels == ("2 step labels (+1 ×2)", "no wrong step")

    broken = preview_records(io.StringIO(json.dumps([item])[:-1] + ", {"), get_parser("processbench"))
    assert len(broken.rows) == 1 and broken.error is not None and broken.error.line_no == 2


def test_lines_are_counted_without_parsing_and_an_array_is_not() -> None:
    assert count_records(io.BytesIO(b'{"a": 1}\n\n  \n{"b": 2}\n{"c": 3}')) == 3
    assert count_records(io.BytesIO(b"\xef\xbb\xbf  [{}, {}]")) is None
