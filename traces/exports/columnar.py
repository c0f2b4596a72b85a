"""The columnar containers of an export (docs/concepts.md §2, "Exports"): Parquet and CSV through pyarrow.

``traces.exports.writers`` imports this module only when it writes a Parquet or CSV file, so the
processes that never do (the web process above all: pyarrow is ~40 MB in each worker) never load
pyarrow. Formats name their columns' Arrow types as text (``ExportFormat.column_types``), which
``arrow_schema`` turns into a schema.

* Parquet: ``pyarrow.parquet.ParquetWriter`` with the explicit schema, zstd, row groups of a fixed
  number of rows (the bytes do not depend on the chunks the rows arrive in).
* CSV: ``pyarrow.csv.CSVWriter`` with the schema. A text cell that a spreadsheet would run as a
  formula gets a leading ``'`` (``traces.csv_safety``); the Parquet twin keeps the text as is.
"""

from __future__ import annotations

from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from traces.csv_safety import csv_safe
from traces.exports.records import Container


def arrow_type(name: str) -> pa.DataType:
    """The Arrow type named ``name``: a pyarrow alias (``string``, ``int64``, ``bool``, ``double``…)
    or ``list<…>`` of one; ValueError naming it otherwise."""
    if name.startswith("list<") and name.endswith(">"):
        return pa.list_(arrow_type(name[len("list<") : -1]))
    try:
        return pa.type_for_alias(name)  # type: ignore[call-overload]  # pyarrow-stubs list only literal names
    except ValueError:
        raise ValueError(f"{name!r} is not an Arrow type name (e.g. 'string', 'int64', 'list<bool>')") from None


def arrow_schema(column_types: tuple[tuple[str, str], ...]) -> pa.Schema:
    """The schema of (column name, Arrow type name) pairs, in their order."""
    return pa.schema([(name, arrow_type(type_name)) for name, type_name in column_types])


class ParquetRowWriter:
    """Rows into row groups of exactly ``row_group_rows`` (the last one shorter), whatever the
    chunks they arrive in, so the bytes do not depend on the chunk size."""

    def __init__(self, sink: BinaryIO, schema: pa.Schema, row_group_rows: int):
        self.schema = schema
        self.row_group_rows = row_group_rows
        self.writer = pq.ParquetWriter(sink, schema, compression="zstd")
        self.pending: list[pa.Table] = []
        self.pending_rows = 0

    def write_rows(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.pending.append(pa.Table.from_pylist(rows, schema=self.schema))
            self.pending_rows += len(rows)
        while self.pending_rows >= self.row_group_rows:
            table = pa.concat_tables(self.pending)
            self._write_group(table.slice(0, self.row_group_rows))
            rest = table.slice(self.row_group_rows)
            self.pending, self.pending_rows = ([rest] if rest.num_rows else []), rest.num_rows

    def _write_group(self, table: pa.Table) -> None:
        self.writer.write_table(table.combine_chunks(), row_group_size=self.row_group_rows)

    def close(self) -> None:
        if self.pending_rows:
            self._write_group(pa.concat_tables(self.pending))
        self.writer.close()


class CsvRowWriter:
    def __init__(self, sink: BinaryIO, schema: pa.Schema):
        self.schema = schema
        self.writer = pa_csv.CSVWriter(sink, schema)

    def write_rows(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            safe = [{key: csv_safe(value) for key, value in row.items()} for row in rows]
            self.writer.write_table(pa.Table.from_pylist(safe, schema=self.schema))

    def close(self) -> None:
        self.writer.close()


def columnar_writer(
    container: Container, sink: BinaryIO, column_types: tuple[tuple[str, str], ...], row_group_rows: int
) -> ParquetRowWriter | CsvRowWriter:
    """The writer of a Parquet or CSV file with these columns into ``sink``."""
    schema = arrow_schema(column_types)
    return ParquetRowWriter(sink, schema, row_group_rows) if container == "parquet" else CsvRowWriter(sink, schema)
