"""The PRM page of a project: its scorers, training one and scoring traces with one (docs/concepts.md §5).

``p/<slug>/prms/`` lists the scorers the project may use (those trained here and the operator's
folders), with a "Train a PRM" form whose defaults train the embedded SmolLM2 on people's labels in
about a minute, and per scorer a "Score traces" form (a run's traces, or every trace). Submitting
starts the job (``traces.actions.prm_training`` or ``prm_scoring``) and opens its job page, where
the loss curve or the scores come in. Reading the page is for every member; starting jobs for
reviewers and owners (``Action.GENERATE``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import redirect, render

from traces import access
from traces.actions.auto_labels import Selection
from traces.actions.exports import ExportFilters, RequestRejected, build_policy
from traces.actions.models import usable_endpoints
from traces.actions.prm_scorers import TRAINED, usable_scorers
from traces.actions.prm_scoring import DEFAULT_THRESHOLD, ScoringSpec, do_start_scoring
from traces.actions.prm_training import DEFAULT_POLICY, TrainingSpec, do_start_training
from traces.exports.policy import ADJUDICATED, ADJUDICATED_ELSE_HUMAN, HUMAN, HUMAN_ELSE_AUTO, AfterError, Neutral
from traces.models import Label, Project, Run, RunKind, TrainedPrm, is_auto_source
from traces.queries.evaluation import label_sources
from traces.views.access import member_project
from traces.views.forms import NamedSelect, RunChoiceField, named_choices
from traces.views.requests import SignedInRequest

RECENT_JOBS = 10
DEFAULTS = TrainingSpec()


def trace_runs(project: Project) -> Any:
    """The runs whose traces a job may take: generations and imports, newest first."""
    return Run.objects.filter(project=project, kind__in=[RunKind.GENERATION, RunKind.IMPORT]).order_by("-id")


class TrainForm(forms.Form):
    """A PRM training (docs/concepts.md §5.2): its labels, its traces, its base model and knobs."""

    name = forms.CharField(required=False, max_length=64, help_text="empty: prm-<job number>")
    sources = forms.ChoiceField(label="Labels from", widget=NamedSelect, initial=DEFAULT_POLICY.sources)
    auto_method = forms.ChoiceField(label="Automatic method", required=False, widget=NamedSelect,
                                    help_text="for “People, else an automatic method”")  # fmt: skip
    neutral = forms.ChoiceField(label="A neutral (0) step counts as", initial=DEFAULT_POLICY.neutral.value,
                                choices=[(Neutral.POSITIVE.value, "right"), (Neutral.NEGATIVE.value, "wrong"),
                                         (Neutral.DROP.value, "left out")])  # fmt: skip
    after_error = forms.ChoiceField(label="Steps after the first error", initial=DEFAULT_POLICY.after_error.value,
                                    choices=[(AfterError.CUT.value, "left out (PRM convention)"),
                                             (AfterError.KEEP.value, "kept")])  # fmt: skip
    run = RunChoiceField(label="Traces of", queryset=Run.objects.none(), required=False, empty_label="every run")
    base = forms.ChoiceField(label="Base model (endpoint)", help_text="an operator's transformers endpoint; its device is used")
    max_steps = forms.IntegerField(label="Optimizer steps", min_value=1, max_value=100_000, initial=DEFAULTS.max_steps)
    learning_rate = forms.FloatField(label="Learning rate", min_value=1e-8, max_value=1.0, initial=DEFAULTS.learning_rate)
    batch_size = forms.IntegerField(label="Batch size", min_value=1, max_value=256, initial=DEFAULTS.batch_size)
    max_length = forms.IntegerField(label="Max tokens per trace", min_value=16, max_value=32_768, initial=DEFAULTS.max_length)
    trainable_layers = forms.IntegerField(label="Trained blocks", min_value=0, max_value=1000, initial=DEFAULTS.trainable_layers,
                                          help_text="the top N transformer blocks and the head; 0 trains every layer")  # fmt: skip

    def __init__(self, data: Any, *, project: Project) -> None:
        super().__init__(data)
        present = label_sources(project)
        autos = [source for source in present if is_auto_source(source)]
        self.fields["sources"].choices = named_choices([ADJUDICATED_ELSE_HUMAN, HUMAN, ADJUDICATED, *autos, HUMAN_ELSE_AUTO])  # type: ignore[attr-defined]  # the stubs type form fields as Field
        self.fields["auto_method"].choices = [("", "—"), *named_choices(autos)]  # type: ignore[attr-defined]  # the stubs type form fields as Field
        self.fields["run"].queryset = trace_runs(project)  # type: ignore[attr-defined]  # the stubs type form fields as Field
        bases = [e.name for e in usable_endpoints(project) if e.backend == "transformers"]
        self.fields["base"].choices = [(name, name) for name in bases]  # type: ignore[attr-defined]  # the stubs type form fields as Field
        self.fields["base"].initial = DEFAULTS.base

    def spec(self) -> tuple[TrainingSpec, Selection]:
        """The training and its traces (a valid form); RequestRejected for a policy that cannot be."""
        data = self.cleaned_data
        policy = build_policy(
            sources=data["sources"], auto_method=data["auto_method"], neutral=data["neutral"], after_error=data["after_error"]
        )
        knobs = ("max_steps", "learning_rate", "batch_size", "max_length", "trainable_layers")
        spec = TrainingSpec(name=data["name"].strip(), base=data["base"], policy=policy, **{k: data[k] for k in knobs})
        return spec, Selection(ExportFilters(run=data["run"].pk if data["run"] else None))


class ScoreForm(forms.Form):
    """PRM scores of every step of a run's traces (docs/concepts.md §5.3)."""

    scorer = forms.CharField(widget=forms.HiddenInput)
    run = RunChoiceField(label="Traces of", queryset=Run.objects.none(), required=False, empty_label="every run")
    threshold = forms.FloatField(label="Label +1 from", min_value=0.01, max_value=0.99, initial=DEFAULT_THRESHOLD,
                                 help_text="a step scored at least this is labelled right")  # fmt: skip

    def __init__(self, data: Any, *, project: Project, scorer: str = "") -> None:
        scorer = scorer or (data or {}).get("scorer", "")
        super().__init__(data, auto_id=f"id_score_{scorer}_%s", initial={"scorer": scorer})
        runs = trace_runs(project)
        self.fields["run"].queryset = runs  # type: ignore[attr-defined]  # the stubs type form fields as Field
        generation = runs.filter(kind=RunKind.GENERATION).first()
        self.fields["run"].initial = generation.pk if generation else None

    def spec(self) -> tuple[ScoringSpec, Selection]:
        data = self.cleaned_data
        return ScoringSpec(data["scorer"], data["threshold"]), Selection(ExportFilters(run=data["run"].pk if data["run"] else None))


