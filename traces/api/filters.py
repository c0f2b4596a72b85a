"""Filters of the API's lists (django-filter); the trace list's are the browser list's criteria.

Related objects are filtered by id (``IdFilter``), never by a ``ModelChoiceFilter``: that one
validates the id against every row of the table, so a 400 for an id of another project's object
would tell that it exists.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import Q

from traces.models import FinishReason, Label, Preference, PreferenceChoice, Score, Trace
from traces.models.trace import TraceQuerySet

#: The largest id a database holds (a signed 64-bit integer).
MAX_ID = 2**63 - 1


class IdFilter(django_filters.Filter):
    """A row id: a whole number in [1, MAX_ID] (anything else is a 400 naming the filter)."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, min_value=1, max_value=MAX_ID, **kwargs)


class TraceFilter(django_filters.FilterSet):
    project = django_filters.CharFilter(field_name="project__slug")
    model = django_filters.CharFilter(field_name="model__name")
    run = IdFilter(field_name="run_id")
    problem = IdFilter(field_name="problem_id")
    is_correct = django_filters.BooleanFilter()
    finish_reason = django_filters.ChoiceFilter(choices=FinishReason.choices)
    has_labels = django_filters.BooleanFilter(field_name="labeled", label="Has labels the caller may see")
    q = django_filters.CharFilter(method="filter_text", label="Text search in the completion and the problem")

    class Meta:
        model = Trace
        fields = ["project", "model", "run", "problem", "is_correct", "finish_reason", "has_labels", "q"]

    def filter_text(self, queryset: TraceQuerySet, name: str, value: str) -> TraceQuerySet:
        return queryset.matching_text(value)


class LabelFilter(django_filters.FilterSet):
    trace = IdFilter(field_name="trace_id")
    step = IdFilter(field_name="step_id")
    source = django_filters.CharFilter()
    project = django_filters.CharFilter(field_name="trace__project__slug")

    class Meta:
        model = Label
        fields = ["trace", "step", "source", "project"]


class ScoreFilter(django_filters.FilterSet):
    trace = IdFilter(field_name="trace_id")
    name = django_filters.CharFilter()
    method = django_filters.CharFilter()

    class Meta:
        model = Score
        fields = ["trace", "name", "method"]


class PreferenceFilter(django_filters.FilterSet):
    project = django_filters.CharFilter(field_name="trace_a__project__slug")
    trace = IdFilter(method="filter_trace", label="Preferences of a pair this trace is one of")
    source = django_filters.CharFilter()
    choice = django_filters.ChoiceFilter(choices=PreferenceChoice.choices)
    user = django_filters.CharFilter(field_name="user__username")

    class Meta:
        model = Preference
        fields = ["project", "trace", "source", "choice", "user"]

    def filter_trace(self, queryset: Any, name: str, value: int) -> Any:
        return queryset.filter(Q(trace_a_id=value) | Q(trace_b_id=value))
