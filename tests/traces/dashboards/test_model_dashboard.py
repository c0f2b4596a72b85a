"""The model comparison dashboard (issue 8 items 1, 3, 5): every figure of data.json equals the
metric functions of ``traces.analysis.metrics`` applied here to the seeded per-trace values."""

from __future__ import annotations

import csv
import io
from bisect import bisect_right
from collections import defaultdict

import pytest
from dashboard_seed import MODELS, Record, seed_models
from django.test import Client
from django.urls import reverse

from traces.analysis.answers import normalize_answer
from traces.analysis.metrics import (
    Sample,
    accuracy_by_length,
    accuracy_with_ci,
    majority_vote,
    mean_pass_at_k,
    problem_solve_rates,
)
from traces.csv_safety import csv_safe
from traces.dashboards.model_comparison import OVERTHINKING_BINS, TOKEN_EDGES, bucket_label
from traces.models import LanguageModel, Project, Run, Trace

pytestmark = pytest.mark.django_db


def data(client: Client, project: Project, **params: str) -> dict:
    response = client.get(reverse("dashboard-data", args=[project.slug, "models"]), params)
    assert response.status_code == 200, response.content
    return response.json()


def chart(payload: dict, chart_id: str) -> dict:
    return next(c for c in payload["charts"] if c["id"] == chart_id)


def rows_by(chart_data: dict, *keys: str) -> dict:
    return {tuple(row[k] for k in keys) if len(keys) > 1 else row[keys[0]]: row for row in chart_data["rows"]}


def graded(records: list[Record], model: str) -> list[Record]:
    return [r for r in records if r.model == model and r.correct is not None]


def test_accuracy_cost_and_pass_at_k_equal_the_metric_functions(member_client, project, records) -> None:
    payload = data(member_client, project)
    accuracy = rows_by(chart(payload, "accuracy"), "model")
    pass_k = rows_by(chart(payload, "pass_at_k"), "model", "k")
    cost = rows_by(chart(payload, "cost"), "model")
    assert set(accuracy) == set(MODELS)
    for model in MODELS:
        mine = graded(records, model)
        expected = accuracy_with_ci(sum(bool(r.correct) for r in mine), len(mine))
        assert accuracy[model]["accuracy"] == pytest.approx(expected.value)
        assert accuracy[model]["ci_low"] == pytest.approx(expected.low)
        assert accuracy[model]["ci_high"] == pytest.approx(expected.high)
        counts: dict[int, list[bool]] = defaultdict(list)
        for r in mine:
            counts[r.problem].append(bool(r.correct))
        pairs = [(len(v), sum(v)) for v in counts.values()]
        ks = sorted(k for (m, k) in pass_k if m == model)
        assert ks == list(range(1, min(n for n, _ in pairs) + 1))
        for k in ks:
            assert pass_k[(model, k)]["pass_at_k"] == pytest.approx(mean_pass_at_k(pairs, k))
        everything = [r for r in records if r.model == model]
        tokens = sum(r.think + r.answer_tokens for r in everything)
        assert cost[model]["tokens_per_correct"] == pytest.approx(tokens / sum(bool(r.correct) for r in mine))


def test_majority_vote_and_difficulty_equal_the_metric_functions(member_client, project, records) -> None:
    payload = data(member_client, project)
    majority = rows_by(chart(payload, "maj_at_k"), "model")
    for model in MODELS:
        by_problem: dict[int, list[Record]] = defaultdict(list)
        for r in sorted(graded(records, model), key=lambda r: r.sample):
            by_problem[r.problem].append(r)
        votes = [
            majority_vote([Sample(r.answer or None, bool(r.correct)) for r in rs], normalize_answer)
            for rs in by_problem.values()
        ]
        expected = accuracy_with_ci(sum(bool(w and w.correct) for w in votes), len(votes))
        assert majority[model]["accuracy"] == pytest.approx(expected.value)
        assert majority[model]["problems"] == len(votes)

    difficulty = chart(payload, "difficulty")
    outcomes: dict[int, list[bool]] = defaultdict(list)
    for r in records:
        if r.correct is not None:
            outcomes[r.problem].append(bool(r.correct))
    rates = problem_solve_rates(outcomes)
    problem_ids = {r.problem: Trace.objects.get(pk=r.id).problem_id for r in records}
    shown = {row["problem"]: row for row in difficulty["rows"]}
    assert len(shown) == len(rates)
    for problem, rate in rates.items():
        assert shown[problem_ids[problem]]["solve_rate"] == pytest.approx(rate)
    hardest = difficulty["rows"][0]
    assert hardest["verdict"] == "every model fails" and hardest["solve_rate"] == 0


