"""Export pages of the browser UI (docs/concepts.md §4): the export form and the export job page.

The trace list's "Export…" link opens the form with the list's query string, so the export reads
the traces the list shows. Submitting starts a job (``do_start_export``) and redirects to its
page, which polls its own ``status`` fragment with htmx every 2 s until the job is over, then
shows the download links and the manifest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.vary import vary_on_headers

from traces import access
from traces.actions.exports import (
    POLICY_FIELDS,
    ExportFilters,
    ExportSpec,
    RequestRejected,
    build_policy,
    do_start_export,
    download_name,
    export_file,
    export_file_names,
    export_sources,
    select_traces,
)
from traces.display_names import display_name
from traces.exports.policy import (
    ADJUDICATED,
    ADJUDICATED_ELSE_HUMAN,
    HUMAN,
    HUMAN_ELSE_AUTO,
    AfterError,
    HumanCompletion,
    Neutral,
)
from traces.exports.writers import EXPORT_FORMATS, MANIFEST_NAME
from traces.formats.trl import DEFAULT_STEP_SEPARATOR
from traces.models import Project, Run, RunKind, RunStatus, is_auto_source
from traces.queries.evaluation import label_sources
from traces.queries.runs import project_runs
from traces.views.access import member_project
from traces.views.forms import NamedSelect, TraceFilterForm, named_choices
from traces.views.requests import SignedInRequest
from traces.views.traces import wants_fragment

#: The TRL step separators the form offers (the API and the command take any string).
STEP_SEPARATORS = {"newline": DEFAULT_STEP_SEPARATOR, "blank-line": "\n\n", "space": " "}

#: How many earlier export jobs the form lists.
RECENT_EXPORTS = 10


class ExportForm(forms.Form):
    """Format and label policy of an export (docs/concepts.md §2); the sources offered are the project's."""

    format = forms.ChoiceField(choices=[(name, f"{name} — {f.description}") for name, f in EXPORT_FORMATS.items()])
    sources = forms.ChoiceField(label="Label sources", widget=NamedSelect)
    auto_method = forms.ChoiceField(
        label="Automatic method", required=False, help_text=f"for {display_name(HUMAN_ELSE_AUTO)}", widget=NamedSelect
    )
    neutral = forms.ChoiceField(
        label="Neutral (0) becomes", choices=[(n.value, n.value) for n in Neutral], initial=Neutral.NEGATIVE.value
    )
    after_error = forms.ChoiceField(
        label="Steps after the first error",
        choices=[(AfterError.KEEP.value, "keep"), (AfterError.CUT.value, "cut (TRL convention)")],
        initial=AfterError.KEEP.value,
    )
    human_completion = forms.ChoiceField(
        label="A step a person wrote becomes",
        choices=[
            (HumanCompletion.CORRECT.value, "correct (TRL's PRM800K convention)"),
            (HumanCompletion.UNLABELLED.value, "unlabelled"),
            (HumanCompletion.SKIP.value, "skip the trace"),
        ],
        initial=HumanCompletion.CORRECT.value,
        required=False,
        help_text="PRM800K's human completions: the labeller wrote the step, which has no rating",
    )
    test_fraction = forms.FloatField(
        label="Test fraction", min_value=0.0, max_value=1.0, initial=0.0, help_text="share of problems, in [0, 1)"
    )
    seed = forms.IntegerField(label="Split seed", initial=0, min_value=-(2**63), max_value=2**63 - 1)
    step_separator = forms.ChoiceField(
        label="TRL step separator", choices=[(key, key) for key in STEP_SEPARATORS], initial="newline"
    )

    def __init__(self, data: Any, *, project: Project, filters: ExportFilters) -> None:
        super().__init__(data)
        self.project = project
        self.filters = filters
        present = label_sources(project)
        people = [HUMAN, ADJUDICATED]
        autos = [source for source in present if is_auto_source(source)]
        combined = [ADJUDICATED_ELSE_HUMAN, HUMAN_ELSE_AUTO]
        self.fields["sources"].choices = named_choices([*people, *autos, *combined])  # type: ignore[attr-defined]  # the stubs type form fields as Field
        self.fields["auto_method"].choices = [("", "—"), *named_choices(autos)]  # type: ignore[attr-defined]  # the stubs type form fields as Field

    def clean_human_completion(self) -> str:
        """The choice, or the policy's default when the form did not send one."""
        return str(self.cleaned_data.get("human_completion") or HumanCompletion.CORRECT.value)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            policy = build_policy(**{name: data[name] for name in POLICY_FIELDS})
            separator = STEP_SEPARATORS[data["step_separator"]]
            if not EXPORT_FORMATS[data["format"]].takes_step_separator:
                separator = DEFAULT_STEP_SEPARATOR
            data["spec"] = ExportSpec(data["format"], policy, self.filters, separator)
        except RequestRejected as rejected:
            self.reject(rejected)
        return data

    def reject(self, rejected: RequestRejected) -> None:
        """Show a refused request beside its field (above the form for a field it lacks)."""
        self.add_error(rejected.field if rejected.field in self.fields else None, rejected.message)


