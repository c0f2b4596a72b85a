"""Import a file of traces into a project (docs/concepts.md §2; issue: importers).

An import is atomic: the first bad line aborts it and nothing is written, except the import Run
that records the error. With ``skip_invalid`` the valid lines are imported and every skipped line
is reported with its line number, field and reason.

The Run says where the job is at every moment: ``running`` is committed before the file is read;
the traces and their counts commit together; when the import analyses its traces (the worker and
the CLI do), the Run stays ``running`` until every trace is analysed, with the analysis progress in
``report["analysis"]``, and succeeds only then. A lost database connection is left to the caller
to retry (the worker does, on a new connection: the import starts again, or the analysis resumes
after its last committed batch); anything else fails the Run with the error's text. Errors stored
on the Run name the file by its name only, never by its path on the server. An uploaded file is
deleted as soon as its traces are committed (``traces/actions/uploads.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from traces import jobs
from traces.actions.analysis import Progress, analyze_traces, needing_analysis
from traces.actions.runs import ACTIVE, DATABASE_GONE, error_text, fail_run
from traces.actions.store import StoreReport, store_traces
from traces.actions.think_formats import AUTO, FormatPlan, check_choice, plan_think_formats
from traces.actions.uploads import discard_upload, sweep_uploads
from traces.formats import get_parser
from traces.formats.base import FormatError, ParsedTrace, RecordParser, read_records
from traces.formats.preview import CHECKED_LINES, FilePreview, count_records, preview_records
from traces.models import Project, Run, RunKind, RunStatus, Trace

#: How many skipped lines an import report lists in full (the count is always exact).
MAX_REPORTED_SKIPS = 1000

#: Attempts at storing a file while other imports commit the same problems or traces.
STORE_ATTEMPTS = 3


class ImportFailed(Exception):
    """An atomic import stopped at a bad line; ``run`` is the failed import Run that records it."""

    def __init__(self, error: FormatError, run: Run):
        self.error = error
        self.run = run
        super().__init__(str(error))


@dataclass
class ImportResult:
    run: Run
    store: StoreReport
    skipped: list[FormatError]
    skipped_count: int
    analysed: int = 0


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
    user: User | None = None,
    run: Run | None = None,
    step_separator: str | None = None,
    think_format: str | None = None,
    analyze: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """Import ``path`` in format ``fmt`` into ``project`` as one import Run; with ``analyze``, then
    analyse the new traces (``progress`` is told each batch) before the Run succeeds.

    ``step_separator`` overrides the separator of formats that take one (TRL), and is recorded in
    the Run's params. ``think_format`` reads every trace with that think format; without it (or
    ``auto``) each model's format is decided once from its traces in the file
    (``traces.actions.think_formats``), and the Run's report says per model which and why.

    Raises ImportFailed (after recording a failed Run) when a line is bad and ``skip_invalid`` is
    off, or when the file cannot be read or decoded as UTF-8; the database then holds none of the
    file's traces. A lost database connection (``DATABASE_GONE``) propagates with the Run left
    ``running``; any other error fails the Run with its text, then propagates.
    """
    parser = get_parser(fmt, step_separator=step_separator)  # a bad format fails before anything is written
    think_format = check_choice(think_format)
    run = run or new_import_run(project, path, fmt)
    if step_separator is not None:
        run.params = {**run.params, "step_separator": step_separator}
    if think_format != AUTO:
        run.params = {**run.params, "think_format": think_format}
    run.created_by = run.created_by or user
    _mark_running(run)
    skipped: list[FormatError] = []
    try:
        plan = plan_think_formats(project, _valid_records(path, parser, skip_invalid, []), think_format)
        report = _store_file(project, run, path, parser, plan, skipped, skip_invalid, analyze)
    except (FormatError, UnicodeDecodeError, OSError) as error:
        failure = _as_format_error(path, error)
        _record_failure(run, failure)
        raise ImportFailed(failure, run) from None
    except DATABASE_GONE:
        raise
    except Exception as error:
        fail_run(run.pk, error)
        raise
    discard_upload(path)
    analysed = analyze_import(run, progress) if analyze else 0
    return ImportResult(
        run=run, store=report, skipped=skipped[:MAX_REPORTED_SKIPS], skipped_count=len(skipped), analysed=analysed
    )


def new_import_run(project: Project, path: Path, fmt: str) -> Run:
    """The (unsaved) Run of importing ``path``: ``do_import`` saves it, ``running``, before reading the file."""
    return Run(project=project, kind=RunKind.IMPORT, name=path.name, source_file=str(path), source_format=fmt)


def source_name(run: Run) -> str:
    """The imported file as pages and the API show it: its name, never its path on the server."""
    return Path(run.source_file).name


def _mark_running(run: Run) -> None:
    """Commit the Run as ``running`` before any work, so its page shows it while the file is read."""
    run.status = RunStatus.RUNNING
    run.error = ""
    run.started_at = timezone.now()
    run.finished_at = None
    run.save()


def _store_file(
    project: Project,
    run: Run,
    path: Path,
    parser: RecordParser,
    plan: FormatPlan,
    skipped: list[FormatError],
    skip_invalid: bool,
    analyze: bool,
) -> StoreReport:
    """Store the file's traces, read with the think formats of ``plan``, and their counts in one
    transaction. A unique key clash means another import committed the same problems or traces
    meanwhile: read the file again, and that import's rows are skipped as duplicates."""
    for _ in range(STORE_ATTEMPTS - 1):
        try:
            return _store_once(project, run, path, parser, plan, skipped, skip_invalid, analyze)
        except IntegrityError:
            continue
    return _store_once(project, run, path, parser, plan, skipped, skip_invalid, analyze)


