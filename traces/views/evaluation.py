"""The labeller evaluation page of the browser UI (docs/concepts.md §3.8, §4).

Pick a label source (the method) and a reference source among those of the project; the page
shows the ProcessBench figures, the step accuracy and the step confusion matrix
(``traces.queries.evaluation``). Reading only: every member may use it, among the sources they
may see (``traces.access``: a gold source is not offered to annotators and viewers).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render

from traces import access
from traces.actions.exports import RequestRejected
from traces.models import Project
from traces.queries.evaluation import LabellerEvaluation, evaluate_labeller, label_sources
from traces.views.access import member_project
from traces.views.forms import NamedSelect, named_choices
from traces.views.requests import SignedInRequest


class EvaluationForm(forms.Form):
    method = forms.ChoiceField(label="Method (scored)", widget=NamedSelect)
    reference = forms.ChoiceField(label="Reference", widget=NamedSelect)

    def __init__(self, data: Any, *, project: Project, hidden: frozenset[str]) -> None:
        super().__init__(data)
        choices = named_choices([source for source in label_sources(project) if source not in hidden])
        self.fields["method"].choices = choices  # type: ignore[attr-defined]  # the stubs type form fields as Field
        self.fields["reference"].choices = choices  # type: ignore[attr-defined]  # the stubs type form fields as Field


def confusion_rows(evaluation: LabellerEvaluation) -> list[tuple[int, list[int]]]:
    """The confusion matrix as (reference label, counts per method label) rows for the table."""
    if evaluation.confusion is None:
        return []
    return list(zip(evaluation.confusion.labels, map(list, evaluation.confusion.counts), strict=True))


@login_required
def label_evaluation(request: SignedInRequest, slug: str) -> HttpResponse:
    """Score one label source against another over the project's traces."""
    project = member_project(request, slug)
    form = EvaluationForm(request.GET or None, project=project, hidden=access.hidden_sources(project, request.user))
    context: dict[str, Any] = {"project": project, "form": form, "evaluation": None}
    if form.is_valid():
        try:
            evaluation = evaluate_labeller(project, form.cleaned_data["method"], form.cleaned_data["reference"])
        except RequestRejected as rejected:
            form.add_error(rejected.field, rejected.message)
        else:
            context |= {"evaluation": evaluation, "confusion": confusion_rows(evaluation)}
    return render(request, "traces/evaluation.html", context, status=400 if form.errors else 200)
