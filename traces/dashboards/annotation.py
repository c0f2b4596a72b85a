"""The annotation dashboard of a project (agreement measures of docs/concepts.md §3.8).

Progress per queue and per annotator, throughput in labelled steps per hour (steps labelled /
hours spent on finished queue assignments), gold accuracy, agreement between people over time
(Krippendorff's alpha, Fleiss' kappa, first-error agreement) and between people and each automatic
label source over time (Cohen's kappa). Counts come from grouped queries; the agreement
coefficients read the ratings of the steps that two or more people labelled (one small integer
each) and hand them to ``traces.analysis.metrics``.

Progress is the queues' current state; the date filter narrows the labelling work (labels,
finished assignments, annotations) by when it was done. Gold sources the reader may not see
(``form.hidden_sources``) are left out of gold accuracy and of people against automatic methods.
"""

from __future__ import annotations

import datetime
from collections import Counter, defaultdict
from itertools import combinations

from django.contrib.auth import get_user_model
from django.db.models import Count, F, Max, Q, Sum
from django.db.models.functions import TruncDay, TruncWeek

from traces.analysis.metrics import (
    accuracy_with_ci,
    cohen_kappa,
    first_error_agreement,
    krippendorff_alpha_ordinal,
    modal_fleiss_kappa,
)
from traces.dashboards.charts import Chart, Column, Dashboard
from traces.dashboards.filters import AnnotationDashboardForm
from traces.models import (
    ADJUDICATED,
    HUMAN,
    AssignmentStatus,
    Label,
    QueueAssignment,
    QueueItem,
    TraceAnnotation,
)

TRUNC = {"day": TruncDay, "week": TruncWeek}


def annotation_dashboard(form: AnnotationDashboardForm) -> Dashboard:
    """Every chart of the annotation dashboard for a valid filter form."""
    project = form.project
    has_queues = QueueItem.objects.filter(queue__project=project).exists()
    has_labels = Label.objects.filter(trace__project=project, source=HUMAN).exists()
    if not has_queues and not has_labels:
        return Dashboard([], empty="No queues and no labels by people in this project yet.")
    names = user_names(form)
    return Dashboard(
        [
            queue_progress_chart(form),
            annotator_chart(form, names),
            throughput_chart(form, names),
            gold_accuracy_chart(form, names),
            agreement_chart(form),
            human_vs_auto_chart(form),
        ]
    )


def user_names(form: AnnotationDashboardForm) -> dict[int, str]:
    members = get_user_model().objects.filter(memberships__project=form.project)
    return dict(members.values_list("id", "username"))


def period_of(moment: datetime.datetime | datetime.date | None) -> str:
    if moment is None:
        return ""
    return (moment.date() if isinstance(moment, datetime.datetime) else moment).isoformat()


def queue_progress_chart(form: AnnotationDashboardForm) -> Chart:
    chart = Chart(
        "queue_progress",
        "Progress per queue",
        "bar",
        [
            Column("queue", "Queue"),
            Column("items", "Items"),
            Column("complete", "Items fully labelled"),
            Column("progress", "Progress", percent=True),
            Column("gold", "Gold items"),
            Column("done", "Assignments done"),
            Column("in_progress", "In progress"),
            Column("skipped", "Skipped"),
        ],
        x="queue",
        y="progress",
        y_label="items fully labelled",
        y_max=1,
        note="An item is fully labelled when as many people as the queue's overlap have finished it.",
    )
    items = (
        QueueItem.objects.filter(queue__project=form.project)
        .order_by()
        .values("queue_id", "queue__name")
        .annotate(
            items=Count("id"),
            complete=Count("id", filter=Q(done_count__gte=F("queue__overlap"))),
            gold=Count("id", filter=~Q(gold_source="")),
        )
        .order_by("queue__name")
    )
    statuses: Counter[tuple[int, str]] = Counter()
    assignments = QueueAssignment.objects.filter(item__queue__project=form.project).order_by()
    for counted in assignments.values("item__queue_id", "status").annotate(n=Count("id")):
        statuses[(counted["item__queue_id"], counted["status"])] = counted["n"]
    for row in items:
        queue = row["queue_id"]
        chart.add(
            {
                "queue": row["queue__name"],
                "items": row["items"],
                "complete": row["complete"],
                "progress": row["complete"] / row["items"],
                "gold": row["gold"],
                "done": statuses[(queue, AssignmentStatus.DONE)],
                "in_progress": statuses[(queue, AssignmentStatus.IN_PROGRESS)],
                "skipped": statuses[(queue, AssignmentStatus.SKIPPED)],
            }
        )
    return chart


