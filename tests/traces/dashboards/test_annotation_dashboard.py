"""The annotation dashboard (issue 8 items 2, 5): progress, throughput, gold accuracy and agreement
equal what ``traces.analysis.metrics`` gives on the seeded labels, computed here independently."""

from __future__ import annotations

import pytest
from dashboard_seed import seed_annotation
from django.test import Client
from django.urls import reverse

from traces.analysis.metrics import (
    accuracy_with_ci,
    cohen_kappa,
    first_error_agreement,
    fleiss_kappa,
    krippendorff_alpha_ordinal,
)
from traces.models import HUMAN, Label, Membership, Queue, Role, Trace
from traces.queries.agreement import queue_agreement

pytestmark = pytest.mark.django_db


@pytest.fixture
def annotated(project, owner, make_user, records):
    second = make_user("bob")
    Membership.objects.create(project=project, user=second, role=Role.ANNOTATOR)
    users = [owner, second]
    traces = list(Trace.objects.filter(project=project).order_by("id")[:6])
    return users, seed_annotation(project, users, traces)


def data(client: Client, project, **params: str) -> dict:
    response = client.get(reverse("dashboard-data", args=[project.slug, "annotation"]), params)
    assert response.status_code == 200, response.content
    return response.json()


def chart(payload: dict, chart_id: str) -> dict:
    return next(c for c in payload["charts"] if c["id"] == chart_id)


def test_progress_throughput_and_gold_accuracy(member_client, project, annotated) -> None:
    users, seeded = annotated
    payload = data(member_client, project)
    (queue,) = chart(payload, "queue_progress")["rows"]
    complete = sum(1 for position in range(seeded.queue_items) if position % 3)
    assert (queue["items"], queue["complete"], queue["gold"]) == (seeded.queue_items, complete, 1)
    assert queue["progress"] == pytest.approx(complete / seeded.queue_items)

    throughput = {row["annotator"]: row for row in chart(payload, "throughput")["rows"]}
    gold = {row["annotator"]: row for row in chart(payload, "gold_accuracy")["rows"]}
    for user in users:
        steps = sum(user.pk in by_user for by_user in seeded.human.values())
        hours = seeded.seconds[user.pk] / 3600
        assert throughput[user.username]["steps"] == steps
        assert throughput[user.username]["steps_per_hour"] == pytest.approx(steps / hours)
        right = sum(seeded.human[step][user.pk] == value for step, value in seeded.gold.items())
        expected = accuracy_with_ci(right, len(seeded.gold))
        assert gold[user.username]["accuracy"] == pytest.approx(expected.value)
        assert gold[user.username]["ci_low"] == pytest.approx(expected.low)


def test_agreement_between_people_and_with_methods(member_client, project, annotated) -> None:
    users, seeded = annotated
    payload = data(member_client, project, period="day")
    agreement = {row["measure"]: row for row in chart(payload, "agreement")["rows"]}  # one day: one row each
    items = [list(by_user.values()) for by_user in seeded.human.values()]
    assert agreement["Krippendorff's alpha"]["value"] == pytest.approx(krippendorff_alpha_ordinal(items))
    assert agreement["Fleiss' kappa"]["value"] == pytest.approx(fleiss_kappa(items))
    first = [marks[users[0].pk] for marks in seeded.first_errors.values()]
    second = [marks[users[1].pk] for marks in seeded.first_errors.values()]
    assert agreement["first-error agreement"]["value"] == pytest.approx(first_error_agreement(first, second))

    kappas = chart(payload, "human_vs_auto")
    methods = {kappas["keys"][row["source"]]: row for row in kappas["rows"]}  # display names, keys on hover
    assert set(methods) == {"mc_rollout", "import:gold"}  # every automatic source, the gold import included
    assert methods["mc_rollout"]["source"] == "Monte Carlo rollouts"
    auto = methods["mc_rollout"]
    pairs = [(seeded.auto[step], value) for step, by_user in seeded.human.items() for value in by_user.values()]
    assert auto["steps"] == len(pairs)
    assert auto["kappa"] == pytest.approx(cohen_kappa([a for a, _ in pairs], [h for _, h in pairs]))
    assert auto["agreement"] == pytest.approx(sum(a == h for a, h in pairs) / len(pairs))


def test_the_dashboard_and_the_queue_page_give_the_same_fleiss_kappa(
    member_client, project, owner, make_user, records
) -> None:
    """Half the steps rated by three people, half by two: a tie between the counts, which both pages
    break the same way (the larger), whatever order the database returns the ratings in."""
    people = [owner, make_user("bob"), make_user("carol")]
    for person in people[1:]:
        Membership.objects.create(project=project, user=person, role=Role.ANNOTATOR)
    traces = list(Trace.objects.filter(project=project).order_by("id")[:6])
    seeded = seed_annotation(project, people, traces)
    first_steps = sorted(seeded.human)[: len(seeded.human) // 2]  # the rows a query meets first
    Label.objects.filter(source=HUMAN, user=people[2], step_id__in=first_steps).delete()

    agreement = {row["measure"]: row for row in chart(data(member_client, project), "agreement")["rows"]}
    queue_page = queue_agreement(Queue.objects.get(project=project), hidden=()).overall
    assert (queue_page.fleiss_raters, queue_page.fleiss_steps) == (3, len(seeded.human) - len(first_steps))
    assert agreement["Fleiss' kappa"]["items"] == queue_page.fleiss_steps
    assert queue_page.fleiss is not None and agreement["Fleiss' kappa"]["value"] == queue_page.fleiss
    assert agreement["Krippendorff's alpha"]["value"] == pytest.approx(queue_page.alpha)


def test_date_filter_and_empty_state(member_client, project, annotated) -> None:
    payload = data(member_client, project, date_from="2999-01-01")
    assert chart(payload, "throughput")["rows"] == [] and chart(payload, "agreement")["rows"] == []
    assert chart(payload, "queue_progress")["rows"]  # progress is the queues' current state


def test_a_project_without_labels_says_so(member_client, project) -> None:
    assert data(member_client, project)["empty"] == "No queues and no labels by people in this project yet."
    response = member_client.get(reverse("dashboard-csv", args=[project.slug, "annotation"]), {"chart": "agreement"})
    assert response.status_code == 400


def test_the_period_select_shows_the_period_the_charts_use(member_client, project, annotated) -> None:
    """Without ?period= the series are weekly, and the select shows that (it once showed "Day")."""
    page = member_client.get(reverse("dashboard", args=[project.slug, "annotation"])).content.decode()
    select = page[page.index('name="period"') :]
    first_option = select[select.index("<option") : select.index("</option>")]
    assert 'value="week"' in first_option  # a select with nothing chosen shows its first option
    assert chart(data(member_client, project), "throughput")["title"] == "Throughput per week (steps per hour)"
