"""Filters of the API's trace list (django-filter), the same criteria as the browser's list."""

from __future__ import annotations

import django_filters

from traces.models import FinishReason, Trace
from traces.models.trace import TraceQuerySet


class TraceFilter(django_filters.FilterSet):
    project = django_filters.CharFilter(field_name="project__slug")
    model = django_filters.CharFilter(field_name="model__name")
    run = django_filters.NumberFilter(field_name="run_id")
    problem = django_filters.NumberFilter(field_name="problem_id")
    is_correct = django_filters.BooleanFilter()
    finish_reason = django_filters.ChoiceFilter(choices=FinishReason.choices)
    has_labels = django_filters.BooleanFilter()
    q = django_filters.CharFilter(method="filter_text", label="Text search in the completion and the problem")

    class Meta:
        model = Trace
        fields = ["project", "model", "run", "problem", "is_correct", "finish_reason", "has_labels", "q"]

    def filter_text(self, queryset: TraceQuerySet, name: str, value: str) -> TraceQuerySet:
        return queryset.matching_text(value)
