"""The formats of docs/concepts.md §2, one module each, both directions; the registry is built from them.

A format is a module of this package that defines ``NAME``. It may read, write, or both:

* reading: ``DESCRIPTION`` (one line), ``LABEL_SOURCE`` and ``parse_record(record, line_no)``; a
  format whose step separator is configurable (TRL) also has ``make_parser(step_separator)``, and
  one whose records carry their own ids has ``source_id(meta)`` (the flat export's column);
* writing: ``EXPORTS``, a tuple of ``traces.exports.records.ExportFormat``.

Adding a format is adding its module: nothing else lists the formats. Modules without ``NAME``
(``base``, ``preview``) are the readers' shared machinery. The registry lists formats by module
name, except that thinkscope's own ``jsonl`` comes first (the import page's default).
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any

from traces.exports.records import ExportFormat
from traces.formats.base import RecordParser


def _format_modules() -> list[ModuleType]:
    """Every module of this package that defines ``NAME``: ``jsonl`` first, then by name."""
    modules = [importlib.import_module(f"{__name__}.{info.name}") for info in pkgutil.iter_modules(__path__)]
    formats = [module for module in modules if hasattr(module, "NAME")]
    return sorted(formats, key=lambda module: (module.NAME != "jsonl", module.__name__))


MODULES: tuple[ModuleType, ...] = tuple(_format_modules())

#: Format name → its module, for the formats that read (the import's choices, in order).
FORMATS: dict[str, ModuleType] = {module.NAME: module for module in MODULES if hasattr(module, "parse_record")}
FORMAT_NAMES: tuple[str, ...] = tuple(FORMATS)
#: The formats that accept ``step_separator`` (the others fix their own or read it per line).
SEPARATOR_FORMATS: tuple[str, ...] = tuple(name for name, module in FORMATS.items() if hasattr(module, "make_parser"))

#: Export name → its ExportFormat, from every module's ``EXPORTS`` (the export's choices, in order).
EXPORT_FORMATS: dict[str, ExportFormat] = {
    export.name: export for module in MODULES for export in getattr(module, "EXPORTS", ())
}
EXPORT_FORMAT_NAMES: tuple[str, ...] = tuple(EXPORT_FORMATS)


def get_parser(name: str, *, step_separator: str | None = None) -> RecordParser:
    """The record parser of format ``name``; ValueError naming the valid choices otherwise."""
    module = FORMATS.get(name)
    if module is None:
        raise ValueError(f"unknown format {name!r}: expected one of {', '.join(FORMAT_NAMES)}")
    if step_separator is None:
        parser: RecordParser = module.parse_record
        return parser
    if name not in SEPARATOR_FORMATS:
        raise ValueError(
            f"format {name!r} has no configurable step separator (only {', '.join(SEPARATOR_FORMATS)} has one)"
        )
    configured: RecordParser = module.make_parser(step_separator)
    return configured


def get_export_format(name: str) -> ExportFormat:
    """The export format called ``name``; ValueError naming the valid choices otherwise."""
    if name not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {name!r}: expected one of {', '.join(EXPORT_FORMAT_NAMES)}")
    return EXPORT_FORMATS[name]


def source_id(format_name: str, meta: dict[str, Any]) -> str:
    """The id a record of ``format_name`` had in its file, from the trace's stored ``meta``; ""
    for a format without ids (and for generated traces, whose format is "")."""
    module = FORMATS.get(format_name)
    reader = getattr(module, "source_id", None)
    return str(reader(meta)) if reader is not None else ""
