"""Fuzzing whole-file imports (issue 9 item 3): real sample lines, one of them broken.

``test_hostile_input`` drives each format's reader line by line; here the whole writer path runs
(``do_import``: read, store, atomic transaction) on files made of real records from
``../shared/data`` with one line broken by hypothesis: truncated, not UTF-8 (invalid bytes, Latin-1),
a field of the wrong type, a huge field, nesting thousands of levels deep, or a duplicate of another
line. The import either succeeds or raises ImportFailed naming the file and the broken line (and
the field where there is one), with the database as it was before, but for the failed Run that
records the error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient
from test_hostile_input import JSON_VALUES, real_record

from traces.actions.imports import ImportFailed, do_import
from traces.formats import FORMAT_NAMES
from traces.models import Label, Membership, Problem, Project, Role, Run, RunStatus, Step, Trace

pytestmark = pytest.mark.django_db

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
MUTATIONS = ["truncate", "invalid-utf8", "latin1", "wrong-type", "huge-field", "deep-nesting", "duplicate"]
HUGE = 300_000  # characters: a long trace, short enough for a property test


def row_counts() -> tuple[int, ...]:
    return tuple(model.objects.count() for model in (Trace, Step, Label, Problem))


def mutate(record: dict[str, Any], mutation: str, data: st.DataObject) -> bytes:
    """The bytes of one broken line (no newline)."""
    line = json.dumps(record, ensure_ascii=False)
    if mutation == "truncate":
        return line.encode()[: data.draw(st.integers(0, len(line.encode()) - 1))]
    if mutation == "invalid-utf8":
        at = data.draw(st.integers(0, len(line.encode())))
        return (
            line.encode()[:at]
            + data.draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80"]))
            + line.encode()[at:]
        )
    if mutation == "latin1":
        return line.replace('"', '"é', 1).encode("latin-1", errors="replace")
    key = data.draw(st.sampled_from(sorted(record)))
    if mutation == "wrong-type":
        return json.dumps({**record, key: data.draw(JSON_VALUES)}).encode()
    if mutation == "huge-field":
        return json.dumps({**record, key: "x" * HUGE}).encode()
    if mutation == "deep-nesting":
        depth = data.draw(st.integers(100, 50_000))
        return json.dumps({**record, key: None})[:-1].encode() + b', "deep": ' + b"[" * depth + b"]" * depth + b"}"
    raise AssertionError(mutation)


@pytest.fixture
def fuzz_project(db) -> Project:
    return Project.objects.create(name="Fuzz", slug="fuzz")


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
@FUZZ
@given(data=st.data())
def test_one_broken_line_fails_the_whole_file_cleanly(
    shared_data: Path, tmp_path_factory: pytest.TempPathFactory, fuzz_project: Project, fmt: str, data: st.DataObject
) -> None:
    good = json.dumps(real_record(shared_data, fmt)).encode()
    mutation = data.draw(st.sampled_from(MUTATIONS))
    broken = good if mutation == "duplicate" else mutate(real_record(shared_data, fmt), mutation, data)
    at = data.draw(st.integers(1, 3))  # the broken line's number (1-based) among three good ones
    lines = [good] * 3
    lines.insert(at - 1, broken)
    path = tmp_path_factory.mktemp("fuzz") / f"{fmt}-{mutation}.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    before, runs_before = row_counts(), Run.objects.count()
    try:
        result = do_import(fuzz_project, path, fmt)
    except ImportFailed as failed:
        message = str(failed)
        assert message.startswith(f"{path}, line {at}"), message
        assert row_counts() == before, "a failed import left rows behind"
        assert Run.objects.count() == runs_before + 1 and failed.run.status == RunStatus.FAILED
        assert failed.run.error == path.name + message.removeprefix(str(path))  # the name, not the server path
        if mutation in ("invalid-utf8", "latin1"):
            assert "not UTF-8" in message
        return
    assert mutation not in ("invalid-utf8", "latin1", "deep-nesting"), f"{mutation} was imported"
    assert result.run.status == RunStatus.SUCCEEDED
    if mutation == "duplicate":  # four copies of one record: stored once, the rest skipped as duplicates
        assert result.store.duplicates_skipped >= 3 and row_counts()[0] - before[0] == result.store.traces_created


def test_a_wrong_type_names_the_field(tmp_path: Path, fuzz_project: Project) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "p", "completion": "c"}\n{"prompt": ["not", "text"], "completion": "c"}\n')
    with pytest.raises(ImportFailed, match=rf"^{path}, line 2, field 'prompt': expected a string, got array"):
        do_import(fuzz_project, path, "jsonl")
    assert not Trace.objects.exists()


def test_bytes_that_are_not_utf8_name_the_line_and_byte(tmp_path: Path, fuzz_project: Project) -> None:
    path = tmp_path / "latin1.jsonl"
    good = '{"prompt": "p%d", "completion": "c"}\n'
    path.write_bytes(b"".join((good % i).encode() for i in range(5000)) + '{"prompt": "café"}\n'.encode("latin-1"))
    with pytest.raises(
        ImportFailed, match=rf"^{path}, line 5001: not UTF-8 text \(invalid continuation byte at byte 16"
    ):
        do_import(fuzz_project, path, "jsonl")
    assert not Trace.objects.exists()


# --- Upload size limit (THINKSCOPE_MAX_UPLOAD_BYTES) ---------------------------------------------------------


def test_an_upload_over_the_limit_is_refused_with_a_clear_message(settings, make_user, fuzz_project) -> None:
    settings.THINKSCOPE_MAX_UPLOAD_BYTES = 1000
    user = make_user("uploader")
    Membership.objects.create(project=fuzz_project, user=user, role=Role.REVIEWER)
    client = APIClient()
    client.force_authenticate(user)
    big = SimpleUploadedFile("big.jsonl", b'{"prompt": "p", "completion": "' + b"x" * 2000 + b'"}\n')
    response = client.post("/api/imports/", {"project": "fuzz", "format": "jsonl", "file": big})
    assert response.status_code == 413
    assert response.json() == {"file": "file is 2034 bytes; the limit is 1000"}
    assert not Run.objects.exists()


def test_an_upload_declaring_a_length_over_the_limit_is_refused_before_its_body_is_read(
    settings, make_user, fuzz_project
) -> None:
    settings.THINKSCOPE_MAX_UPLOAD_BYTES = 1000
    user = make_user("uploader")
    Membership.objects.create(project=fuzz_project, user=user, role=Role.REVIEWER)
    client = APIClient()
    client.force_authenticate(user)
    # The declared length is all that is read: the body is never parsed (here it is not even multipart).
    response = client.generic(
        "POST", "/api/imports/", b"x" * 10, content_type="multipart/form-data; boundary=b", CONTENT_LENGTH="900000"
    )
    assert response.status_code == 413
    assert response.json() == {"file": "the request is 900000 bytes; files are limited to 1000 bytes"}
    assert not Run.objects.exists()


@pytest.mark.parametrize(
    ("fmt", "field", "what", "limit"),
    [("processbench", "generator", "model name", 200), ("jsonl", "problem_id", "problem id", 200),
     ("jsonl", "split", "split", 50)],
)  # fmt: skip
def test_an_overlong_short_field_names_the_line_on_every_database(
    shared_data: Path, tmp_path: Path, fuzz_project: Project, fmt: str, field: str, what: str, limit: int
) -> None:
    """PostgreSQL refuses a value wider than its column; the reader says so first (found by the fuzz test)."""
    good = real_record(shared_data, fmt)
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, field: "x" * (limit + 1)}) + "\n")
    before = row_counts()
    expected = rf"^{path}, line 2: the {what} is {limit + 1} characters long; at most {limit} are stored$"
    with pytest.raises(ImportFailed, match=expected):
        do_import(fuzz_project, path, fmt)
    assert row_counts() == before


def test_the_field_limits_are_the_column_widths() -> None:
    from traces.formats.base import FIELD_LIMITS
    from traces.models import LanguageModel

    widths = {"model_name": LanguageModel._meta.get_field("name").max_length}
    widths |= {name: Problem._meta.get_field(column).max_length
               for name, column in (("source", "source"), ("split", "split"), ("problem_id", "external_id"))}  # fmt: skip
    assert FIELD_LIMITS == widths