def _store_once(
    project: Project,
    run: Run,
    path: Path,
    parser: RecordParser,
    plan: FormatPlan,
    skipped: list[FormatError],
    skip_invalid: bool,
    analyze: bool,
) -> StoreReport:
    skipped.clear()
    records = map(plan.apply, _valid_records(path, parser, skip_invalid, skipped))
    with transaction.atomic():
        report = store_traces(project, run, records)
        _record_imported(run, report, skipped, plan, analyze)
    return report


def _as_format_error(path: Path, error: FormatError | UnicodeDecodeError | OSError) -> FormatError:
    if isinstance(error, UnicodeDecodeError):
        return _undecodable(path, error)
    if isinstance(error, OSError):
        return FormatError(f"cannot read the file ({error.strerror or type(error).__name__})", path=str(path))
    return error


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


def _record_imported(
    run: Run, report: StoreReport, skipped: list[FormatError], plan: FormatPlan, analyze: bool
) -> None:
    """The import's counts and each model's think format, committed with its traces; the Run
    succeeds now unless its analysis follows."""
    run.progress_done = run.progress_total = report.traces_created + report.duplicates_skipped
    run.report = {
        **report.as_dict(),
        "skipped_count": len(skipped),
        "skipped": [
            {"line": e.line_no, "field": e.field, "message": e.message} for e in skipped[:MAX_REPORTED_SKIPS]
        ],
        "think_formats": plan.report(),
    }
    if analyze:
        run.report["analysis"] = {"done": 0, "total": report.traces_created}
    else:
        run.status = RunStatus.SUCCEEDED
        run.finished_at = timezone.now()
    run.save()


def _record_failure(run: Run, error: FormatError) -> None:
    """After the rollback, the Run says what went wrong (naming the file, not its server path)."""
    run.status = RunStatus.FAILED
    run.error = str(FormatError(error.message, line_no=error.line_no, field=error.field, path=Path(error.path).name))
    run.finished_at = timezone.now()
    run.report = {"error": {"line": error.line_no, "field": error.field, "message": error.message}}
    run.save()


# --- Analysis of an import -----------------------------------------------------------------------


def is_imported(run: Run) -> bool:
    """Whether the Run's traces are committed and only their analysis remains (or remained)."""
    return "analysis" in run.report


def analyze_import(run: Run, progress: Progress | None = None) -> int:
    """Analyse the import Run's traces not analysed yet, committing its progress after each batch,
    then mark it succeeded; how many were analysed. A Run resumed after an interruption starts
    after the last batch committed."""
    _count_analysed(run)

    def advance(count: int) -> None:
        analysis = run.report["analysis"]
        _save_analysis(run, {**analysis, "done": analysis["done"] + count})
        if progress:
            progress(count)

    try:
        analysed = analyze_traces(needing_analysis(Trace.objects.filter(run=run)), progress=advance)
    except DATABASE_GONE:
        raise
    except Exception as error:
        fail_analysis(run.pk, error)
        raise
    _count_analysed(run)
    Run.objects.filter(pk=run.pk, status__in=ACTIVE).update(
        status=RunStatus.SUCCEEDED, error="", finished_at=timezone.now()
    )
    run.refresh_from_db(fields=["status", "error", "finished_at"])
    return analysed


def _count_analysed(run: Run) -> None:
    """Count the Run's traces, and those analysed, into ``report["analysis"]``."""
    traces = Trace.objects.filter(run=run)
    total = traces.count()
    _save_analysis(run, {"done": total - needing_analysis(traces).count(), "total": total})


def _save_analysis(run: Run, analysis: dict[str, int]) -> None:
    run.report = {**run.report, "analysis": analysis}
    Run.objects.filter(pk=run.pk).update(report=run.report)


def fail_analysis(run_id: int, error: BaseException) -> None:
    """Fail an import Run whose analysis stopped for good, saying how far it got and how to finish it."""
    run = Run.objects.filter(pk=run_id, status__in=ACTIVE).select_related("project").first()
    if run is None:
        return
    _count_analysed(run)
    analysis = run.report["analysis"]
    run.status = RunStatus.FAILED
    run.finished_at = timezone.now()
    run.error = (
        f"Analysis stopped after {analysis['done']} of {analysis['total']} traces ({error_text(error)}). "
        f"The imported traces are kept; resume this job, or run `manage.py analyze --project {run.project.slug}`, "
        "to analyse the rest."
    )
    run.save(update_fields=["status", "finished_at", "error"])