def annotator_chart(form: AnnotationDashboardForm, names: dict[int, str]) -> Chart:
    chart = Chart(
        "annotators",
        "Work per annotator and queue",
        "bar",
        [
            Column("annotator", "Annotator"),
            Column("queue", "Queue"),
            Column("done", "Items done"),
            Column("skipped", "Skipped"),
            Column("steps", "Steps labelled"),
            Column("hours", "Hours"),
            Column("steps_per_hour", "Steps per hour"),
        ],
        x="annotator",
        y="done",
        series="queue",
        y_label="items done",
        note="Hours: time from hand-out to submit of finished items; steps: the person's labels on the queue's traces.",
    )
    work = (
        QueueAssignment.objects.filter(form.date_q("finished_at"), item__queue__project=form.project)
        .order_by()
        .values("user_id", "item__queue_id", "item__queue__name")
        .annotate(
            done=Count("id", filter=Q(status=AssignmentStatus.DONE)),
            skipped=Count("id", filter=Q(status=AssignmentStatus.SKIPPED)),
            seconds=Sum("seconds_spent", filter=Q(status=AssignmentStatus.DONE)),
        )
    )
    steps: Counter[tuple[int, int]] = Counter()
    labels = Label.objects.filter(
        form.date_q("created_at"), source=HUMAN, trace__queue_items__queue__project=form.project
    )
    for counted in labels.order_by().values("user_id", "trace__queue_items__queue_id").annotate(n=Count("id")):
        steps[(counted["user_id"], counted["trace__queue_items__queue_id"])] = counted["n"]
    for row in sorted(work, key=lambda r: (names.get(r["user_id"], ""), r["item__queue__name"])):
        labelled = steps[(row["user_id"], row["item__queue_id"])]
        hours = (row["seconds"] or 0) / 3600
        chart.add(
            {
                "annotator": names.get(row["user_id"], f"user {row['user_id']}"),
                "queue": row["item__queue__name"],
                "done": row["done"],
                "skipped": row["skipped"],
                "steps": labelled,
                "hours": hours,
                "steps_per_hour": labelled / hours if hours else None,
            }
        )
    return chart


def throughput_chart(form: AnnotationDashboardForm, names: dict[int, str]) -> Chart:
    """Steps labelled per hour of queue work, per annotator and period."""
    trunc = TRUNC[form.period_value]
    chart = Chart(
        "throughput",
        f"Throughput per {form.period_value} (steps per hour)",
        "line",
        [
            Column("annotator", "Annotator"),
            Column("period", form.period_value.capitalize()),
            Column("steps", "Steps labelled"),
            Column("hours", "Hours on finished items"),
            Column("steps_per_hour", "Steps per hour"),
        ],
        x="period",
        y="steps_per_hour",
        series="annotator",
        y_label="steps per hour",
        note="Steps labelled by people in the period over the hours of the queue items they finished in it.",
    )
    labels = (
        Label.objects.filter(form.date_q("created_at"), source=HUMAN, trace__project=form.project, user__isnull=False)
        .order_by()
        .annotate(period=trunc("created_at"))
        .values("user_id", "period")
        .annotate(n=Count("id"))
    )
    seconds = (
        QueueAssignment.objects.filter(
            form.date_q("finished_at"), item__queue__project=form.project, status=AssignmentStatus.DONE
        )
        .order_by()
        .annotate(period=trunc("finished_at"))
        .values("user_id", "period")
        .annotate(s=Sum("seconds_spent"))
    )
    steps = {(row["user_id"], period_of(row["period"])): row["n"] for row in labels}
    hours = {(row["user_id"], period_of(row["period"])): (row["s"] or 0) / 3600 for row in seconds}
    for user, period in sorted(steps.keys() | hours.keys(), key=lambda key: (names.get(key[0], ""), key[1])):
        n, h = steps.get((user, period), 0), hours.get((user, period), 0.0)
        chart.add(
            {
                "annotator": names.get(user, f"user {user}"),
                "period": period,
                "steps": n,
                "hours": h,
                "steps_per_hour": n / h if h else None,
            }
        )
    return chart