def test_token_distributions_and_accuracy_by_length(member_client, project, records) -> None:
    payload = data(member_client, project)
    think = rows_by(chart(payload, "think_tokens"), "model", "bucket")
    by_length = rows_by(chart(payload, "accuracy_by_length"), "model", "bucket")
    for model in MODELS:
        mine = [r for r in records if r.model == model]
        for bucket in range(len(TOKEN_EDGES) + 1):
            n = sum(bisect_right(TOKEN_EDGES, r.think) == bucket for r in mine)
            assert think[(model, bucket_label(bucket))]["traces"] == n
        marked = graded(records, model)
        buckets = accuracy_by_length(
            [r.think + r.answer_tokens for r in marked], [bool(r.correct) for r in marked], TOKEN_EDGES
        )
        for index, bucket in enumerate(buckets):
            row = by_length[(model, bucket_label(index))]
            assert row["graded"] == bucket.n
            assert row["accuracy"] == (pytest.approx(bucket.accuracy.value) if bucket.accuracy else None)


def test_rates_behaviours_and_overthinking_come_from_the_stored_scores(member_client, project, records) -> None:
    payload = data(member_client, project)
    rates = rows_by(chart(payload, "rates"), "model", "measure")
    behaviours = rows_by(chart(payload, "behaviours"), "model", "behaviour")
    assert chart(payload, "behaviours")["keys"]["Verification cues"] == "behaviour_verification"
    overthinking = rows_by(chart(payload, "overthinking"), "model", "bin")
    for model in MODELS:
        mine = [r for r in records if r.model == model]
        measured = [r for r in mine if "think_answer_mismatch" in r.scores]
        expected = sum(r.scores["think_answer_mismatch"] > 0 for r in measured) / len(measured)
        assert rates[(model, "think–answer mismatch")]["rate"] == pytest.approx(expected)
        assert rates[(model, "loops")]["rate"] == pytest.approx(
            sum(r.scores["loop_count"] > 0 for r in mine) / len(mine)
        )
        with_it = [r for r in mine if r.scores["behaviour_verification"] > 0]
        row = behaviours[(model, "Verification cues")]
        assert row["share"] == pytest.approx(len(with_it) / len(mine))
        with_graded = [r for r in with_it if r.correct is not None]
        assert row["accuracy_with"] == pytest.approx(sum(bool(r.correct) for r in with_graded) / len(with_graded))
        bins = [min(int(r.scores["overthinking_ratio"] * OVERTHINKING_BINS), OVERTHINKING_BINS - 1) for r in mine]
        assert overthinking[(model, "0.0–0.1")]["traces"] == bins.count(0)


def test_filters_narrow_every_chart(member_client, project, records) -> None:
    payload = data(member_client, project, dataset="gsm8k")
    accuracy = rows_by(chart(payload, "accuracy"), "model")
    for model in MODELS:
        mine = [r for r in graded(records, model) if r.problem % 2]
        assert accuracy[model]["graded"] == len(mine)
        assert accuracy[model]["correct"] == sum(bool(r.correct) for r in mine)
    other = Run.objects.create(project=project, kind="generation", name="empty run")
    assert data(member_client, project, run=str(other.pk))["empty"]
    assert data(member_client, project, date_from="2999-01-01")["empty"] == "No traces match these filters."


def test_bad_filters_get_400_naming_the_field(member_client, project, records) -> None:
    url = reverse("dashboard-data", args=[project.slug, "models"])
    response = member_client.get(url, {"date_from": "2026-02-10", "date_to": "2026-02-01"})
    assert response.status_code == 400 and "date_to" in response.json()["errors"]
    response = member_client.get(url, {"run": "999999"})
    assert response.status_code == 400 and "run" in response.json()["errors"]
    page = member_client.get(reverse("dashboard", args=[project.slug, "models"]), {"date_from": "not a date"})
    assert page.status_code == 400 and b"Enter a valid date" in page.content


def test_csv_is_the_chart_table(member_client, project, records) -> None:
    url = reverse("dashboard-csv", args=[project.slug, "models"])
    response = member_client.get(url, {"chart": "accuracy", "dataset": "math500"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(response.content.decode())))
    assert lines[0][:3] == ["Model", "Traces", "Graded"]
    json_rows = chart(data(member_client, project, dataset="math500"), "accuracy")["rows"]
    assert [line[0] for line in lines[1:]] == [row["model"] for row in json_rows]
    assert [float(line[4]) for line in lines[1:]] == pytest.approx([row["accuracy"] for row in json_rows])
    assert member_client.get(url, {"chart": "nope"}).status_code == 400


def test_csv_cells_a_spreadsheet_would_run_are_guarded_as_the_export_guards_them(member_client, project, records) -> None:
    formula = '=HYPERLINK("http://x","y")'
    LanguageModel.objects.filter(project=project, name=MODELS[0]).update(name=formula)
    response = member_client.get(reverse("dashboard-csv", args=[project.slug, "models"]), {"chart": "accuracy"})
    names = [line[0] for line in csv.reader(io.StringIO(response.content.decode()))][1:]
    assert csv_safe(formula) == "'" + formula
    assert csv_safe(formula) in names and formula not in names


