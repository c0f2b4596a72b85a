"""Annotation queues in the browser UI (docs/concepts.md §4 "queues").

* ``/p/<slug>/queues/``: the project's queues with their progress; every member reads them.
* ``/p/<slug>/queues/new/?<trace-list filter>``: reviewers and owners make a queue of exactly what the
  trace list shows for that filter (``traces.views.traces.matching_traces``).
* ``/p/<slug>/queues/<id>/``: the items with their status and the per-annotator progress (done,
  skipped, median seconds per item); gold accuracy and which items are gold only for reviewers
  and owners. "Start labeling" (POST) hands the person their next item and opens the labeling page
  in queue context (``?queue=<id>``), where ``n`` submits the item and goes to the next.
* ``…/agreement/``: Krippendorff's alpha, Fleiss' kappa, first-error agreement overall and per pair
  of annotators, and people against every automatic method (``traces.queries.agreement``).
* ``…/adjudicate/`` and ``…/adjudicate/<trace id>/``: reviewers and owners settle the steps people
  disagree on, with optimistic locking (a stale save answers 409 and changes nothing).

Rules: non-members get 404; viewers read (list, detail, agreement) but get 403 on labeling,
adjudicating and making queues; annotators label but get 403 on adjudicating and making queues;
owners open and close queues.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import reswap, retarget

from traces import access
from traces.actions.adjudication import StaleAdjudication, do_adjudicate_step
from traces.actions.labels import LabelError
from traces.actions.queues import (
    MAX_NAME_CHARS,
    MAX_OVERLAP,
    QueueError,
    QueueSpec,
    do_create_queue,
    do_set_queue_open,
    do_skip_item,
    do_submit_item,
    next_item_for,
)
from traces.models import (
    HUMAN,
    AssignmentPolicy,
    LabelValue,
    Project,
    Queue,
    QueueItem,
    Step,
    Trace,
)
from traces.queries.adjudication import StepVerdicts, trace_verdicts, traces_to_adjudicate
from traces.queries.agreement import queue_agreement
from traces.queries.evaluation import label_sources
from traces.queries.queues import (
    annotator_progress,
    current_assignment,
    project_queues,
    queue_items_for,
    queue_progress,
)
from traces.queries.traces import current_steps
from traces.templatetags.thinkscope import rating_text
from traces.views.access import member_project
from traces.views.forms import NamedSelect, TraceFilterForm, named_choices
from traces.views.presenters import shown_span
from traces.views.requests import SignedInRequest
from traces.views.traces import CURSOR_PARAMS, matching_traces

ITEMS_PER_PAGE = 50


def allowed(request: HttpRequest, project: Project, action: access.Action) -> None:
    """403 unless the member's role allows ``action``."""
    try:
        access.require(project, request.user, action)
    except access.PermissionDenied as denied:
        raise PermissionDenied(str(denied)) from None


def queue_target(request: HttpRequest, slug: str, pk: int, action: access.Action) -> tuple[Project, Queue]:
    """The project (404 for non-members, 403 unless the role allows ``action``) and its queue (404 if not in it)."""
    project = member_project(request, slug)
    allowed(request, project, action)
    return project, get_object_or_404(Queue, project=project, pk=pk)


def labeling_url(queue: Queue, item: QueueItem) -> str:
    """The labeling page of an item, in queue context."""
    return reverse("trace-label", args=[queue.project.slug, item.trace_id]) + f"?queue={queue.pk}"


def filter_query(request: HttpRequest) -> dict[str, str]:
    """The trace-list filter of the request's query string (no cursor, no empty values), as a queue keeps it."""
    return {name: value for name, value in request.GET.dict().items() if value and name not in CURSOR_PARAMS}


# --- List and creation -----------------------------------------------------------------------------------


@require_GET
@login_required
def queue_list(request: SignedInRequest, slug: str) -> HttpResponse:
    """The project's queues, newest first, with their progress."""
    project = member_project(request, slug)
    queues = project_queues(project.pk)
    context = {
        "project": project,
        "rows": [(queue, queue_progress(queue)) for queue in queues],
        "can_create": access.can(project, request.user, access.Action.CREATE_QUEUE),
    }
    return render(request, "traces/queue_list.html", context)


