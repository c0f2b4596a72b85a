"""Team dashboards in the browser UI: the model comparison and the annotation dashboard.

Each dashboard is three URLs carrying the same filters in the query string: the page (filter form
and empty chart slots, so a filtered dashboard is a link to share), ``data.json`` (every chart's
numbers, which ``static/js/dashboards.js`` draws with Chart.js and writes as a table under each
chart) and ``data.csv?chart=<id>`` (one chart's table). Reading only: every member may open them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse

from traces import access
from traces.dashboards.annotation import annotation_dashboard
from traces.dashboards.charts import Dashboard
from traces.dashboards.filters import DEFAULT_MODELS, AnnotationDashboardForm, DateRangeForm, ModelDashboardForm
from traces.dashboards.model_comparison import model_dashboard
from traces.models import Project
from traces.views.access import member_project
from traces.views.requests import SignedInRequest


@dataclass(frozen=True)
class DashboardKind:
    title: str
    form: type[DateRangeForm]
    build: Callable[..., Dashboard]


KINDS = {
    "models": DashboardKind("Model comparison", ModelDashboardForm, model_dashboard),
    "annotation": DashboardKind("Annotation", AnnotationDashboardForm, annotation_dashboard),
}


def _form(request: HttpRequest, slug: str, kind: str) -> tuple[Project, DateRangeForm]:
    project = member_project(request, slug)
    if kind not in KINDS:
        raise Http404(f"no dashboard {kind!r}")
    hidden = access.hidden_sources(project, request.user)
    return project, KINDS[kind].form(request.GET, project=project, hidden_sources=hidden)


@login_required
def dashboard_page(request: SignedInRequest, slug: str, kind: str) -> HttpResponse:
    """The dashboard's filter form and chart area; the charts load from ``data.json`` with the same query."""
    project, form = _form(request, slug, kind)
    query = request.GET.urlencode()
    context = {
        "project": project,
        "form": form,
        "kind": kind,
        "title": KINDS[kind].title,
        "kinds": {name: spec.title for name, spec in KINDS.items()},
        "data_url": reverse("dashboard-data", args=[slug, kind]) + (f"?{query}" if query else ""),
        "csv_url": reverse("dashboard-csv", args=[slug, kind]),
        "query": query,
        "trace_list_url": reverse("trace-list", args=[slug]),
        "default_models": DEFAULT_MODELS,
    }
    return render(request, "traces/dashboard_page.html", context, status=200 if form.is_valid() else 400)


@login_required
def dashboard_data(request: SignedInRequest, slug: str, kind: str) -> JsonResponse:
    """Every chart of the dashboard as JSON; invalid filters get 400 with the errors by field."""
    _, form = _form(request, slug, kind)
    if not form.is_valid():
        return JsonResponse({"errors": form.query_errors()}, status=400)
    return JsonResponse(KINDS[kind].build(form).as_dict())


@login_required
def dashboard_csv(request: SignedInRequest, slug: str, kind: str) -> HttpResponse:
    """One chart's table (``?chart=<id>``) as CSV, under the same filters."""
    project, form = _form(request, slug, kind)
    if not form.is_valid():
        return HttpResponse(
            "; ".join(f"{k}: {' '.join(v)}" for k, v in form.query_errors().items()),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    chart_id = request.GET.get("chart", "")
    chart = KINDS[kind].build(form).chart(chart_id)
    if chart is None:
        return HttpResponse(
            f"chart: no chart {chart_id!r} in this dashboard", status=400, content_type="text/plain; charset=utf-8"
        )
    response = HttpResponse(chart.csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{project.slug}-{kind}-{chart.id}.csv"'
    return response
