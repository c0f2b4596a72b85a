"""Import a file of traces into a project (SPEC §2; issue: importers).

An import is atomic: the first bad line aborts it and nothing is written, except a failed import
Run that records the error. With ``skip_invalid`` the valid lines are imported and every skipped
line is reported with its line number, field and reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from traces.actions.store import StoreReport, store_traces
from traces.formats import get_parser
from traces.formats.base import FormatError, ParsedTrace, RecordParser, read_records
from traces.models import Project, Run, RunKind, RunStatus

#: How many skipped lines an import report lists in full (the count is always exact).
MAX_REPORTED_SKIPS = 1000


class ImportFailed(Exception):
    """An atomic import stopped at a bad line; ``run`` is the failed import Run that records it."""

    def __init__(self, error: FormatError | UnicodeDecodeError | OSError, run: Run):
        self.error = error
        self.run = run
        super().__init__(str(error))


@dataclass
class ImportResult:
    run: Run
    store: StoreReport
    skipped: list[FormatError]
    skipped_count: int


def _valid_records(
    path: Path, parser: RecordParser, skip_invalid: bool, skipped: list[FormatError]
) -> Iterator[ParsedTrace]:
    with path.open(encoding="utf-8", newline="") as fp:
        for record in read_records(fp, parser):
            if isinstance(record, FormatError):
                record.path = str(path)
                if not skip_invalid:
                    raise record
                skipped.append(record)
                continue
            yield record


def do_import(
    project: Project,
    path: Path,
    fmt: str,
    *,
    skip_invalid: bool = False,
    user: AbstractBaseUser | None = None,
    run: Run | None = None,
    step_separator: str | None = None,
) -> ImportResult:
    """Import ``path`` in format ``fmt`` into ``project`` as one import Run.

    ``step_separator`` overrides the separator of formats that take one (TRL), and is recorded in
    the Run's params. Raises ImportFailed (after recording a failed Run) when a line is bad and
    ``skip_invalid`` is off, or when the file cannot be decoded as UTF-8; the database then holds
    none of the file's traces.
    """
    parser = get_parser(fmt, step_separator=step_separator)  # a bad format fails before anything is written
    existed = run is not None and run.pk is not None
    run = run or Run(project=project, kind=RunKind.IMPORT, name=path.name, source_file=str(path), source_format=fmt)
    if step_separator is not None:
        run.params = {**run.params, "step_separator": step_separator}
    run.created_by = run.created_by or user  # type: ignore[assignment]
    run.started_at = timezone.now()
    skipped: list[FormatError] = []
    try:
        with transaction.atomic():
            run.status = RunStatus.RUNNING
            run.save()
            report = store_traces(project, run, _valid_records(path, parser, skip_invalid, skipped))
            _finish(run, RunStatus.SUCCEEDED, report, skipped)
    except (FormatError, UnicodeDecodeError) as error:
        if isinstance(error, UnicodeDecodeError):
            error = _undecodable(path, error)
        failed = _record_failure(run, error, existed)
        raise ImportFailed(error, failed) from None
    return ImportResult(run=run, store=report, skipped=skipped[:MAX_REPORTED_SKIPS], skipped_count=len(skipped))


def _undecodable(path: Path, error: UnicodeDecodeError) -> FormatError:
    """A FormatError naming the first line that is not UTF-8 and the byte in it (the decoder's own
    offset counts from the chunk it was reading, not from the file)."""
    with path.open("rb") as fp:
        for line_no, line in enumerate(fp, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as bad:
                return FormatError(f"not UTF-8 text ({bad.reason} at byte {bad.start + 1} of the line)",
                                   line_no=line_no, path=str(path))  # fmt: skip
    return FormatError(f"not UTF-8 text ({error.reason})", path=str(path))


def _finish(run: Run, status: str, report: StoreReport, skipped: list[FormatError]) -> None:
    run.status = status
    run.finished_at = timezone.now()
    run.progress_done = run.progress_total = report.traces_created + report.duplicates_skipped
    run.report = {
        **report.as_dict(),
        "skipped_count": len(skipped),
        "skipped": [
            {"line": e.line_no, "field": e.field, "message": e.message} for e in skipped[:MAX_REPORTED_SKIPS]
        ],
    }
    run.save()


def _record_failure(run: Run, error: FormatError, existed: bool) -> Run:
    """After the rollback, keep a failed Run so people see what went wrong (and nothing else)."""
    if not existed:  # the rollback removed the row this call created: write it anew
        run.pk = None
        run._state.adding = True
    run.status = RunStatus.FAILED
    run.error = str(error)
    run.finished_at = timezone.now()
    run.report = {"error": {"line": error.line_no, "field": error.field, "message": error.message}}
    run.save()
    return run


def do_enqueue_import(
    project: Project, path: Path, fmt: str, *, skip_invalid: bool = False, user: AbstractBaseUser | None = None
) -> Run:
    """Queue an import as a job on the `default` worker queue; the Run row carries its status."""
    from workers.tasks import import_file

    get_parser(fmt)
    with transaction.atomic():
        run = Run.objects.create(
            project=project,
            kind=RunKind.IMPORT,
            name=path.name,
            source_file=str(path),
            source_format=fmt,
            params={"skip_invalid": skip_invalid},
            created_by=user,
        )
        transaction.on_commit(lambda: import_file.delay(run.pk))
    return run