def test_click_links_open_the_trace_list_filtered(member_client, project, records) -> None:
    payload = data(member_client, project)
    accuracy = chart(payload, "accuracy")
    model = LanguageModel.objects.get(project=project, name=accuracy["rows"][0]["model"])
    link = accuracy["links"][0]
    assert link == f"model={model.pk}&correct=yes"
    response = member_client.get(reverse("trace-list", args=[project.slug]) + "?" + link)
    assert response.status_code == 200
    shown = {t.pk for t in response.context["page"].traces}
    assert shown == {r.id for r in records if r.model == model.name and r.correct}
    overthinking_link = chart(payload, "overthinking")["links"][0]
    assert "score=overthinking_ratio" in overthinking_link
    assert member_client.get(reverse("trace-list", args=[project.slug]) + "?" + overthinking_link).status_code == 200


def test_the_queries_do_not_grow_with_the_traces(member_client, project, django_assert_max_num_queries) -> None:
    seed_models(project, rng_seed=1)
    with django_assert_max_num_queries(12) as few:
        data(member_client, project)
    seed_models(project, rng_seed=2, prefix="more-")  # twice the models, problems and traces
    with django_assert_max_num_queries(len(few.captured_queries)):
        payload = data(member_client, project)
    assert len(chart(payload, "accuracy")["rows"]) == 2 * len(MODELS)


def test_access_and_empty_states(member_client, project, make_user) -> None:
    page = member_client.get(reverse("dashboard", args=[project.slug, "models"]))
    assert page.status_code == 200 and b'id="dashboard"' in page.content and b"Dashboards" in page.content
    assert data(member_client, project)["empty"]
    assert member_client.get(reverse("dashboard", args=[project.slug, "nope"])).status_code == 404
    outsider = Client()
    outsider.force_login(make_user("mallory"))
    assert outsider.get(reverse("dashboard-data", args=[project.slug, "models"])).status_code == 404
    assert Client().get(reverse("dashboard-data", args=[project.slug, "models"])).status_code == 302


@pytest.fixture
def many_models(project: Project) -> list[Record]:
    """15 models in five sets of three, each set answering its own problems; the "e-" set has fewer traces."""
    records = [r for prefix in ("a-", "b-", "c-", "d-", "e-") for r in seed_models(project, prefix=prefix)]
    Trace.objects.filter(model__name__startswith="e-", sample_index__gt=0).delete()
    return records


def test_without_a_choice_the_models_with_the_most_traces_are_shown(member_client, project, many_models) -> None:
    payload = data(member_client, project)
    shown = set(rows_by(chart(payload, "accuracy"), "model"))
    assert len(shown) == 8 and not any(name.startswith("e-") for name in shown)
    assert payload["series"] == sorted(shown)  # most traces first, then by name: all tie here
    assert payload["note"] == "Showing the 8 models with the most traces, of 15; pick others under Models."
    page = member_client.get(reverse("dashboard", args=[project.slug, "models"])).content.decode()
    assert page.count('name="models"') == 15 and "e-alpha-7b · 8 traces" in page


def test_picked_models_are_shown_and_more_than_twenty_are_refused(member_client, project, many_models) -> None:
    picked = LanguageModel.objects.filter(project=project, name__startswith="e-").order_by("name")
    payload = data(member_client, project, models=[str(m.pk) for m in picked])
    assert set(rows_by(chart(payload, "accuracy"), "model")) == {m.name for m in picked}
    assert payload["note"] == ""
    extra = [LanguageModel.objects.create(project=project, name=f"extra-{i}") for i in range(6)]
    every = [str(m.pk) for m in [*LanguageModel.objects.filter(project=project).exclude(pk__in=[m.pk for m in extra]), *extra]]
    response = member_client.get(reverse("dashboard-data", args=[project.slug, "models"]), {"models": every})
    assert response.status_code == 400 and "Pick at most 20 models" in response.json()["errors"]["models"][0]


def test_the_difficulty_table_only_speaks_of_the_models_that_tried_a_problem(member_client, project, many_models) -> None:
    payload = data(member_client, project)
    rows = chart(payload, "difficulty")["rows"]
    unsolved = [row for row in rows if row["solved_by"] == 0]
    # Each set's last problem is failed by its three models, five of the eight shown never tried it.
    assert unsolved and all(row["tried_by"] < 8 for row in unsolved)
    assert not any(row["verdict"] == "every model fails" for row in rows)
    assert {row["verdict"] for row in unsolved} <= {"the 3 models that tried it fail", "the 2 models that tried it fail"}
    only = LanguageModel.objects.get(project=project, name="a-alpha-7b")
    one = data(member_client, project, models=[str(only.pk)])
    hardest = chart(one, "difficulty")["rows"][0]
    assert (hardest["tried_by"], hardest["verdict"]) == (1, "a-alpha-7b fails; no other model shown tried it")
