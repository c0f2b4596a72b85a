"""Write an export: data files per split and a manifest beside them (docs/concepts.md §2, "Exports").

``write_export(traces, fmt, policy, out)`` is the one entry point (the command, the API and the
export job call it). It streams the traces (``traces.exports.query``), renders one record per
trace with the format's renderer (each format's module in ``traces/formats/`` declares its
exports; ``traces.formats.EXPORT_FORMATS`` collects them), and writes them chunk by chunk, so
memory stays bounded by one chunk whatever the export's size. Nothing here knows a format; the
container does:

* JSONL: one record per line, ``json.dumps(sort_keys=True, ensure_ascii=False)``.
* Parquet and CSV (``traces.exports.columnar``, imported only when one is written: pyarrow stays
  out of the processes that never write one): the format's columns, row groups of
  ``ROW_GROUP_ROWS``; a CSV cell a spreadsheet would run as a formula gets a leading ``'``.

Data files hold no timestamps and rows come in trace-id order, so the same traces and policy give
byte-identical files. With ``test_fraction`` > 0 the rows go to ``train`` and ``test`` files by
problem (``policy.split_of``). The manifest (``manifest.json``) records the format, policy,
query, schema version, counts (rows per file, traces skipped per reason) and each file's sha256
and size; only its ``created_at`` changes between runs. Files are written under a ``.part`` name
and renamed when complete, so a reader never sees half an export.
"""

from __future__ import annotations

import gc
import hashlib
import io
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from django.db.models import QuerySet

from traces.exports.policy import LabelPolicy, SkipTrace, split_of
from traces.exports.query import DEFAULT_CHUNK_SIZE, iter_export_traces, score_columns
from traces.exports.records import Container, ExportFormat, RenderSettings
from traces.formats import EXPORT_FORMAT_NAMES, EXPORT_FORMATS, get_export_format
from traces.models import Trace

__all__ = ["EXPORT_FORMATS", "EXPORT_FORMAT_NAMES", "MANIFEST_NAME", "Manifest", "get_export_format", "write_export"]

#: Bumped when a format's fields or the manifest's shape change.
SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
#: Rows per Parquet row group (fixed, so the bytes do not depend on the chunk size).
ROW_GROUP_ROWS = 2000


@dataclass(frozen=True)
class ExportedFile:
    """One data file of an export."""

    name: str
    split: str
    rows: int
    bytes: int
    sha256: str


