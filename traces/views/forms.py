"""Forms of the browser UI: the trace-list filters (SPEC §4 "trace list with filters")."""

from __future__ import annotations

from typing import Any

from django import forms

from traces.models import FinishReason, LanguageModel, Project, Run

ANY = ("", "any")


class RunChoiceField(forms.ModelChoiceField):
    """A run shown by number and name, so two runs with the same name stay apart."""

    def label_from_instance(self, obj: Run) -> str:  # type: ignore[override]
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
    after = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, data: Any, *, project: Project) -> None:
        super().__init__(data)
        models = LanguageModel.objects.filter(project=project).only("id", "name").order_by("name")
        runs = Run.objects.filter(project=project).only("id", "name", "kind").order_by("-id")
        self.fields["model"].queryset = models  # type: ignore[attr-defined]
        self.fields["run"].queryset = runs  # type: ignore[attr-defined]

    def filters(self) -> dict[str, Any]:
        """The cleaned filters as keyword arguments of ``TraceQuerySet.filtered``."""
        return {name: value for name, value in self.cleaned_data.items() if name != "after"}

    @property
    def is_filtering(self) -> bool:
        """Whether any filter (not just the cursor) narrows the list."""
        return any(value not in (None, "") for value in self.filters().values())
