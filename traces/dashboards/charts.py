"""One dashboard chart as data: a table of numbers, how to draw it, where clicks go.

The same ``Chart`` feeds the JSON endpoint (``static/js/dashboards.js`` draws it with Chart.js and
writes the table under it) and the CSV download, so the chart, its table and its CSV never disagree.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any, Literal

from traces.csv_safety import csv_safe
from traces.display_names import display_name

Value = str | int | float | None
#: One row of a chart or table: column key → value.
Row = dict[str, Value]


@dataclass(frozen=True)
class Column:
    """A table column: ``key`` in each row, ``label`` in the header, ``percent`` shows a 0–1 share as %."""

    key: str
    label: str
    percent: bool = False


@dataclass
class Chart:
    """A chart and its table.

    ``rows`` are dicts keyed by the columns' keys. The chart draws ``y`` against ``x``, one dataset per
    distinct ``series`` value (None: one dataset); ``low``/``high`` name the columns of an error bar
    (a 95 % CI). ``links[i]`` is the trace-list query string that a click on row i's bar or point
    opens (None: not clickable). ``kind`` "table" has no drawing, only the table.
    """

    id: str
    title: str
    kind: Literal["bar", "line", "table"]
    columns: list[Column]
    x: str = ""
    y: str = ""
    series: str | None = None
    low: str | None = None
    high: str | None = None
    x_label: str = ""
    y_label: str = ""
    y_max: float | None = None
    note: str = ""
    rows: list[Row] = field(default_factory=list)
    links: list[str | None] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)  # a display name in the rows -> the key it names, shown on hover

    def add(self, row: Row, link: str | None = None) -> None:
        self.rows.append(row)
        self.links.append(link)

    def as_dict(self) -> dict[str, Any]:
        """The JSON the page draws from."""
        return {
            "id": self.id,
            "title": self.title,
            "kind": self.kind,
            "columns": [{"key": c.key, "label": c.label, "percent": c.percent} for c in self.columns],
            "x": self.x,
            "y": self.y,
            "series": self.series,
            "low": self.low,
            "high": self.high,
            "x_label": self.x_label,
            "y_label": self.y_label,
            "y_max": self.y_max,
            "note": self.note,
            "rows": self.rows,
            "links": self.links,
            "keys": self.keys,
        }

    def named(self, key: str) -> str:
        """``key``'s display name for a row, remembering the key for the hover text."""
        name = display_name(key)
        self.keys[name] = key
        return name

    def csv(self) -> str:
        """The table as CSV: a header of column labels, then one line per row (numbers unrounded).

        Every cell passes ``csv_safe``: model names and prompts are model-controlled text."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([csv_safe(column.label) for column in self.columns])
        for row in self.rows:
            writer.writerow([csv_safe("" if row.get(c.key) is None else row.get(c.key)) for c in self.columns])
        return out.getvalue()


@dataclass
class Dashboard:
    """A dashboard's charts, in page order, and the message shown when there is nothing to chart.

    ``series`` fixes the colour of each series name across every chart (the page gives the i-th
    name the palette's i-th colour); ``note`` says what the page shows (which models)."""

    charts: list[Chart]
    empty: str = ""
    series: list[str] = field(default_factory=list)
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "empty": self.empty,
            "note": self.note,
            "series": self.series,
            "charts": [chart.as_dict() for chart in self.charts],
        }

    def chart(self, chart_id: str) -> Chart | None:
        return next((chart for chart in self.charts if chart.id == chart_id), None)