def gold_accuracy_chart(form: AnnotationDashboardForm, names: dict[int, str]) -> Chart:
    """Per annotator: their step labels on gold items that equal the gold source's label, with a 95% CI
    (gold sources the reader may not see left out)."""
    chart = Chart(
        "gold_accuracy",
        "Gold accuracy per annotator (95% Wilson CI)",
        "bar",
        [
            Column("annotator", "Annotator"),
            Column("steps", "Gold steps labelled"),
            Column("agree", "Equal to gold"),
            Column("accuracy", "Gold accuracy", percent=True),
            Column("ci_low", "95% CI low", percent=True),
            Column("ci_high", "95% CI high", percent=True),
        ],
        x="annotator",
        y="accuracy",
        low="ci_low",
        high="ci_high",
        y_label="gold accuracy",
        y_max=1,
    )
    gold_steps = (
        Label.objects.filter(
            form.date_q("created_at"),
            source=HUMAN,
            value__isnull=False,
            trace__queue_items__queue__project=form.project,
            trace__queue_items__gold_source__gt="",
            step__labels__source=F("trace__queue_items__gold_source"),
            step__labels__value__isnull=False,
        )
        .exclude(trace__queue_items__gold_source__in=form.hidden_sources)
        .order_by()
        .values("user_id")
        .annotate(steps=Count("id"), agree=Count("id", filter=Q(value=F("step__labels__value"))))
    )
    for row in sorted(gold_steps, key=lambda r: names.get(r["user_id"], "")):
        acc = accuracy_with_ci(row["agree"], row["steps"])
        chart.add(
            {
                "annotator": names.get(row["user_id"], f"user {row['user_id']}"),
                "steps": row["steps"],
                "agree": row["agree"],
                "accuracy": acc.value,
                "ci_low": acc.low,
                "ci_high": acc.high,
            }
        )
    return chart


def agreement_chart(form: AnnotationDashboardForm) -> Chart:
    """Agreement between people per period: alpha and Fleiss' kappa of step labels, first-error agreement."""
    trunc = TRUNC[form.period_value]
    chart = Chart(
        "agreement",
        f"Agreement between people per {form.period_value}",
        "line",
        [
            Column("measure", "Measure"),
            Column("period", form.period_value.capitalize()),
            Column("items", "Items"),
            Column("value", "Value"),
        ],
        x="period",
        y="value",
        series="measure",
        y_label="agreement",
        note="Steps (traces for first errors) rated by two or more people, by the period of the latest rating; "
        "Fleiss' kappa uses the items with the most common number of ratings (a tie: the larger number), as the "
        "queue's agreement page does. Blank: undefined (one category).",
    )
    human = Label.objects.filter(source=HUMAN, trace__project=form.project, value__isnull=False, user__isnull=False)
    shared_steps = human.order_by().values("step_id").annotate(n=Count("id"), last=Max("created_at")).filter(n__gte=2)
    shared_steps = shared_steps.filter(form.date_q("last")).annotate(period=trunc("last"))
    periods = {row["step_id"]: period_of(row["period"]) for row in shared_steps}
    ratings: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for step_id, value in human.filter(step_id__in=list(periods)).values_list("step_id", "value"):
        ratings[periods[step_id]][step_id].append(value)  # type: ignore[arg-type]  # value__isnull=False above; the stubs type the column as nullable
    for period in sorted(ratings):
        items = list(ratings[period].values())
        chart.add(
            {
                "measure": "Krippendorff's alpha",
                "period": period,
                "items": len(items),
                "value": krippendorff_alpha_ordinal(items),
            }
        )
        fleiss = modal_fleiss_kappa(items)
        chart.add({"measure": "Fleiss' kappa", "period": period, "items": fleiss.items, "value": fleiss.kappa})
    first_errors: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    for period, pairs in first_error_pairs(form).items():
        first_errors[period] = pairs
    for period in sorted(first_errors):
        a, b = first_errors[period]
        chart.add(
            {
                "measure": "first-error agreement",
                "period": period,
                "items": len(a),
                "value": first_error_agreement(a, b),
            }
        )
    return chart


