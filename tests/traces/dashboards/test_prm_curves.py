"""Best-of-N curves on the model dashboard (docs/concepts.md §5.4): from stored PRM trace scores, per
model and scorer, equal to ``selection_curves`` over the same samples, with drill-down links."""

from __future__ import annotations

import random
from urllib.parse import parse_qs

import numpy as np
import pytest
from dashboard_seed import MODELS, Record
from test_model_dashboard import chart, data

from traces.actions.prm_scoring import TRACE_SCORES
from traces.analysis.answers import normalize_answer
from traces.analysis.best_of_n import AGGREGATIONS, SampleSet, selection_curves
from traces.dashboards.prm_curves import curve_name
from traces.models import LanguageModel, ProjectScoreName, Score

pytestmark = pytest.mark.django_db
METHOD = "prm:tiny"


def score_traces(project, records: list[Record]) -> dict[int, dict[str, float]]:
    """PRM trace scores of every graded trace but one: right answers score higher, with noise."""
    rng = random.Random(3)
    scores = {}
    for record in records[1:]:
        base = 0.7 if record.correct else 0.3
        steps = [min(1.0, max(0.0, base + rng.uniform(-0.3, 0.3))) for _ in range(3)]
        scores[record.id] = {
            "min": min(steps), "product": float(np.prod(steps)), "mean": sum(steps) / 3, "last": steps[-1], "sum": sum(steps)
        }  # fmt: skip
    Score.objects.bulk_create(
        Score(trace_id=trace, name=TRACE_SCORES[how], value=value, method=METHOD, version="v1")
        for trace, values in scores.items()
        for how, value in values.items()
    )
    ProjectScoreName.objects.bulk_create(ProjectScoreName(project=project, method=METHOD, name=n) for n in TRACE_SCORES.values())
    return scores


def expected_curves(records: list[Record], scores: dict[int, dict[str, float]], model: str):
    mine = [r for r in records if r.model == model and r.correct is not None and r.id in scores]
    keys: dict[str, int] = {}
    return selection_curves(
        SampleSet(
            problem=np.array([r.problem for r in mine]),
            correct=np.array([bool(r.correct) for r in mine]),
            answer=np.array([keys.setdefault(normalize_answer(r.answer), len(keys)) if r.answer else -1 for r in mine]),
            scores={how: np.array([scores[r.id][how] for r in mine]) for how in AGGREGATIONS},
        )
    )


def test_curves_come_from_the_stored_trace_scores(member_client, project, records) -> None:
    scores = score_traces(project, records)
    payload = data(member_client, project)
    summary = chart(payload, "best_of_n")
    assert {row["model"] for row in summary["rows"]} == set(MODELS)
    for model in MODELS:
        expected = {curve_name(c): c for c in expected_curves(records, scores, model)}
        rows = {row["method"]: row for row in summary["rows"] if row["model"] == model}
        assert set(rows) == set(expected) and len(rows) == 2 * len(AGGREGATIONS) + 2
        for name, curve in expected.items():
            assert rows[name]["accuracy"] == pytest.approx(curve.points[-1].accuracy)
            assert rows[name]["at_one"] == pytest.approx(curve.points[0].accuracy)
            assert (rows[name]["ci_low"], rows[name]["ci_high"]) == pytest.approx((curve.points[-1].low, curve.points[-1].high))
        model_id = LanguageModel.objects.get(project=project, name=model).pk
        best = next(c for c in payload["charts"] if c["id"].startswith(f"best_of_n-{model_id}-"))
        assert best["kind"] == "line" and best["series"] == "method" and best["low"] == "ci_low"
        assert {row["method"] for row in best["rows"]} == {
            *(f"best-of-N · {how}" for how in AGGREGATIONS), "majority vote", "pass@N"
        }
        vote = next(c for c in payload["charts"] if c["id"].startswith(f"weighted_vote-{model_id}-"))
        assert {row["method"] for row in vote["rows"]} >= {f"weighted vote · {how}" for how in AGGREGATIONS}
        # Drill-down: a best-of-N point opens the model's traces sorted by that aggregation, highest first.
        link = parse_qs(best["links"][0])
        assert link["model"] == [str(model_id)] and link["order"] == ["desc"]
        assert link["score"] == [f"{METHOD}:prm_min"]


def test_a_trace_list_link_of_a_curve_sorts_by_the_score(member_client, project, records) -> None:
    score_traces(project, records)
    payload = data(member_client, project)
    best = next(c for c in payload["charts"] if c["id"].startswith("best_of_n-"))
    response = member_client.get(f"/p/{project.slug}/traces/?{best['links'][0]}")
    assert response.status_code == 200


def test_without_prm_scores_the_summary_says_how_to_get_them(member_client, project, records) -> None:
    summary = chart(data(member_client, project), "best_of_n")
    assert summary["rows"] == [] and "PRMs page" in summary["note"]