def _labelled_traces(project: Project, hidden: frozenset[str]) -> list[Mapping[str, Any]]:
    """How many traces carry labels of each source the person may see: what a training can learn from."""
    rows = Label.objects.filter(trace__project=project).exclude(source__in=hidden)
    return list(rows.values("source").annotate(traces=Count("trace", distinct=True)).order_by("-traces", "source"))


def _reject(form: forms.Form, rejected: RequestRejected) -> None:
    form.add_error(rejected.field if rejected.field in form.fields else None, rejected.message)


def _start(request: SignedInRequest, project: Project, form: TrainForm | ScoreForm) -> Run | None:
    """Start the job of a valid form; None (the error shown on the form) when it is refused."""
    if not form.is_valid():
        return None
    try:
        if isinstance(form, TrainForm):
            training, selection = form.spec()
            return do_start_training(project, training, selection, user=request.user)
        scoring, selection = form.spec()
        return do_start_scoring(project, scoring, selection, user=request.user)
    except RequestRejected as rejected:
        _reject(form, rejected)
        return None


@login_required
def prm_list(request: SignedInRequest, slug: str) -> HttpResponse:
    """The project's scorers with the training and scoring forms; a valid POST starts the job."""
    project = member_project(request, slug)
    can_start = access.can(project, request.user, access.Action.GENERATE)
    method = request.POST.get("method") if request.method == "POST" else None
    if request.method == "POST" and not can_start:
        return HttpResponse("Your role does not allow starting PRM jobs.", status=403, content_type="text/plain")
    train = TrainForm(request.POST if method == "train" else None, project=project)
    posted_score = ScoreForm(request.POST, project=project) if method == "score" else None
    posted = train if method == "train" else posted_score  # None unless a form was posted
    run = _start(request, project, posted) if posted is not None else None
    if run is not None:
        return redirect("job-detail", slug=project.slug, pk=run.pk)
    scorers = usable_scorers(project)
    trained = {prm.name: prm for prm in TrainedPrm.objects.filter(project=project).select_related("run")}
    rows, matched = [], False
    for scorer in scorers:
        form = ScoreForm(None, project=project, scorer=scorer.name)
        if posted_score is not None and posted_score.data.get("scorer") == scorer.name:
            form, matched = posted_score, True
        rows.append({"scorer": scorer, "trained": trained.get(scorer.name) if scorer.kind == TRAINED else None, "form": form})
    context = {
        "project": project,
        "rows": rows,
        "train": train,
        "can_start": can_start,
        "source_counts": _labelled_traces(project, access.hidden_sources(project, request.user)),
        "score_errors": [] if posted_score is None or matched else [e for errors in posted_score.errors.values() for e in errors],
        "recent": Run.objects.filter(project=project, kind__in=[RunKind.PRM_TRAINING, RunKind.PRM_SCORING])
        .select_related("created_by").order_by("-id")[:RECENT_JOBS],
    }
    errors = train.errors or (posted_score is not None and posted_score.errors)
    return render(request, "traces/prm_list.html", context, status=400 if errors else 200)
