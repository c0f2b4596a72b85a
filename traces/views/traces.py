"""The trace list and the trace viewer (SPEC §4 browser UI).

The list is one URL for the full page and its two htmx fragments: ``results`` (the filter form
swaps the whole result section) and ``rows`` ("Load more" appends the next page's rows). It is
paginated by keyset on the id (``?after=<id>``, newest first), so page 10 000 costs what page 1
costs: every filter has a ``(project, column, -id)`` index (``traces/models/trace.py``). Ordered
by a score (issue 4 item 5), the cursor is the last row's ``(value, id)``
(``?after=<id>&after_value=<value>``), so ties are neither repeated nor skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, render
from django.views.decorators.vary import vary_on_headers
from django_htmx.middleware import HtmxDetails

from traces import access
from traces.models import Project, Trace
from traces.models.trace import TraceQuerySet
from traces.views.access import member_project
from traces.views.forms import TraceFilterForm
from traces.views.presenters import (
    analysis_of,
    analysis_summary,
    label_chips_by_step,
    markers_of,
    step_rows,
    trace_scores,
    viewer_parts,
)
from traces.views.timing import generation_time

PAGE_SIZE = 50

#: The id of the "Load more" row; an htmx request aimed at it gets the next page's rows only.
LOAD_MORE_TARGET = "load-more"


class HtmxHttpRequest(HttpRequest):
    """A request that passed django-htmx's middleware (the type django-htmx's docs suggest)."""

    htmx: HtmxDetails


@dataclass(frozen=True)
class TracePage:
    """One keyset page of the trace list and the query strings of its navigation links."""

    traces: list[Trace]
    next_query: str | None  # the query string of the next page, None on the last page
    first_query: str | None  # the query string of the first page, None when on it


def wants_fragment(request: HtmxHttpRequest) -> bool:
    """An htmx request that swaps a fragment (not a history restore, which needs the whole page)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def list_template(request: HtmxHttpRequest) -> str:
    """The whole page, the result section (filters changed) or the next rows ("Load more")."""
    if not wants_fragment(request):
        return "traces/trace_list.html"
    if request.htmx.target == LOAD_MORE_TARGET:
        return "traces/trace_list.html#rows"
    return "traces/trace_list.html#results"


CURSOR_PARAMS = ("after", "after_value")


def with_cursor(query: QueryDict, cursor: dict[str, str]) -> str:
    """``query`` with its cursor replaced by ``cursor`` (removed when it is empty)."""
    params = query.copy()
    for name in CURSOR_PARAMS:
        params.pop(name, None)
    params.update(cursor)
    return params.urlencode()


def cursor_after(trace: Trace, by_score: bool) -> dict[str, str]:
    """The cursor of the page after ``trace``: its id, and its score value in a score order."""
    if by_score:
        return {"after": str(trace.pk), "after_value": repr(trace.score_value)}  # type: ignore[attr-defined]
    return {"after": str(trace.pk)}


def matching_traces(project: Project, form: TraceFilterForm, hidden: Q) -> TraceQuerySet:
    """The project's traces a valid filter form selects, with the chosen score as ``score_value``
    (the list's rows, and the traces a queue is made from); labels ``hidden`` matches do not make a
    trace labeled."""
    matching = Trace.objects.in_project(project).filtered(**form.filters(), hidden=hidden)
    score = form.score_key
    if score is not None:
        low, high = form.score_bounds
        matching = matching.with_score(score.name, score.method, required=form.narrows_by_score, low=low, high=high)
    return matching


def trace_page(project: Project, form: TraceFilterForm, query: QueryDict, hidden: Q) -> TracePage:
    """The page the filter form asks for, without the labels ``hidden`` matches; an invalid form
    yields an empty page (its errors show)."""
    if not form.is_valid():
        return TracePage(traces=[], next_query=None, first_query=None)
    after = form.cleaned_data["after"]
    matching = matching_traces(project, form, hidden).with_list_columns(hidden=hidden)
    by_score = bool(form.cleaned_data["order"])
    if by_score:
        rows = matching.page_by_score(form.score_cursor, PAGE_SIZE + 1, descending=form.descending)
    else:
        rows = matching.page_after(after, PAGE_SIZE + 1)
    traces = rows[:PAGE_SIZE]
    has_more = len(rows) > PAGE_SIZE
    return TracePage(
        traces=traces,
        next_query=with_cursor(query, cursor_after(traces[-1], by_score)) if has_more else None,
        first_query=with_cursor(query, {}) if after is not None else None,
    )


@vary_on_headers("HX-Request", "HX-Target")
@login_required
def trace_list(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The project's traces, filtered and paginated; htmx requests get a fragment only."""
    project = member_project(request, slug)
    form = TraceFilterForm(request.GET, project=project)
    page = trace_page(project, form, request.GET, access.hidden_labels(request.user))
    context = {
        "project": project,
        "form": form,
        "page": page,
        "page_size": PAGE_SIZE,
        "load_more_id": LOAD_MORE_TARGET,
        "score": form.score_key if form.is_valid() else None,
    }
    return render(request, list_template(request), context)


@login_required
def trace_detail(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """One trace: problem, answers, counts, analysis badges, and its marked steps with labels from every source."""
    project = member_project(request, slug)
    trace = get_object_or_404(Trace.objects.in_project(project).for_viewer().select_related("analysis"), pk=pk)
    hidden = access.hidden_labels(request.user)
    annotations = list(trace.annotations.exclude(hidden).select_related("user").order_by("source", "id"))
    analysis = analysis_of(trace)
    markers = markers_of(analysis)
    steps = step_rows(trace)
    parts = viewer_parts(trace, steps, label_chips_by_step(trace, hidden), annotations, markers)
    summary = analysis_summary(trace, analysis, markers, trace_scores(trace), steps) if analysis else None
    context = {"project": project, "trace": trace, "annotations": annotations, "parts": parts, "analysis": summary}
    context["same_problem"] = same_problem_traces(trace)
    context["generation"] = generation_time(trace)
    return render(request, "traces/trace_detail.html", context)


#: At most this many other traces of the problem are offered in the viewer's "Compare with…" menu.
COMPARE_MENU_SIZE = 20


def same_problem_traces(trace: Trace) -> list[Trace]:
    """The other traces of the trace's problem, newest first, for the "Compare with…" menu (issue 6 item 4)."""
    others = Trace.objects.filter(project_id=trace.project_id, problem_id=trace.problem_id).exclude(pk=trace.pk)
    columns = ("id", "sample_index", "is_correct", "grading_method", "model__name")
    return list(others.select_related("model").only(*columns).order_by("-id")[:COMPARE_MENU_SIZE])
