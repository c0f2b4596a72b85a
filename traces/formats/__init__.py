"""The import formats of docs/concepts.md §2, registered by name.

Each module exposes ``NAME``, ``DESCRIPTION`` (one line), ``LABEL_SOURCE`` and ``parse_record(record, line_no)``; a format
whose step separator is configurable (TRL) also exposes ``make_parser(step_separator)``.
"""

from __future__ import annotations

from types import ModuleType

from traces.formats import jsonl, math_shepherd, prm800k, processbench, trl
from traces.formats.base import RecordParser

#: Format name → its module, in the order the CLI and the API list them.
FORMATS: dict[str, ModuleType] = {module.NAME: module for module in (jsonl, prm800k, math_shepherd, processbench, trl)}
FORMAT_NAMES: tuple[str, ...] = tuple(FORMATS)
#: The formats that accept ``step_separator`` (the others fix their own or read it per line).
SEPARATOR_FORMATS: tuple[str, ...] = tuple(name for name, module in FORMATS.items() if hasattr(module, "make_parser"))


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
