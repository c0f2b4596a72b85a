"""The trace list and the trace viewer (docs/concepts.md §4 browser UI).

The list is one URL for the full page and its two htmx fragments: ``results`` (the filter form
swaps the whole result section) and ``rows`` ("Load more" appends the next page's rows). It is
paginated by keyset on the id (``?after=<id>``, newest first), so page 10 000 costs what page 1
costs: every filter has a ``(project, column, -id)`` index (``traces/models/trace.py``). Ordered
by a score, the cursor is the last row's ``(value, id)``
(``?after=<id>&after_value=<value>``), so ties are neither repeated nor skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, render
from django.views.decorators.vary import vary_on_headers

from traces import access
from traces.models import Project, Trace
from traces.models.trace import TraceQuerySet
from traces.queries.traces import same_problem_traces, step_rows, viewer_traces, visible_annotations
from traces.views.access import member_project
from traces.views.forms import TraceFilterForm
from traces.views.presenters import (
    FirstError,
    LabelChip,
    analysis_of,
    analysis_summary,
    first_error_of,
    label_chips_by_step,
    markers_of,
    trace_scores,
)
from traces.views.requests import HtmxHttpRequest, SignedInRequest
from traces.views.timing import generation_time
from traces.views.windows import TraceWindow, WindowForm, bad_window, text_piece, viewer_rows, viewer_window

PAGE_SIZE = 50

#: The id of the "Load more" row; an htmx request aimed at it gets the next page's rows only.
LOAD_MORE_TARGET = "load-more"


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
        return {"after": str(trace.pk), "after_value": repr(trace.score_value)}  # type: ignore[attr-defined]  # the list query's annotation
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
def trace_list(request: SignedInRequest, slug: str) -> HttpResponse:
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
        # Called by the template only when the list is empty (its query is spared otherwise).
        "can_import": partial(access.can, project, request.user, access.Action.IMPORT),
    }
    return render(request, list_template(request), context)


@vary_on_headers("HX-Request")
@login_required
def trace_detail(request: SignedInRequest, slug: str, pk: int) -> HttpResponse:
    """One trace: problem, answers, counts, analysis badges, and a window of its marked steps with labels
    from every source (``traces.views.windows``); asked for more steps or the rest of a text, that alone."""
    project = member_project(request, slug)
    trace = get_object_or_404(viewer_traces(project), pk=pk)
    hidden = access.hidden_labels(request.user)
    annotations = visible_annotations(trace, hidden)
    analysis = analysis_of(trace)
    markers = markers_of(analysis)
    steps = step_rows(trace)
    window, asked = TraceWindow(trace, steps, markers), WindowForm(request.GET)
    if not asked.is_valid():
        return bad_window(asked)
    labels = label_chips_by_step(trace, hidden)
    if asked.wants_text:
        return text_piece(request, window, asked)
    if asked.wants_steps:
        return viewer_steps(request, window, asked, labels, first_error_of(annotations))
    parts = viewer_window(window, labels, annotations, asked.cleaned_data["start"])
    summary = analysis_summary(trace, analysis, markers, trace_scores(trace), steps) if analysis else None
    context = {"project": project, "trace": trace, "annotations": annotations, "parts": parts, "analysis": summary}
    context |= {"same_problem": same_problem_traces(trace, COMPARE_MENU_SIZE), "problem": window.piece("problem")}
    context["generation"] = generation_time(trace)
    return render(request, "traces/trace_detail.html", context)


def viewer_steps(
    request: HttpRequest,
    window: TraceWindow,
    asked: WindowForm,
    labels: dict[int, list[LabelChip]],
    first_error: FirstError | None,
) -> HttpResponse:
    """The viewer's rows of the window of steps ``asked`` names (in place of the row that hid them)."""
    data = asked.cleaned_data
    items = window.range_items(data["first"], data["start"], data["stop"], data["expand"])
    if items is None:
        raise Http404("no such steps in one part of this trace")
    rows = viewer_rows(window, items, labels, first_error, data["expand"], loaded=True)
    return render(request, "traces/partials/steps.html#rows", {"steps": rows, "first_error": first_error})


#: At most this many other traces of the problem are offered in the viewer's "Compare with…" menu.
COMPARE_MENU_SIZE = 20
