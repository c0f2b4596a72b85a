"""Export jobs (docs/concepts.md §2 "Exports", §4 Workers): an export requested from the API or the UI
runs in a worker on the `default` queue as a Run of kind ``export``.

``do_start_export`` checks the request, creates the Run (format, label policy, filters and step
separator in ``params``) and queues ``workers.tasks.export_run`` once the row is committed;
``do_export`` (called by that task) writes the files with ``traces.exports.writers.write_export``
into ``DATA_DIR/exports/<run id>/`` and records the manifest in ``report``. ``export_file`` names
a finished export's file for a download.

Bad input raises ``RequestRejected`` naming the field that was wrong (the API answers 400 with it,
the UI shows it beside the field).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from traces import jobs
from traces.exports.policy import LabelPolicy
from traces.exports.writers import MANIFEST_NAME, Manifest, format_options, get_export_format, write_export
from traces.formats.trl import DEFAULT_STEP_SEPARATOR
from traces.models import LanguageModel, Project, Run, RunKind, RunStatus, Trace
from traces.models.trace import TraceQuerySet

#: The policy fields a request sets (``LabelPolicy``'s constructor arguments).
POLICY_FIELDS = ("sources", "auto_method", "neutral", "after_error", "test_fraction", "seed", "human_completion")

#: What ``?file=`` names besides a split: the manifest written beside the data files.
MANIFEST_FILE = "manifest"


class RequestRejected(ValueError):
    """A request (an export, an evaluation) that cannot run: ``field`` names what was wrong,
    ``message`` says how."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class ExportFailed(Exception):
    """An export job stopped; ``run`` is the failed Run that records why."""

    def __init__(self, run: Run):
        self.run = run
        super().__init__(run.error)


@dataclass(frozen=True)
class ExportFilters:
    """Which of the project's traces an export reads: the trace list's filters
    (``TraceQuerySet.filtered``), with the model by name and the run by id so a job can store them."""

    model: str = ""
    run: int | None = None
    correct: str = ""
    finish_reason: str = ""
    labeled: str = ""
    q: str = ""

    def as_query(self) -> dict[str, Any]:
        """The filters that narrow the selection (the manifest's ``query``)."""
        return {name: value for name, value in asdict(self).items() if value not in ("", None)}


@dataclass(frozen=True)
class ExportSpec:
    """Everything an export job needs: format, label policy, filters, TRL step separator and the
    format's other options (``ExportFormat.options``, e.g. OpenRLHF's ``placeholder_token``)."""

    format: str
    policy: LabelPolicy
    filters: ExportFilters = field(default_factory=ExportFilters)
    step_separator: str = DEFAULT_STEP_SEPARATOR
    options: Mapping[str, str] = field(default_factory=dict)

    def format_options(self) -> dict[str, str]:
        """The options given to the format: ``options``, with the step separator for a format that takes one."""
        if get_export_format(self.format).takes_step_separator:
            return {**self.options, "step_separator": self.step_separator}
        return dict(self.options)

    def as_params(self) -> dict[str, Any]:
        """The spec as stored in ``Run.params`` (JSON)."""
        return {
            "format": self.format,
            "policy": {name: _plain(getattr(self.policy, name)) for name in POLICY_FIELDS},
            "filters": asdict(self.filters),
            "step_separator": self.step_separator,
            "options": dict(self.options),
        }

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ExportSpec:
        """The spec a Run's ``params`` hold (``as_params``; jobs queued before options existed have none)."""
        return cls(
            format=params["format"],
            policy=LabelPolicy(**params["policy"]),
            filters=ExportFilters(**params["filters"]),
            step_separator=params["step_separator"],
            options=params.get("options", {}),
        )


def _plain(value: Any) -> Any:
    """A policy value as JSON holds it (the enums are ``str`` subclasses: keep their value)."""
    return str(value) if isinstance(value, str) else value


def build_policy(**fields: Any) -> LabelPolicy:
    """The label policy of ``fields`` (``POLICY_FIELDS``); RequestRejected naming the bad field.

    ``LabelPolicy`` starts each of its messages with the field it refuses.
    """
    try:
        return LabelPolicy(**fields)
    except ValueError as error:
        message = str(error)
        first_word = message.split(" ", 1)[0]
        raise RequestRejected(first_word if first_word in POLICY_FIELDS else "policy", message) from None


def select_traces(project: Project, filters: ExportFilters, hidden: Q | None = None) -> TraceQuerySet:
    """The project's traces that ``filters`` select (labels ``hidden`` matches do not make a trace
    labeled); RequestRejected for a model or run it lacks."""
    model = None
    if filters.model:
        model = LanguageModel.objects.filter(project=project, name=filters.model).first()
        if model is None:
            raise RequestRejected("model", f"no model named {filters.model!r} in project '{project.slug}'")
    run = None
    if filters.run is not None:
        run = Run.objects.filter(project=project, pk=filters.run).first()
        if run is None:
            raise RequestRejected("run", f"no run {filters.run} in project '{project.slug}'")
    return Trace.objects.in_project(project).filtered(
        model=model,
        run=run,
        correct=filters.correct,
        finish_reason=filters.finish_reason,
        labeled=filters.labeled,
        q=filters.q,
        hidden=hidden,
    )


