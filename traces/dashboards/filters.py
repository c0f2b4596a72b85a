"""Dashboard filters read from the query string, so a filtered dashboard is a URL to share (issue 8 item 3).

The model dashboard filters traces by dataset (the problems' ``source``), run and creation date;
the annotation dashboard filters labelling work by date and picks the period of its time series.
Bad values are form errors that name the field (the JSON endpoint answers 400 with them).
"""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.db.models import Q
from django.utils import timezone

from traces.models import Problem, Project, Run, RunKind


class DateRangeForm(forms.Form):
    """``date_from``/``date_to`` (inclusive days, in the server's time zone); ``hidden_sources`` are
    the label sources the person may not see (``traces.access``), which no chart reads."""

    date_from = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, data: Any, *, project: Project, hidden_sources: frozenset[str]) -> None:
        super().__init__(data)
        self.project = project
        self.hidden_sources = hidden_sources

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", f"To ({end}) is before From ({start}).")
        return data

    def date_q(self, column: str) -> Q:
        """``column`` (a datetime) within the chosen days."""
        q = Q()
        if start := self.cleaned_data.get("date_from"):
            q &= Q(**{f"{column}__gte": _day_start(start)})
        if end := self.cleaned_data.get("date_to"):
            q &= Q(**{f"{column}__lt": _day_start(end + datetime.timedelta(days=1))})
        return q

    def query_errors(self) -> dict[str, list[str]]:
        """Errors by field name (the JSON endpoint's 400 body)."""
        return {name: [str(error) for error in errors] for name, errors in self.errors.items()}


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


class ModelDashboardForm(DateRangeForm):
    """Filters of the model comparison dashboard: dataset, run, date range (issue 8 item 1)."""

    dataset = forms.ChoiceField(label="Dataset", required=False)
    run = forms.ModelChoiceField(queryset=Run.objects.none(), required=False, empty_label="any")

    field_order = ["dataset", "run", "date_from", "date_to"]

    def __init__(self, data: Any, *, project: Project, hidden_sources: frozenset[str]) -> None:
        super().__init__(data, project=project, hidden_sources=hidden_sources)
        sources = (
            Problem.objects.filter(project=project)
            .exclude(source="")
            .order_by("source")
            .values_list("source", flat=True)
        )
        self.fields["dataset"].choices = [("", "any"), *((s, s) for s in sources.distinct())]  # type: ignore[attr-defined]
        runs = Run.objects.filter(project=project, kind__in=[RunKind.GENERATION, RunKind.IMPORT]).order_by("-id")
        self.fields["run"].queryset = runs  # type: ignore[attr-defined]
        self.fields["run"].label_from_instance = lambda run: f"#{run.pk} {run}"  # type: ignore[attr-defined]

    def trace_q(self, prefix: str = "") -> Q:
        """The chosen traces, as a condition on ``Trace`` (``prefix`` "trace__" from a related model)."""
        q = Q(**{f"{prefix}project": self.project})
        if dataset := self.cleaned_data.get("dataset"):
            q &= Q(**{f"{prefix}problem__source": dataset})
        if run := self.cleaned_data.get("run"):
            q &= Q(**{f"{prefix}run": run})
        return q & self.date_q(f"{prefix}created_at")

    def trace_list_params(self) -> dict[str, str]:
        """The filters the trace list also has (run), for chart click-throughs."""
        run = self.cleaned_data.get("run")
        return {"run": str(run.pk)} if run else {}


PERIODS = {"week": "Week", "day": "Day"}
"""Periods of the annotation time series; the first is the default, and the select shows it first."""


class AnnotationDashboardForm(DateRangeForm):
    """Filters of the annotation dashboard: date range of the work, and the period of the time series."""

    period = forms.ChoiceField(label="Per", required=False, choices=list(PERIODS.items()))

    @property
    def period_value(self) -> str:
        return self.cleaned_data.get("period") or next(iter(PERIODS))
