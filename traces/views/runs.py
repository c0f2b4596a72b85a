"""Runs in the browser UI (docs/concepts.md §4 "job pages with live progress").

* ``runs/``: every job of a project (generations, imports, exports, automatic labelings), newest
  first, a page at a time, each with its status and progress bar.
* ``runs/new/``: the generation form: a model, the problems (a dataset, a number of them, or ids;
  the first 4 by default), ``n`` and the sampling parameters, with an estimate of how long the run
  may take at the model's measured rate (refreshed by htmx as the fields change); a run that may take
  over 10 minutes starts only once confirmed. It starts the run (``do_start_generation``) and
  redirects to its job page.
* ``runs/<pk>/``: the job page. While the job is active, its ``progress`` fragment polls itself with
  htmx every second: progress bar, traces done (with the engine's batch in flight), tokens/s,
  elapsed time and ETA, an import's analysis progress; then the report in words
  (``job_reports.py``): counts, problems with their reasons, one outcome per trace and the settings;
  cancel and resume buttons for those allowed to start runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from traces import access
from traces.actions.generation import (
    CONFIRM_OVER_SECONDS,
    Estimate,
    GenerationError,
    do_cancel_run,
    do_start_generation,
    estimate_run,
    select_problem_ids,
)
from traces.actions.imports import source_name
from traces.actions.resume import do_resume, resumable
from traces.actions.runs import ACTIVE
from traces.backends import SamplingParams
from traces.models import LanguageModel, Project, Run, RunKind, RunStatus
from traces.queries.projects import generating_models, problem_sources
from traces.queries.runs import project_runs
from traces.views.access import member_project
from traces.views.job_reports import display_status, job_report
from traces.views.loss_chart import loss_chart
from traces.views.requests import SignedInRequest
from traces.views.traces import wants_fragment

RUNS_PER_PAGE = 25


@dataclass(frozen=True)
class EngineCall:
    """The engine's call in flight (``LiveProgress``): completions done of its total, for how long."""

    done: int
    total: int
    seconds: float


@dataclass(frozen=True)
class Progress:
    """What a job page shows of a run's progress at ``now``; ``done`` counts the units committed,
    ``percent``, ``eta`` and ``tokens`` also what the engine's call in flight has done."""

    done: int
    total: int
    moving: float
    percent: float | None
    elapsed: timedelta | None
    eta: timedelta | None
    tokens_per_second: float | None
    tokens: int
    engine: EngineCall | None


def progress_of(run: Run, now: datetime) -> Progress:
    """Progress, elapsed wall time, ETA (from the rate so far) and generation speed of ``run``."""
    report = run.report if isinstance(run.report, dict) else {}
    engine = report.get("engine") if run.status == RunStatus.RUNNING else None
    done, total = run.progress_done, run.progress_total
    moving = done + (engine["done"] / engine["total"] * engine["units"] if engine and engine["total"] else 0)
    end = run.finished_at or now
    elapsed = end - run.started_at if run.started_at else None
    eta = None
    if run.status == RunStatus.RUNNING and elapsed and 0 < moving < total:
        eta = elapsed * ((total - moving) / moving)
    return Progress(
        done=done,
        total=total,
        moving=moving,
        percent=round(100 * min(moving, total) / total, 1) if total else None,
        elapsed=elapsed,
        eta=eta,
        tokens_per_second=_speed(run, report, engine, elapsed),
        tokens=run.tokens_generated + (int(engine.get("tokens", 0)) if engine else 0),
        engine=_engine_call(engine, now) if engine else None,
    )


def _engine_call(engine: dict[str, Any], now: datetime) -> EngineCall:
    """The engine's call in flight, for as long as it has worked until ``now`` (the row is only
    written after each engine batch, so a long batch still shows its time passing)."""
    seconds = (now - datetime.fromisoformat(engine["started"])).total_seconds()
    return EngineCall(engine["done"], engine["total"], max(seconds, float(engine["seconds"])))


def _speed(run: Run, report: dict[str, Any], engine: dict[str, Any] | None, elapsed: timedelta | None) -> float | None:
    """Tokens per second: of the engine's call in flight once it has finished a batch, else of the
    generation's engine time so far, else of the run's wall time."""
    if engine and engine.get("tokens") and engine.get("seconds"):
        return round(engine["tokens"] / engine["seconds"], 1)
    if report.get("tokens_per_second"):
        return float(report["tokens_per_second"])
    if run.tokens_generated and elapsed and elapsed.total_seconds() > 0:
        return round(run.tokens_generated / elapsed.total_seconds(), 1)
    return None