def check_spec(project: Project, spec: ExportSpec) -> None:
    """Refuse a spec that cannot run: unknown format, a separator for a format without steps
    joined by one, an option the format does not take, filters naming what the project lacks."""
    try:
        export_format = get_export_format(spec.format)
    except ValueError as error:
        raise RequestRejected("format", str(error)) from None
    if spec.step_separator != DEFAULT_STEP_SEPARATOR and not export_format.takes_step_separator:
        raise RequestRejected("step_separator", f"applies to the TRL formats only, not {spec.format}")
    if "step_separator" in spec.options:
        raise RequestRejected("options", "the step separator has its own field, step_separator")
    try:
        format_options(export_format, spec.options)
    except ValueError as error:
        raise RequestRejected("options", str(error)) from None
    select_traces(project, spec.filters)


def do_start_export(project: Project, spec: ExportSpec, *, user: User | None = None) -> Run:
    """Queue an export as a job on the `default` worker queue; the Run row carries its status."""
    check_spec(project, spec)
    with transaction.atomic():
        run = Run.objects.create(
            project=project,
            kind=RunKind.EXPORT,
            name=f"{spec.format} export",
            params=spec.as_params(),
            created_by=user,
        )
        transaction.on_commit(lambda: jobs.enqueue(jobs.EXPORT_RUN, run.pk))
    return run


def export_dir(run: Run) -> Path:
    """Where an export job writes its files: ``DATA_DIR/exports/<run id>/``."""
    return Path(settings.DATA_DIR) / "exports" / str(run.pk)


def do_export(run: Run) -> Manifest:
    """Run a queued export job: write its files, record the manifest and counts on the Run.

    Raises ExportFailed after recording the error on the Run when the export cannot be written
    (the filters no longer match the project, a file cannot be written); any other error is
    recorded as well and raised as is.
    """
    spec = ExportSpec.from_params(run.params)
    run.status = RunStatus.RUNNING
    run.started_at = timezone.now()
    run.save(update_fields=["status", "started_at"])
    try:
        traces = select_traces(run.project, spec.filters)
        run.progress_total = traces.count()
        run.save(update_fields=["progress_total"])
        manifest = write_export(
            traces,
            spec.format,
            spec.policy,
            export_dir(run),
            query={"project": run.project.slug, **spec.filters.as_query()},
            options=spec.format_options(),
            progress=lambda done: Run.objects.filter(pk=run.pk).update(progress_done=done),
        )
    except (ValueError, OSError) as error:  # RequestRejected is a ValueError
        _record_failure(run, error)
        raise ExportFailed(run) from error
    except BaseException as error:
        _record_failure(run, error)
        raise
    run.status = RunStatus.SUCCEEDED
    run.progress_done = manifest.traces_read
    run.report = manifest.as_dict()
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "progress_done", "report", "finished_at"])
    return manifest


def _record_failure(run: Run, error: BaseException) -> None:
    run.status = RunStatus.FAILED
    run.error = str(error) or type(error).__name__
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error", "finished_at"])


def export_file_names(run: Run) -> list[str]:
    """What a finished export offers for download: its splits, then ``manifest``."""
    if run.status != RunStatus.SUCCEEDED:
        return []
    return [entry["split"] for entry in run.report.get("files", [])] + [MANIFEST_FILE]


def export_sources(run: Run) -> tuple[str, ...]:
    """The label sources an export job reads (its policy's, in precedence order)."""
    return ExportSpec.from_params(run.params).policy.precedence


def export_file(run: Run, name: str) -> Path:
    """The file ``name`` (a split, or ``manifest``) of a finished export; RequestRejected otherwise."""
    names = export_file_names(run)
    if not names:
        raise RequestRejected("file", f"export {run.pk} has not succeeded (status: {run.status})")
    if name not in names:
        raise RequestRejected("file", f"no file {name!r} in export {run.pk}; choose one of {', '.join(names)}")
    if name == MANIFEST_FILE:
        path = export_dir(run) / MANIFEST_NAME
    else:
        path = export_dir(run) / next(entry["name"] for entry in run.report["files"] if entry["split"] == name)
    if not path.is_file():
        raise RequestRejected("file", f"the files of export {run.pk} are no longer on the server")
    return path


def download_name(run: Run, path: Path) -> str:
    """The file name a download of ``path`` suggests: project, export id and file."""
    return f"{run.project.slug}-export-{run.pk}-{path.name}"
