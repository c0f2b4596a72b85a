"""Start automatic step labels from the browser (docs/concepts.md §3.6, §3.7).

One URL, ``auto-labels/``, for two selections: ``?trace=<id>`` (the trace viewer loads its form
fragment with htmx into its "Automatic labels" panel) or the trace list's filters as the query
string (the list's "Auto-label…" link). It shows a Monte Carlo form (rollout model, K, linear or
binary search), a judge form (judge models, per-step or first-error prompt, self-judging) and a PRM
form (a scorer of the project, the threshold of its labels; docs/concepts.md §5.3); submitting one
starts the job (``traces.actions.auto_labels``, ``traces.actions.prm_scoring``) and redirects to its
job page.
Starting jobs is for reviewers and owners (``Action.GENERATE``).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.vary import vary_on_headers

from traces import access
from traces.actions.auto_labels import (
    DEFAULT_K,
    MAX_K,
    MAX_NEW_TOKENS,
    JudgeSpec,
    McSpec,
    Selection,
    do_start_judge,
    do_start_mc,
    selected_traces,
)
from traces.actions.exports import RequestRejected
from traces.actions.prm_scorers import usable_scorers
from traces.actions.prm_scoring import DEFAULT_THRESHOLD, ScoringSpec, do_start_scoring
from traces.analysis.judges import JUDGE_MODES
from traces.analysis.rollouts import MODES
from traces.models import LanguageModel, Project, Run, Trace
from traces.queries.projects import generating_models
from traces.views.access import member_project
from traces.views.exports import selection_from
from traces.views.forms import TraceFilterForm
from traces.views.requests import SignedInRequest
from traces.views.traces import wants_fragment


class McForm(forms.Form):
    """Monte Carlo step labels (docs/concepts.md §3.6)."""

    model = forms.ModelChoiceField(queryset=LanguageModel.objects.none(), label="Rollout model")
    k = forms.IntegerField(label="K (rollouts per prefix)", min_value=1, max_value=MAX_K, initial=DEFAULT_K)
    mode = forms.ChoiceField(
        choices=[(m, {"linear": "every prefix", "binary": "binary search for the first error"}[m]) for m in MODES]
    )
    max_new_tokens = forms.IntegerField(label="Max new tokens", min_value=1, max_value=MAX_NEW_TOKENS, initial=512)
    temperature = forms.FloatField(min_value=0, max_value=2, initial=0.7)

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        models = generating_models(project)
        self.fields["model"].queryset = models  # type: ignore[attr-defined]  # the stubs type form fields as Field
        first_two = list(models[:2])
        if len(first_two) == 1:  # nothing to choose: preselected (several models stay an explicit choice)
            self.fields["model"].initial = first_two[0]

    def spec(self) -> McSpec:
        data = self.cleaned_data
        return McSpec(data["k"], data["mode"], data["max_new_tokens"], data["temperature"])


class JudgeForm(forms.Form):
    """LLM judge labels (docs/concepts.md §3.7)."""

    judges = forms.ModelMultipleChoiceField(queryset=LanguageModel.objects.none(), help_text="two or more make a panel")
    mode = forms.ChoiceField(
        label="Prompt",
        choices=[
            (m, {"steps": "rate every step", "first_error": "find the first error (ProcessBench)"}[m])
            for m in JUDGE_MODES
        ],
    )
    allow_self_judging = forms.BooleanField(
        required=False, label="Let a model judge its own traces", help_text="off by default (docs/concepts.md §3.7)"
    )
    max_new_tokens = forms.IntegerField(label="Max new tokens", min_value=1, max_value=MAX_NEW_TOKENS, initial=2048)
    temperature = forms.FloatField(min_value=0, max_value=2, initial=0.0)

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["judges"].queryset = generating_models(project)  # type: ignore[attr-defined]  # the stubs type form fields as Field

    def spec(self) -> JudgeSpec:
        data = self.cleaned_data
        return JudgeSpec(
            tuple(model.pk for model in data["judges"]),
            data["mode"],
            data["allow_self_judging"],
            data["max_new_tokens"],
            data["temperature"],
        )


class PrmForm(forms.Form):
    """PRM step scores (docs/concepts.md §5.3): a scorer of the project and its labels' threshold."""

    scorer = forms.ChoiceField(help_text="trained on the PRMs page, or declared by the operator")
    threshold = forms.FloatField(label="Label +1 from", min_value=0.01, max_value=0.99, initial=DEFAULT_THRESHOLD,
                                 help_text="a step scored at least this is labelled right")  # fmt: skip

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["scorer"].choices = [(s.name, s.name) for s in usable_scorers(project)]  # type: ignore[attr-defined]  # the stubs type form fields as Field

    def spec(self) -> ScoringSpec:
        return ScoringSpec(self.cleaned_data["scorer"], self.cleaned_data["threshold"])