def selection_from(form: TraceFilterForm) -> ExportFilters:
    """The trace list's cleaned filters as an export's (model by name, run by id)."""
    filters = form.filters()
    return ExportFilters(
        model=filters["model"].name if filters["model"] else "",
        run=filters["run"].pk if filters["run"] else None,
        correct=filters["correct"],
        finish_reason=filters["finish_reason"],
        labeled=filters["labeled"],
        q=filters["q"],
    )


@login_required
def export_form(request: SignedInRequest, slug: str) -> HttpResponse:
    """The export form for the traces the list's filters (the query string) select."""
    project = member_project(request, slug)
    trace_filters = TraceFilterForm(request.GET, project=project)
    context: dict[str, Any] = {"project": project, "trace_filters": trace_filters, "query": request.GET.urlencode()}
    try:
        access.require(project, request.user, access.Action.EXPORT)
    except access.PermissionDenied as denied:
        return render(request, "traces/export_form.html", {**context, "forbidden": str(denied)}, status=403)
    if not trace_filters.is_valid():
        return render(request, "traces/export_form.html", {**context, "form": None}, status=400)
    filters = selection_from(trace_filters)
    form = ExportForm(request.POST if request.method == "POST" else None, project=project, filters=filters)
    if request.method == "POST" and form.is_valid():
        try:
            run = do_start_export(project, form.cleaned_data["spec"], user=request.user)
        except RequestRejected as rejected:
            form.reject(rejected)
        else:
            return redirect("export-job", slug=project.slug, pk=run.pk)
    recent = project_runs(project, RunKind.EXPORT)[:RECENT_EXPORTS]
    context |= {
        "form": form,
        "filters": filters.as_query(),
        "trace_count": select_traces(project, filters).count(),
        "recent": recent,
    }
    return render(request, "traces/export_form.html", context, status=400 if form.errors else 200)


def export_job_of(request: HttpRequest, slug: str, pk: int) -> Run:
    """The export job ``pk`` of a project the user is a member of, else 404."""
    project = member_project(request, slug)
    return get_object_or_404(
        Run.objects.select_related("project", "created_by"), project=project, kind=RunKind.EXPORT, pk=pk
    )


def downloads(run: Run) -> list[dict[str, Any]]:
    """A finished export's files for the job page: data files with their counts, then the manifest."""
    entries = {entry["split"]: entry for entry in run.report.get("files", [])}
    return [entries.get(name, {"split": name, "name": MANIFEST_NAME}) for name in export_file_names(run)]


#: The manifest's policy keys as people read them on the job page (the key stays on hover).
POLICY_NAMES = {
    "sources": "Labels from",
    "auto_method": "Automatic method",
    "precedence": "Consulted in order",
    "neutral": "A neutral (0) step becomes",
    "after_error": "Steps after the first error",
    "test_fraction": "Test split",
    "seed": "Split seed",
    "split_by": "Split by",
    "human_completion": "A step a person wrote becomes",
}


def policy_rows(policy: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """The recorded label policy as (name, value, key) rows in words: sources by their display names,
    the precedence as a chain, the test share as a percentage, nothing as a dash."""
    rows = []
    for key, value in policy.items():
        if key in ("sources", "auto_method") and value:
            shown = display_name(str(value))
        elif key == "precedence":
            shown = " → ".join(display_name(str(source)) for source in value)
        elif key == "test_fraction":
            shown = f"{float(value):.0%} of problems" if value else "none"
        else:
            shown = "—" if value in (None, "") else str(value)
        rows.append((POLICY_NAMES.get(key, key.replace("_", " ")), shown, key))
    return rows


@vary_on_headers("HX-Request")
@login_required
def export_job(request: SignedInRequest, slug: str, pk: int) -> HttpResponse:
    """An export job's status, manifest and download links; htmx polls get the status fragment."""
    run = export_job_of(request, slug, pk)
    context = {
        "project": run.project,
        "job": run,
        "active": run.status in (RunStatus.QUEUED, RunStatus.RUNNING),
        "files": downloads(run),
        "policy": policy_rows(run.report.get("policy", {})),
    }
    template = "traces/export_detail.html#status" if wants_fragment(request) else "traces/export_detail.html"
    return render(request, template, context)


@login_required
def export_job_file(request: SignedInRequest, slug: str, pk: int, name: str) -> FileResponse:
    """One file of a finished export (a split or the manifest), as an attachment; 403 when the
    export reads a gold source the person may not see."""
    run = export_job_of(request, slug, pk)
    try:
        access.require_visible(run.project, request.user, export_sources(run))
    except access.PermissionDenied as denied:
        raise PermissionDenied(str(denied)) from None
    try:
        path = export_file(run, name)
    except RequestRejected as rejected:
        raise Http404(rejected.message) from None
    return FileResponse(path.open("rb"), as_attachment=True, filename=download_name(run, path))
