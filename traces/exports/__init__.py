"""PRM training-data exports (docs/concepts.md §2, "Exports").

Modules:
    policy   -- the label policy: sources, neutral mapping, after-error cut, split by problem (pure).
    records  -- ``ExportTrace`` and one renderer per export format (pure).
    query    -- stream ``ExportTrace`` objects from a Trace queryset in bounded queries (ORM).
    writers  -- ``write_export``: JSONL / Parquet / CSV files per split and their manifest.

Callers (command, API, job) import ``write_export`` from ``traces.exports.writers``; this package
imports nothing, so the pure modules load without Django.
"""
