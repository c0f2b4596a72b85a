"""The guard every CSV writer applies to its cells: no cell runs as a spreadsheet formula.

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return and is not a
number gets a leading ``'`` (OWASP "CSV injection"): model names, prompts and completions are
written by whoever controls a model's input, and ``=HYPERLINK(…)`` in a cell would otherwise run
when a reviewer opens the file. Numbers (``-3``, ``+1.5e3``) and other values are written as they are.
"""

from __future__ import annotations

from typing import Any

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """``value`` as a cell a spreadsheet would not run as a formula (module docstring)."""
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    try:
        float(value)
    except ValueError:
        return "'" + value
    return value
