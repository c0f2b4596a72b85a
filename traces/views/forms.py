"""Forms of the browser UI: the trace-list filters (docs/concepts.md §4 "trace list with filters")."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django import forms

from traces.analysis.engine import METHOD
from traces.display_names import display_name, stored_score
from traces.models import FinishReason, LanguageModel, Project, Run
from traces.queries.projects import project_models, score_names, trace_runs

ANY = ("", "any")

#: The orders of the trace list: newest first, or by the chosen score with the id breaking ties.
SCORE_ORDERS = {"asc": "score, lowest first", "desc": "score, highest first"}


# A frozen dataclass, not a NamedTuple: django-stubs' plugin never finishes a module that holds both a
# NamedTuple with methods and a Form (mypy's "maximum semantic analysis iteration count reached").
@dataclass(frozen=True)
class ScoreKey:
    """A trace-level score as the list filters on it: its method and name (docs/concepts.md §1 Score)."""

    method: str
    name: str

    @property
    def choice(self) -> str:
        """Its value in the query string: the bare name for the analysis engine's scores, else ``method:name``."""
        return self.name if self.method == METHOD else f"{self.method}:{self.name}"

    @property
    def label(self) -> str:
        """Its display name, and its method's when another method than the analysis engine made it."""
        name = display_name(self.name)
        return name if self.method == METHOD else f"{name} ({display_name(self.method)})"


class NamedSelect(forms.Select):
    """A select whose options show display names and keep their key on hover (``title``)."""

    def create_option(self, name: str, value: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(name, value, *args, **kwargs)
        if value:
            option["attrs"]["title"] = str(value)
        return option


class NamedSelectMultiple(NamedSelect, forms.SelectMultiple):
    """``NamedSelect`` choosing several."""


def named_choices(keys: list[str]) -> list[tuple[str, str]]:
    """Choices of score keys or label sources, each shown by its display name."""
    return [(key, display_name(key)) for key in keys]


def project_score_keys(project: Project) -> list[ScoreKey]:
    """The trace-level scores the project's traces have had, by name (one small query)."""
    return [ScoreKey(method, name) for method, name in score_names(project)]


class RunChoiceField(forms.ModelChoiceField):
    """A run shown by number and name, so two runs with the same name stay apart."""

    def label_from_instance(self, obj: Run) -> str:
        return f"#{obj.pk} {obj}"


class TraceFilterForm(forms.Form):
    """The trace-list filters and the keyset cursor, read from the query string.

    Every field is optional; an invalid value is a form error shown above the results (never a 500).
    The model and run choices are limited to the project, so an id from another project is invalid.
    """

    q = forms.CharField(
        label="Text", required=False, max_length=200, strip=True,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Search problem and completion"}),
    )
    model = forms.ModelChoiceField(queryset=LanguageModel.objects.none(), required=False, empty_label="any")
    run = RunChoiceField(queryset=Run.objects.none(), required=False, empty_label="any")
    correct = forms.ChoiceField(
        label="Correct", required=False,
        choices=[ANY, ("yes", "correct"), ("no", "incorrect"), ("undetermined", "undetermined")],
    )
    finish_reason = forms.ChoiceField(label="Finish", required=False, choices=[ANY, *FinishReason.choices])
    labeled = forms.ChoiceField(label="Labels", required=False, choices=[ANY, ("yes", "labeled"), ("no", "unlabeled")])
    score = forms.ChoiceField(label="Score", required=False, widget=NamedSelect)
    score_min = forms.FloatField(label="Min", required=False, widget=forms.NumberInput(attrs={"step": "any"}))
    score_max = forms.FloatField(label="Max", required=False, widget=forms.NumberInput(attrs={"step": "any"}))
    order = forms.ChoiceField(label="Order", required=False, choices=[("", "newest first"), *SCORE_ORDERS.items()])
    after = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    after_value = forms.FloatField(required=False, widget=forms.HiddenInput)

    #: The fields that are ``TraceQuerySet.filtered``'s keyword arguments.
    QUERYSET_FILTERS = ("q", "model", "run", "correct", "finish_reason", "labeled")

    def __init__(self, data: Any, *, project: Project) -> None:
        super().__init__(data)
        self.project = project
        self.fields["model"].queryset = project_models(project)  # type: ignore[attr-defined]  # the stubs type form fields as Field
        self.fields["run"].queryset = trace_runs(project)  # type: ignore[attr-defined]  # the stubs type form fields as Field
        # A callable: the query runs when the choices are first read (validation or rendering), once.
        self.fields["score"].choices = self.score_choices  # type: ignore[attr-defined]  # the stubs type form fields as Field

    @cached_property
    def score_keys(self) -> list[ScoreKey]:
        """The trace-level scores the project's traces have, by name then method (one query, on first use)."""
        return project_score_keys(self.project)

    def score_choices(self) -> list[tuple[str, str]]:
        return [("", "none"), *((key.choice, key.label) for key in self.score_keys)]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("score") and self.narrows_by_score_fields(data):
            self.add_error("score", "Choose a score to filter or sort by.")
        low, high = data.get("score_min"), data.get("score_max")
        if low is not None and high is not None and low > high:
            self.add_error("score_max", f"Max ({high:g}) is below min ({low:g}).")
        if data.get("order") and data.get("after") is not None and data.get("after_value") is None:
            self.add_error("after_value", "A page cursor in a score order needs the score value of the last row.")
        if data.get("after_value") is not None and not data.get("order"):
            self.add_error("after_value", "A score cursor is only valid in a score order.")
        return data

    @staticmethod
    def narrows_by_score_fields(data: dict[str, Any]) -> bool:
        """Whether ``data`` orders by the score or bounds it (which leaves out traces without it)."""
        return bool(data.get("order")) or data.get("score_min") is not None or data.get("score_max") is not None

    def filters(self) -> dict[str, Any]:
        """The cleaned filters as keyword arguments of ``TraceQuerySet.filtered``."""
        return {name: self.cleaned_data[name] for name in self.QUERYSET_FILTERS}

    @property
    def score_key(self) -> ScoreKey | None:
        """The chosen score (a valid form only)."""
        choice = self.cleaned_data["score"]
        return next((key for key in self.score_keys if key.choice == choice), None) if choice else None

    @property
    def score_bounds(self) -> tuple[float | None, float | None]:
        """The min and max typed on the page's scale (step numbers from 1), as stored values."""
        key = self.score_key
        bounds = (self.cleaned_data["score_min"], self.cleaned_data["score_max"])
        if key is None:
            return bounds
        low, high = (None if value is None else stored_score(key.name, value) for value in bounds)
        return low, high

    @property
    def narrows_by_score(self) -> bool:
        """Whether the list keeps only traces with the chosen score: it filters or sorts by it."""
        return self.narrows_by_score_fields(self.cleaned_data)

    @property
    def descending(self) -> bool:
        return self.cleaned_data["order"] == "desc"

    @property
    def score_cursor(self) -> tuple[float, int] | None:
        """The ``(score value, id)`` after which a score-ordered page starts."""
        after = self.cleaned_data["after"]
        return None if after is None else (self.cleaned_data["after_value"], after)

    @property
    def is_filtering(self) -> bool:
        """Whether any filter (not just the cursor or the score column) narrows the list."""
        return any(value not in (None, "") for value in self.filters().values()) or self.narrows_by_score