class QueueForm(forms.Form):
    name = forms.CharField(max_length=MAX_NAME_CHARS)
    overlap = forms.IntegerField(
        min_value=1, max_value=MAX_OVERLAP, initial=2, help_text="how many people label each trace"
    )
    policy = forms.ChoiceField(choices=AssignmentPolicy.choices, initial=AssignmentPolicy.IN_ORDER)
    gold_source = forms.ChoiceField(
        label="Gold labels",
        required=False,
        help_text="traces with labels of this source become gold items",
        widget=NamedSelect,
    )
    gold_count = forms.IntegerField(label="Gold items", min_value=0, initial=0, required=False)
    instructions = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, data: Any, *, project: Project) -> None:
        super().__init__(data)
        sources = [source for source in label_sources(project) if source != HUMAN]
        self.fields["gold_source"].choices = [("", "— no gold items"), *named_choices(sources)]  # type: ignore[attr-defined]  # the stubs type form fields as Field

    def spec(self) -> QueueSpec:
        data = self.cleaned_data
        return QueueSpec(
            name=data["name"],
            overlap=data["overlap"],
            policy=data["policy"],
            instructions=data["instructions"],
            gold_source=data["gold_source"],
            gold_count=data["gold_count"] or 0,
        )


QUEUE_FIELDS = {"name", "overlap", "policy", "gold_source", "gold_count", "instructions"}


@require_http_methods(["GET", "POST"])
@login_required
def queue_new(request: SignedInRequest, slug: str) -> HttpResponse:
    """Make a queue from the trace-list filter in the query string (reviewers and owners)."""
    project = member_project(request, slug)
    allowed(request, project, access.Action.CREATE_QUEUE)
    filters = TraceFilterForm(request.GET, project=project)
    hidden = access.hidden_labels(request.user)
    form = QueueForm(request.POST if request.method == "POST" else None, project=project)
    if request.method == "POST" and filters.is_valid() and form.is_valid():
        try:
            queue = do_create_queue(
                project,
                request.user,
                form.spec(),
                matching_traces(project, filters, hidden),
                filter_query(request),
            )
        except QueueError as refused:
            field, _, message = str(refused).partition(": ")
            form.add_error(field if field in QUEUE_FIELDS else None, message or str(refused))
        else:
            messages.success(request, f"Queue “{queue.name}” made.")
            return redirect("queue-detail", project.slug, queue.pk)
    context = {
        "project": project,
        "form": form,
        "filters": filters,
        "filter_query": filter_query(request),
        "trace_count": matching_traces(project, filters, hidden).count() if filters.is_valid() else 0,
    }
    return render(request, "traces/queue_form.html", context, status=400 if form.errors or filters.errors else 200)


# --- One queue --------------------------------------------------------------------------------------


@require_GET
@login_required
def queue_detail(request: SignedInRequest, slug: str, pk: int) -> HttpResponse:
    """The queue's items (paginated), progress and per-annotator table, and the person's item in progress
    with its labeling page and its skip button (a trace whose page cannot be used can still be skipped)."""
    project, queue = queue_target(request, slug, pk, access.Action.READ)
    can_label = access.can(project, request.user, access.Action.LABEL)
    page = Paginator(queue_items_for(queue, request.user), ITEMS_PER_PAGE).get_page(request.GET.get("page"))
    is_reviewer = access.can(project, request.user, access.Action.ADJUDICATE)
    context = {
        "project": project,
        "queue": queue,
        "progress": queue_progress(queue),
        "page": page,
        "annotators": annotator_progress(queue),
        "is_reviewer": is_reviewer,
        "can_label": can_label,
        "current": current_assignment(queue, request.user) if can_label else None,
        "can_manage": access.can(project, request.user, access.Action.MANAGE),
    }
    return render(request, "traces/queue_detail.html", context)


@require_POST
@login_required
def queue_next(request: SignedInRequest, slug: str, pk: int) -> HttpResponse:
    """Hand the person their next item and open it; back to the queue when nothing is left for them."""
    _, queue = queue_target(request, slug, pk, access.Action.LABEL)
    return go_to_next(request, queue)


def go_to_next(request: SignedInRequest, queue: Queue) -> HttpResponse:
    item = next_item_for(queue, request.user)
    if item is None:
        closed = "" if queue.is_open else " (the queue is closed)"
        messages.info(request, f"Nothing left for you in “{queue.name}”{closed}. Thank you!")
        return redirect("queue-detail", queue.project.slug, queue.pk)
    return redirect(labeling_url(queue, item))


def finish_item(
    request: SignedInRequest, slug: str, pk: int, item_pk: int, finish: Callable[..., object], done: str
) -> HttpResponse:
    """Submit or skip the person's item, then their next item; a refusal goes back to the item with its message."""
    _, queue = queue_target(request, slug, pk, access.Action.LABEL)
    item = get_object_or_404(QueueItem, queue=queue, pk=item_pk)
    try:
        finish(item, request.user)
    except QueueError as refused:
        messages.error(request, str(refused))
        return redirect(labeling_url(queue, item))
    messages.success(request, f"Item {item.position} {done}.")
    return go_to_next(request, queue)


@require_POST
@login_required
def queue_item_submit(request: SignedInRequest, slug: str, pk: int, item_pk: int) -> HttpResponse:
    """Submit the person's labeling of the item (``n`` in queue context) and go to their next item."""
    return finish_item(request, slug, pk, item_pk, do_submit_item, "submitted")