@dataclass
class Manifest:
    """What an export wrote and how (written beside the data files as ``manifest.json``)."""

    format: str
    policy: dict[str, Any]
    query: dict[str, Any]
    options: dict[str, Any]
    fields: list[str]
    traces_read: int = 0
    rows_written: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    files: list[ExportedFile] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION
    created_at: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def columnar_types(export_format: ExportFormat, columns: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """The (name, Arrow type name) columns of a columnar export: the format's, then one float64
    column per score; none for a JSONL format."""
    if not export_format.column_types:
        return ()
    return (*export_format.column_types, *((name, "double") for name in columns))


def format_options(export_format: ExportFormat, given: Mapping[str, str]) -> dict[str, str]:
    """Every option of the format with its value (``given``, else its default); ValueError naming
    an option the format does not take, or a blank value of one that needs text."""
    unknown = sorted(set(given) - set(export_format.option_names))
    if unknown:
        takes = ", ".join(export_format.option_names) or "none"
        raise ValueError(f"format {export_format.name} has no option {unknown[0]!r} (its options: {takes})")
    values = {option.name: given.get(option.name, option.default) for option in export_format.options}
    for option in export_format.options:
        if not option.blank_ok and not values[option.name].strip():
            raise ValueError(f"option {option.name!r} of format {export_format.name} must not be blank")
    return values


def json_line(record: Mapping[str, Any]) -> bytes:
    """One JSONL line, deterministic: sorted keys, UTF-8."""
    return (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode()


class HashingSink(io.RawIOBase):
    """A write-only stream that hashes and counts what passes through it to ``target``."""

    def __init__(self, target: BinaryIO):
        super().__init__()
        self.target = target
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.target.write(view)
        self.sha256.update(view)
        self.size += len(view)
        return len(view)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self.target.flush()


class RowWriter(Protocol):
    def write_rows(self, rows: list[dict[str, Any]]) -> None: ...

    def close(self) -> None: ...


class JsonlWriter:
    def __init__(self, sink: HashingSink):
        self.sink = sink

    def write_rows(self, rows: list[dict[str, Any]]) -> None:
        self.sink.write(b"".join(json_line(row) for row in rows))

    def close(self) -> None:
        self.sink.flush()


def _row_writer(container: Container, sink: HashingSink, column_types: tuple[tuple[str, str], ...]) -> RowWriter:
    if container == "jsonl":
        return JsonlWriter(sink)
    assert column_types  # every columnar format names its columns
    # Imported here, not at the top: pyarrow (see the module docstring).
    from traces.exports.columnar import columnar_writer

    # HashingSink is a raw binary stream, which is what the columnar writers (and pyarrow) write to.
    return columnar_writer(container, sink, column_types, ROW_GROUP_ROWS)  # type: ignore[arg-type]


def _query_description(traces: QuerySet[Trace], query: Mapping[str, Any] | None) -> dict[str, Any]:
    if query is not None:
        return dict(query)
    try:
        return {"sql": str(traces.order_by("id").values("id").query)}
    except Exception:  # an empty queryset (``.none()``) has no SQL
        return {"sql": None}


#: The cyclic collector's first threshold while an export runs (CPython's default is 700).
EXPORT_GC_THRESHOLD = 10_000


@contextmanager
def fewer_gc_passes() -> Iterator[None]:
    """Raise the cyclic GC's allocation threshold for the duration of an export.

    An export allocates millions of small acyclic tuples (rows, steps, labels); with the default
    threshold CPython 3.11 re-runs full collections over them ~30 times per 20k traces, half of the
    export's time (measured by ``benchmarks/export_throughput.py``). The collector keeps running,
    less often; the previous thresholds are restored afterwards.
    """
    previous = gc.get_threshold()
    gc.set_threshold(max(previous[0], EXPORT_GC_THRESHOLD), *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)


def _export_rows(job: _Job, writers: dict[str, RowWriter], manifest: Manifest, rows_per_split: Counter[str]) -> None:
    """Stream, render and write every trace, a chunk at a time; count rows and skipped traces."""
    skipped: Counter[str] = Counter()
    pending: dict[str, list[dict[str, Any]]] = {split: [] for split in writers}
    stream = iter_export_traces(
        job.traces,
        sources=job.policy.precedence,
        alternatives=job.export_format.alternatives,
        scores=job.export_format.scores,
        chunk_size=job.chunk_size,
    )
    for trace in stream:
        manifest.traces_read += 1
        try:
            record = job.export_format.renderer(trace, job.policy, job.settings)
        except SkipTrace as skip:
            skipped[str(skip)] += 1
            continue
        pending[split_of(job.policy, trace.problem_hash)].append(record)
        if manifest.traces_read % job.chunk_size == 0:
            _flush(pending, writers, rows_per_split)
            if job.progress is not None:
                job.progress(manifest.traces_read)
    _flush(pending, writers, rows_per_split)
    manifest.skipped = dict(sorted(skipped.items()))
    manifest.rows_written = sum(rows_per_split.values())


def _flush(
    pending: dict[str, list[dict[str, Any]]], writers: dict[str, RowWriter], rows_per_split: Counter[str]
) -> None:
    for split, rows in pending.items():
        writers[split].write_rows(rows)
        rows_per_split[split] += len(rows)
        rows.clear()


def write_export(
    traces: QuerySet[Trace],
    fmt: str,
    policy: LabelPolicy,
    out: Path | BinaryIO,
    *,
    query: Mapping[str, Any] | None = None,
    options: Mapping[str, str] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: Callable[[int], object] | None = None,
) -> Manifest:
    """Export ``traces`` in format ``fmt`` under ``policy`` (module docstring).

    ``out`` is a directory (created if missing; ``<split>.<ext>`` files and ``manifest.json``
    are written there, replacing files of the same names) or a binary stream (one split only:
    the data is written to it and the manifest is only returned). ``query`` describes the
    selection for the manifest (the SQL of ``traces`` when omitted). ``options`` sets the
    format's options (``ExportFormat.options``, e.g. TRL's ``step_separator``); the manifest
    records every one with its value. ``progress(n)`` is called with the number of traces read so
    far after each chunk (a job page's progress bar). Raises ValueError for an unknown format, an
    option the format does not take, or a split export to a stream.
    """
    export_format = get_export_format(fmt)
    values = format_options(export_format, options or {})
    if not isinstance(out, Path) and len(policy.splits) > 1:
        raise ValueError("a train/test split writes two files: give a directory, not a stream")
    columns = score_columns(traces) if export_format.scores else ()
    column_types = columnar_types(export_format, columns)
    recorded: dict[str, Any] = {"chunk_size": chunk_size, **values}
    if export_format.container == "csv":
        recorded["csv_formula_guard"] = True
    manifest = Manifest(
        format=fmt,
        policy=policy.as_dict(),
        query=_query_description(traces, query),
        options=recorded,
        fields=[name for name, _ in column_types] if column_types else list(export_format.fields),
    )
    job = _Job(traces, export_format, policy, RenderSettings(values, columns), column_types, chunk_size, progress)
    names = {split: f"{split}.{export_format.extension}" for split in policy.splits}
    if isinstance(out, Path):
        _write_to_directory(job, out, names, manifest)
    else:
        _write_files(job, {split: out for split in names}, names, manifest)
    manifest.created_at = datetime.now(UTC).isoformat(timespec="seconds")
    if isinstance(out, Path):
        text = json.dumps(manifest.as_dict(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        (out / MANIFEST_NAME).write_text(text, encoding="utf-8")
    return manifest


@dataclass(frozen=True)
class _Job:
    """What one export reads and how it renders it."""

    traces: QuerySet[Trace]
    export_format: ExportFormat
    policy: LabelPolicy
    settings: RenderSettings
    column_types: tuple[tuple[str, str], ...]
    chunk_size: int
    progress: Callable[[int], object] | None


def _write_files(job: _Job, targets: dict[str, BinaryIO], names: dict[str, str], manifest: Manifest) -> None:
    """Render every trace into the split's target stream; record the files in the manifest."""
    sinks = {split: HashingSink(target) for split, target in targets.items()}
    writers = {split: _row_writer(job.export_format.container, sink, job.column_types) for split, sink in sinks.items()}
    rows: Counter[str] = Counter()
    with fewer_gc_passes():
        _export_rows(job, writers, manifest, rows)
    for writer in writers.values():
        writer.close()
    manifest.files = [
        ExportedFile(names[split], split, rows[split], sink.size, sink.sha256.hexdigest())
        for split, sink in sinks.items()
    ]


def _write_to_directory(job: _Job, out: Path, names: dict[str, str], manifest: Manifest) -> None:
    """``_write_files`` into ``<name>.part`` files, renamed once complete (removed on failure)."""
    out.mkdir(parents=True, exist_ok=True)
    parts = {split: out / f"{name}.part" for split, name in names.items()}
    files = {split: path.open("wb") for split, path in parts.items()}
    try:
        _write_files(job, dict(files), names, manifest)
    except BaseException:
        for split, fp in files.items():
            fp.close()
            parts[split].unlink(missing_ok=True)
        raise
    for split, fp in files.items():
        fp.close()
        os.replace(parts[split], out / names[split])
