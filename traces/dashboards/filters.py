"""Dashboard filters read from the query string, so a filtered dashboard is a URL to share.

The model dashboard filters traces by dataset (the problems' ``source``), run and creation date;
the annotation dashboard filters labelling work by date and picks the period of its time series.
Bad values are form errors that name the field (the JSON endpoint answers 400 with them).
"""

from __future__ import annotations

import datetime
from functools import cached_property
from typing import Any

from django import forms
from django.db.models import Count, Q
from django.utils import timezone

from traces.models import LanguageModel, Problem, Project, Run, RunKind


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


#: Without a choice, the model dashboard shows the models with the most traces, this many of them.
DEFAULT_MODELS = 8
#: At most this many models at once: the charts' palette keeps 20 series apart.
MAX_MODELS = 20


class ModelDashboardForm(DateRangeForm):
    """Filters of the model comparison dashboard: models, dataset, run, date range.

    ``models`` picks the models to compare; left empty, the ``DEFAULT_MODELS`` with the most traces."""

    models = forms.ModelMultipleChoiceField(
        label="Models", queryset=LanguageModel.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    dataset = forms.ChoiceField(label="Dataset", required=False)
    run = forms.ModelChoiceField(queryset=Run.objects.none(), required=False, empty_label="any")

    field_order = ["models", "dataset", "run", "date_from", "date_to"]

    def __init__(self, data: Any, *, project: Project, hidden_sources: frozenset[str]) -> None:
        super().__init__(data, project=project, hidden_sources=hidden_sources)
        by_traces = LanguageModel.objects.filter(project=project).annotate(trace_count=Count("traces"))
        self.fields["models"].queryset = by_traces.order_by("-trace_count", "name")  # type: ignore[attr-defined]  # the stubs type form fields as Field
        self.fields["models"].label_from_instance = model_choice_label  # type: ignore[attr-defined]  # the stubs type form fields as Field
        sources = (
            Problem.objects.filter(project=project)
            .exclude(source="")
            .order_by("source")
            .values_list("source", flat=True)
        )
        self.fields["dataset"].choices = [("", "any"), *((s, s) for s in sources.distinct())]  # type: ignore[attr-defined]  # the stubs type form fields as Field
        runs = Run.objects.filter(project=project, kind__in=[RunKind.GENERATION, RunKind.IMPORT]).order_by("-id")
        self.fields["run"].queryset = runs  # type: ignore[attr-defined]  # the stubs type form fields as Field
        self.fields["run"].label_from_instance = lambda run: f"#{run.pk} {run}"  # type: ignore[attr-defined]  # the stubs type form fields as Field

    def clean_models(self) -> list[LanguageModel]:
        picked = list(self.cleaned_data["models"])
        if len(picked) > MAX_MODELS:
            raise forms.ValidationError(f"Pick at most {MAX_MODELS} models at once ({len(picked)} picked).")
        return picked

    @cached_property
    def all_models(self) -> list[LanguageModel]:
        """The project's models, most traces first (with ``trace_count``)."""
        return list(self.fields["models"].queryset)  # type: ignore[attr-defined]  # the stubs type form fields as Field

    @property
    def shown_models(self) -> list[LanguageModel]:
        """The models the charts compare (a valid form only): those picked, else the ones with the most traces."""
        return self.cleaned_data.get("models") or self.all_models[:DEFAULT_MODELS]

    @property
    def models_note(self) -> str:
        """What the page says when it leaves models out by default."""
        total = len(self.all_models)
        if self.cleaned_data.get("models") or total <= DEFAULT_MODELS:
            return ""
        return (
            f"Showing the {DEFAULT_MODELS} models with the most traces, of {total}; "
            "pick others under Models."
        )

    def trace_q(self, prefix: str = "") -> Q:
        """The chosen traces, as a condition on ``Trace`` (``prefix`` "trace__" from a related model)."""
        q = Q(**{f"{prefix}project": self.project, f"{prefix}model__in": self.shown_models})
        if dataset := self.cleaned_data.get("dataset"):
            q &= Q(**{f"{prefix}problem__source": dataset})
        if run := self.cleaned_data.get("run"):
            q &= Q(**{f"{prefix}run": run})
        return q & self.date_q(f"{prefix}created_at")

    def trace_list_params(self) -> dict[str, str]:
        """The filters the trace list also has (run), for chart click-throughs."""
        run = self.cleaned_data.get("run")
        return {"run": str(run.pk)} if run else {}


def model_choice_label(model: LanguageModel) -> str:
    count = getattr(model, "trace_count", 0)
    return f"{model.name} · {count} trace{'' if count == 1 else 's'}"


PERIODS = {"week": "Week", "day": "Day"}
"""Periods of the annotation time series; the first is the default, and the select shows it first."""


class AnnotationDashboardForm(DateRangeForm):
    """Filters of the annotation dashboard: date range of the work, and the period of the time series."""

    period = forms.ChoiceField(label="Per", required=False, choices=list(PERIODS.items()))

    @property
    def period_value(self) -> str:
        return self.cleaned_data.get("period") or next(iter(PERIODS))