# --- The generation form -------------------------------------------------------------------------


class GenerationForm(forms.Form):
    """Model × problems × n with sampling parameters (docs/concepts.md §1 Run)."""

    model = forms.ModelChoiceField(queryset=LanguageModel.objects.none(), empty_label=None)
    dataset = forms.ChoiceField(required=False, help_text="problems of one source dataset; empty: every problem")
    limit = forms.IntegerField(
        required=False, min_value=1, initial=4, help_text="the first N problems of the selection; empty: all of them"
    )
    problem_ids = forms.CharField(
        required=False, label="Problem ids", help_text="comma-separated; overrides the dataset"
    )
    n = forms.IntegerField(label="Samples per problem (n)", min_value=1, max_value=256, initial=1)
    temperature = forms.FloatField(min_value=0.0, max_value=5.0, initial=0.7)
    top_p = forms.FloatField(label="top_p", min_value=0.01, max_value=1.0, initial=0.95)
    max_new_tokens = forms.IntegerField(label="Max new tokens", min_value=1, max_value=131_072, initial=256)
    seed = forms.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    name = forms.CharField(required=False, max_length=200)

    def __init__(self, data: Any, *, project: Project, starting: bool = False) -> None:
        """``starting``: the form starts the run, so a long one needs ``confirm`` (the box the
        estimate shows beside the button); otherwise it only estimates."""
        super().__init__(data)
        self.project = project
        self.starting = starting
        self.estimate: Estimate | None = None
        self.fields["model"].queryset = generating_models(project)  # type: ignore[attr-defined]  # the stubs type form fields as Field
        self.fields["dataset"].choices = [  # type: ignore[attr-defined]  # the stubs type form fields as Field
            ("", "All problems"),
            *((source, f"{source or '(no source)'} — {count} problems") for source, count in problem_sources(project)),
        ]

    def clean_problem_ids(self) -> list[int]:
        raw = self.cleaned_data.get("problem_ids", "")
        try:
            return [int(part) for part in raw.replace(" ", "").split(",") if part]
        except ValueError:
            raise forms.ValidationError("problem ids are whole numbers separated by commas") from None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            data["params"] = SamplingParams(
                max_new_tokens=data["max_new_tokens"],
                temperature=data["temperature"],
                top_p=data["top_p"],
                n=data["n"],
                seed=data.get("seed"),
            )
            data["selected"] = select_problem_ids(
                self.project, source=data.get("dataset", ""), problem_ids=data["problem_ids"], limit=data.get("limit")
            )
        except GenerationError as error:
            self.reject(error)
        except ValueError as error:
            self.add_error(None, str(error))
        else:
            self.estimate = estimate_run(data["model"], len(data["selected"]) * data["n"], data["params"])
            if self.starting and self.estimate.needs_confirmation and not self.confirmed:
                self.add_error(None, f"This run may take over {CONFIRM_OVER_SECONDS // 60} minutes: tick "
                                     "“Start it even if it takes long” below to start it.")  # fmt: skip
        return data

    @property
    def confirmed(self) -> bool:
        """Whether the person confirmed a run that may take long."""
        return self.is_bound and bool(self.data.get("confirm"))

    def reject(self, error: GenerationError) -> None:
        """Show a refused request beside its field (above the form for one it lacks)."""
        self.add_error(error.field if error.field in self.fields else None, error.message)


# --- Views ---------------------------------------------------------------------------------------


@login_required
def run_list(request: SignedInRequest, slug: str) -> HttpResponse:
    """Every job of the project, newest first, a page at a time; ``?kind=`` keeps one kind."""
    project = member_project(request, slug)
    kind = request.GET.get("kind", "")
    page = Paginator(project_runs(project, kind), RUNS_PER_PAGE).get_page(request.GET.get("page"))
    now = timezone.now()
    context = {
        "project": project,
        "page": page,
        "rows": [(run, progress_of(run, now), display_status(run)) for run in page],
        "kinds": RunKind.choices,
        "kind": kind,
        "can_generate": access.can(project, request.user, access.Action.GENERATE),
        "can_import": access.can(project, request.user, access.Action.IMPORT),
    }
    return render(request, "traces/run_list.html", context)