@require_POST
@login_required
def queue_item_skip(request: SignedInRequest, slug: str, pk: int, item_pk: int) -> HttpResponse:
    """Skip the item (others may take it) and go to the person's next item."""
    return finish_item(request, slug, pk, item_pk, do_skip_item, "skipped")


@require_POST
@login_required
def queue_set_open(request: SignedInRequest, slug: str, pk: int) -> HttpResponse:
    """Close the queue (no more hand-outs) or open it again (owners)."""
    _, queue = queue_target(request, slug, pk, access.Action.MANAGE)
    do_set_queue_open(queue, request.POST.get("open") == "1")
    messages.info(request, f"Queue “{queue.name}” is {'open' if queue.is_open else 'closed'}.")
    return redirect("queue-detail", queue.project.slug, queue.pk)


@require_GET
@login_required
def queue_agreement_page(request: SignedInRequest, slug: str, pk: int) -> HttpResponse:
    """Agreement among the queue's annotators and against every automatic method the person may see."""
    project, queue = queue_target(request, slug, pk, access.Action.READ)
    agreement = queue_agreement(queue, access.hidden_sources(project, request.user))
    context = {"project": project, "queue": queue, "agreement": agreement}
    return render(request, "traces/queue_agreement.html", context)


# --- Adjudication --------------------------------------------------------------------------------------


@require_GET
@login_required
def queue_adjudication(request: SignedInRequest, slug: str, pk: int) -> HttpResponse:
    """The queue's traces with two or more labelers, with how many steps they disagree on (reviewers)."""
    project, queue = queue_target(request, slug, pk, access.Action.ADJUDICATE)
    context = {"project": project, "queue": queue, "traces": traces_to_adjudicate(queue)}
    return render(request, "traces/queue_adjudication.html", context)


class AdjudicationForm(forms.Form):
    step = forms.ModelChoiceField(queryset=Step.objects.none())
    value = forms.TypedChoiceField(choices=LabelValue.choices, coerce=int)
    version = forms.CharField(max_length=64)

    def __init__(self, data: Any, *, trace: Trace) -> None:
        super().__init__(data)
        self.fields["step"].queryset = current_steps(trace)  # type: ignore[attr-defined]  # the stubs type form fields as Field


def with_texts(trace: Trace, steps: list[StepVerdicts]) -> list[tuple[StepVerdicts, str]]:
    """Each step with its text as the labeling page shows it."""
    rows = []
    for step in steps:
        start, end = shown_span(trace.raw_text, step.char_start, step.char_end)
        rows.append((step, trace.raw_text[start:end]))
    return rows


@vary_on_headers("HX-Request")
@require_http_methods(["GET", "POST"])
@login_required
def adjudicate_trace(request: SignedInRequest, slug: str, pk: int, trace_pk: int) -> HttpResponse:
    """Each labeler's values of the steps they disagree on, side by side; one click records the
    adjudicated value. A save made from an outdated page answers 409 and changes nothing."""
    project, queue = queue_target(request, slug, pk, access.Action.ADJUDICATE)
    item = get_object_or_404(QueueItem.objects.select_related("trace__problem"), queue=queue, trace_id=trace_pk)
    trace = item.trace
    status, notice = 200, ""
    if request.method == "POST":
        form = AdjudicationForm(request.POST, trace=trace)
        if not form.is_valid():
            notice, status = "; ".join(f"{name}: {' '.join(map(str, errors))}" for name, errors in form.errors.items()), 400
        else:
            data = form.cleaned_data
            try:
                do_adjudicate_step(request.user, trace, data["step"], data["value"], data["version"])
                notice = f"Step {data['step'].index + 1}: adjudicated {rating_text(data['value'])}."
            except StaleAdjudication as stale:
                notice, status = str(stale), 409
            except LabelError as refused:
                notice, status = str(refused), 400
        if status != 200:
            response = render(
                request, "traces/queue_adjudicate.html#notice", {"notice": notice, "level": "error"}, status=status
            )
            return reswap(retarget(response, "#adjudication-notice"), "outerHTML") if request.htmx else response
        if not request.htmx:
            messages.success(request, notice)
            return redirect("queue-adjudicate-trace", project.slug, queue.pk, trace.pk)
    verdicts = trace_verdicts(trace)
    context = {
        "project": project,
        "queue": queue,
        "item": item,
        "trace": trace,
        "verdicts": verdicts,
        "rows": with_texts(trace, verdicts.disagreeing),
        "notice": notice,
        "level": "ok",
        "choices": [(-1, "−1"), (0, "0"), (1, "+1")],
    }
    template = "traces/queue_adjudicate.html#adjudication" if request.htmx else "traces/queue_adjudicate.html"
    return render(request, template, context)