def first_error_pairs(form: AnnotationDashboardForm) -> dict[str, tuple[list[int], list[int]]]:
    """Every pair of people's first-error steps on the same trace, by the period of the later one."""
    trunc = TRUNC[form.period_value]
    rows = (
        TraceAnnotation.objects.filter(
            form.date_q("updated_at"), source=HUMAN, trace__project=form.project, first_error_step__isnull=False
        )
        .annotate(period=trunc("updated_at"))
        .order_by("trace_id", "user_id")
        .values_list("trace_id", "first_error_step", "period")
    )
    by_trace: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for trace_id, first_error, period in rows:
        by_trace[trace_id].append((first_error, period_of(period)))  # type: ignore[arg-type]  # first_error_step__isnull=False above; the stubs type the column as nullable
    pairs: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    for marks in by_trace.values():
        for (a, period_a), (b, period_b) in combinations(marks, 2):
            first, second = pairs[max(period_a, period_b)]
            first.append(a)
            second.append(b)
    return pairs


def human_vs_auto_chart(form: AnnotationDashboardForm) -> Chart:
    """Cohen's kappa between each person's step labels and each automatic source's the reader may see, per period."""
    trunc = TRUNC[form.period_value]
    chart = Chart(
        "human_vs_auto",
        f"People against each automatic method per {form.period_value}",
        "line",
        [
            Column("source", "Method"),
            Column("period", form.period_value.capitalize()),
            Column("steps", "Steps compared"),
            Column("agreement", "Same label", percent=True),
            Column("kappa", "Cohen's kappa"),
        ],
        x="period",
        y="kappa",
        series="source",
        y_label="Cohen's kappa",
        note="Every person's label against the method's label on the same step, by the period of the person's label.",
    )
    pairs = (
        Label.objects.filter(trace__project=form.project, value__isnull=False)
        .exclude(source__in=[HUMAN, ADJUDICATED, *form.hidden_sources])
        .filter(form.date_q("step__labels__created_at"), step__labels__source=HUMAN, step__labels__value__isnull=False)
        .order_by()
        .annotate(period=trunc("step__labels__created_at"), human=F("step__labels__value"))
        .values("source", "period", "value", "human")
        .annotate(n=Count("id"))
    )
    grouped: dict[tuple[str, str], list[tuple[int, int, int]]] = defaultdict(list)
    for row in pairs:
        grouped[(row["source"], period_of(row["period"]))].append((row["value"], row["human"], row["n"]))  # type: ignore[arg-type]  # value__isnull=False above; the stubs type the column as nullable
    for (source, period), cells in sorted(grouped.items()):
        auto = [value for value, _, n in cells for _ in range(n)]
        human = [value for _, value, n in cells for _ in range(n)]
        same = sum(n for a, h, n in cells if a == h)
        chart.add(
            {
                "source": chart.named(source),
                "period": period,
                "steps": len(auto),
                "agreement": same / len(auto),
                "kappa": cohen_kappa(auto, human),
            }
        )
    return chart