@vary_on_headers("HX-Request")
@login_required
def run_form(request: SignedInRequest, slug: str) -> HttpResponse:
    """The generation form; a valid POST starts the run and redirects to its job page; an htmx GET
    with the form's fields gets the ``estimate`` fragment."""
    project = member_project(request, slug)
    if not access.can(project, request.user, access.Action.GENERATE):
        context = {"project": project, "forbidden": f"your role in '{project.slug}' does not allow starting runs"}
        return render(request, "traces/run_form.html", context, status=403)
    if request.method != "POST" and wants_fragment(request):
        estimating = GenerationForm(request.GET, project=project)
        estimating.is_valid()
        context = {"project": project, "estimate": estimating.estimate, "confirmed": estimating.confirmed}
        return render(request, "traces/run_form.html#estimate", context)
    starting = request.method == "POST"
    form = GenerationForm(request.POST if starting else None, project=project, starting=starting)
    if starting and form.is_valid():
        data = form.cleaned_data
        try:
            run = do_start_generation(
                project,
                data["model"],
                data["selected"],
                data["params"],
                name=data["name"],
                user=request.user,
            )
        except GenerationError as error:
            form.reject(error)
        else:
            return redirect("job-detail", slug=project.slug, pk=run.pk)
    has_models = form.fields["model"].queryset.exists()  # type: ignore[attr-defined]  # the stubs type form fields as Field
    context = {
        "project": project,
        "form": form,
        "has_models": has_models,
        "estimate": form.estimate,
        "confirmed": form.confirmed,
    }
    return render(request, "traces/run_form.html", context, status=400 if form.errors else 200)


def first_estimate(run: Run, progress: Progress) -> Estimate | None:
    """Before a generation's first engine batch ends (no rate of its own yet), the longest the rest
    may take at the model's measured rate."""
    if run.kind != RunKind.GENERATION or run.status != RunStatus.RUNNING or progress.moving or run.model is None:
        return None
    return estimate_run(run.model, progress.total - progress.done, SamplingParams.from_dict(run.params))


def run_of(request: HttpRequest, slug: str, pk: int) -> Run:
    """Run ``pk`` of a project the user is a member of, else 404."""
    project = member_project(request, slug)
    return get_object_or_404(Run.objects.select_related("project", "model", "created_by"), project=project, pk=pk)


@vary_on_headers("HX-Request")
@login_required
def run_detail(request: SignedInRequest, slug: str, pk: int) -> HttpResponse:
    """A job's page; htmx polls get its ``progress`` fragment. Exports keep their own page (files)."""
    run = run_of(request, slug, pk)
    if run.kind == RunKind.EXPORT:
        return redirect("export-job", slug=slug, pk=pk)
    progress = progress_of(run, timezone.now())
    context = {
        "project": run.project,
        "run": run,
        "progress": progress,
        "first_estimate": first_estimate(run, progress),
        "active": run.status in ACTIVE,
        "can_generate": access.can(run.project, request.user, access.Action.GENERATE),
        "resumable": resumable(run),
        "source_name": source_name(run),
        "report": job_report(run),
        "problem_count": len(run.params.get("problem_ids", [])),
        "loss": loss_chart(run.report.get("loss", []), run.progress_total) if run.kind == RunKind.PRM_TRAINING else None,
    }
    template = "traces/run_detail.html#progress" if wants_fragment(request) else "traces/run_detail.html"
    return render(request, template, context)


@require_POST
@login_required
def run_cancel(request: SignedInRequest, slug: str, pk: int) -> HttpResponse:
    """Cancel a queued or running job (reviewers and owners)."""
    return _control(request, slug, pk, do_cancel_run)


@require_POST
@login_required
def run_resume(request: SignedInRequest, slug: str, pk: int) -> HttpResponse:
    """Resume a cancelled or failed generation run where it stopped, or an import's stopped analysis
    (reviewers and owners)."""
    return _control(request, slug, pk, do_resume)


def _control(request: HttpRequest, slug: str, pk: int, action: Any) -> HttpResponse:
    run = run_of(request, slug, pk)
    if not access.can(run.project, request.user, access.Action.GENERATE):
        return HttpResponse("Your role does not allow controlling runs.", status=403, content_type="text/plain")
    action(run)
    return redirect(reverse("job-detail", kwargs={"slug": slug, "pk": pk}))