def settle_analysed_imports(project: Project) -> int:
    """Mark succeeded the project's import Runs that failed in their analysis and whose traces are
    all analysed now (``manage.py analyze`` finished them); how many."""
    settled = 0
    for run in Run.objects.filter(project=project, kind=RunKind.IMPORT, status=RunStatus.FAILED):
        if is_imported(run) and not needing_analysis(Trace.objects.filter(run=run)).exists():
            _count_analysed(run)
            run.status, run.error, run.finished_at = RunStatus.SUCCEEDED, "", timezone.now()
            run.save(update_fields=["status", "error", "finished_at"])
            settled += 1
    return settled


# --- Previews of a file before its import ------------------------------------------------------


@dataclass(frozen=True)
class ImportPreview:
    """A file's first records as an import would store them, and the think format of each model
    they show, decided from the first ``CHECKED_LINES`` lines as the import decides it from all."""

    records: FilePreview
    think_formats: list[dict[str, str | int]]


def preview_import(project: Project, path: Path, fmt: str, think_format: str | None = None) -> ImportPreview:
    """The first records of ``path`` as an import into ``project`` in format ``fmt`` (and
    ``think_format``) would read them (nothing is written); a file that cannot be read or is not
    UTF-8 previews as its error, as it would fail."""
    parser = get_parser(fmt)
    try:
        with path.open(encoding="utf-8", newline="") as fp:
            plan = plan_think_formats(project, _first_records(fp, parser), think_format)
            fp.seek(0)
            return ImportPreview(preview_records(fp, parser, prepare=plan.apply), plan.report())
    except (UnicodeDecodeError, OSError) as error:
        failure = _as_format_error(path, error)
        return ImportPreview(FilePreview(rows=[], error=failure, lines_read=failure.line_no or 0, whole_file=False), [])


def _first_records(fp: TextIO, parser: RecordParser) -> Iterator[ParsedTrace]:
    """The readable records of the first ``CHECKED_LINES`` lines (the lines a preview reads)."""
    try:
        for record in read_records(fp, parser):
            if (record.line_no or 0) > CHECKED_LINES:
                return
            if isinstance(record, ParsedTrace):
                yield record
    except FormatError:  # a broken JSON array: the preview shows where
        return


def count_import_lines(path: Path) -> int | None:
    """How many lines an import of ``path`` reads (None for a file holding one JSON array)."""
    with path.open("rb") as fp:
        return count_records(fp)


# --- Imports as worker jobs ----------------------------------------------------------------------


def do_enqueue_import(
    project: Project,
    path: Path,
    fmt: str,
    *,
    skip_invalid: bool = False,
    think_format: str | None = None,
    user: User | None = None,
) -> Run:
    """Queue an import as a job on the `default` worker queue; the Run row carries its status
    (``think_format``: as ``do_import``'s)."""
    get_parser(fmt)
    think_format = check_choice(think_format)
    with transaction.atomic():
        run = Run.objects.create(
            project=project,
            kind=RunKind.IMPORT,
            name=path.name,
            source_file=str(path),
            source_format=fmt,
            params={"skip_invalid": skip_invalid, **({"think_format": think_format} if think_format != AUTO else {})},
            created_by=user,
        )
        transaction.on_commit(lambda: jobs.enqueue(jobs.IMPORT_FILE, run.pk))
    return run


def run_import_job(run_id: int) -> None:
    """The import task's body: import a queued Run's file and analyse its traces, or, for a Run
    whose traces are committed already (a retried or redelivered task), resume the analysis.
    Uploads no import needs any more are deleted first (``sweep_uploads``)."""
    sweep_uploads()
    run = Run.objects.filter(pk=run_id, kind=RunKind.IMPORT, status__in=ACTIVE).select_related("project").first()
    if run is None:
        return
    if is_imported(run):
        discard_upload(Path(run.source_file))  # in case the task stopped between the commit and the deletion
        analyze_import(run)
        return
    try:
        do_import(run.project, Path(run.source_file), run.source_format,
                  skip_invalid=bool(run.params.get("skip_invalid")), think_format=run.params.get("think_format"),
                  run=run, analyze=True)  # fmt: skip
    except ImportFailed:
        return


def give_up_import(run_id: int, error: BaseException) -> None:
    """Fail an interrupted import Run with the error (after the task's last retry, or at once from
    the command line), saying how far its analysis got when its traces were committed already."""
    run = Run.objects.filter(pk=run_id).first()
    if run is not None and is_imported(run):
        fail_analysis(run_id, error)
    else:
        fail_run(run_id, error)


def do_resume_analysis(run: Run) -> bool:
    """Queue again an import Run that failed in its analysis: the worker analyses the rest. False
    for any other Run."""
    if run.kind != RunKind.IMPORT or not is_imported(run):
        return False
    with transaction.atomic():
        changed = Run.objects.filter(pk=run.pk, status=RunStatus.FAILED).update(
            status=RunStatus.QUEUED, finished_at=None, error=""
        )
        if changed:
            transaction.on_commit(lambda: jobs.enqueue(jobs.IMPORT_FILE, run.pk))
    run.refresh_from_db()
    return bool(changed)