def _reject(form: forms.Form, rejected: RequestRejected) -> None:
    """Show a refused request beside its field (above the form for a field it lacks)."""
    form.add_error(rejected.field if rejected.field in form.fields else None, rejected.message)


def _start(request: SignedInRequest, project: Project, form: McForm | JudgeForm | PrmForm, selection: Selection) -> Run | None:
    """Start the job of a valid form; None (the error shown on the form) when it is refused."""
    if not form.is_valid():
        return None
    user = request.user
    try:
        if isinstance(form, McForm):
            return do_start_mc(project, form.cleaned_data["model"], form.spec(), selection, user=user)
        if isinstance(form, PrmForm):
            return do_start_scoring(project, form.spec(), selection, user=user)
        return do_start_judge(project, form.spec(), selection, user=user)
    except RequestRejected as rejected:
        _reject(form, rejected)
        return None


@vary_on_headers("HX-Request")
@login_required
def auto_label_form(request: SignedInRequest, slug: str) -> HttpResponse:
    """The Monte Carlo and judge forms for one trace (``?trace=``) or the list's filtered traces."""
    project = member_project(request, slug)
    trace = None
    if "trace" in request.GET:
        trace = get_object_or_404(Trace.objects.in_project(project), pk=request.GET.get("trace", "").strip() or 0)
    trace_filters = TraceFilterForm(request.GET, project=project)
    template = "traces/auto_label_form.html#forms" if wants_fragment(request) else "traces/auto_label_form.html"
    context: dict[str, Any] = {"project": project, "trace": trace, "query": request.GET.urlencode()}
    try:
        access.require(project, request.user, access.Action.GENERATE)
    except access.PermissionDenied as denied:
        return render(request, template, {**context, "forbidden": str(denied)}, status=403)
    if trace is None and not trace_filters.is_valid():
        return render(request, template, {**context, "trace_filters": trace_filters, "invalid": True}, status=400)
    selection = Selection(trace_ids=(trace.pk,)) if trace else Selection(selection_from(trace_filters))
    method = request.POST.get("method") if request.method == "POST" else None
    mc = McForm(request.POST if method == "mc" else None, prefix="mc", project=project)
    judge = JudgeForm(request.POST if method == "judge" else None, prefix="judge", project=project)
    prm = PrmForm(request.POST if method == "prm" else None, prefix="prm", project=project)
    if method in ("mc", "judge", "prm"):
        posted: dict[str, McForm | JudgeForm | PrmForm] = {"mc": mc, "judge": judge, "prm": prm}
        run = _start(request, project, posted[method], selection)
        if run is not None:
            return redirect("job-detail", slug=project.slug, pk=run.pk)
    context |= {
        "mc": mc,
        "judge": judge,
        "prm": prm,
        "has_scorers": bool(prm.fields["scorer"].choices),  # type: ignore[attr-defined]  # the stubs type form fields as Field
        "filters": selection.filters.as_query(),
        "trace_count": selected_traces(project, selection).count(),
        "has_models": generating_models(project).exists(),
    }
    return render(request, template, context, status=400 if mc.errors or judge.errors or prm.errors else 200)
