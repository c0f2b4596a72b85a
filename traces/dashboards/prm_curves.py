"""Best-of-N curves of the model dashboard, per model and per PRM scorer (docs/concepts.md §5.4).

For each scorer whose trace scores (``prm_min`` … ``prm_sum``, method ``prm:<scorer>``) some
filtered trace has, and each model shown: the model's graded traces that have every trace score
become a ``SampleSet`` (answers compared after ``normalize_answer``), and
``traces.analysis.best_of_n.selection_curves`` gives best-of-N and the PRM-weighted vote per
aggregation, plain majority vote and pass@N. One query per scorer, whatever the number of traces.

Charts: a summary table (``best_of_n``: per model × scorer × method, the accuracy at N = 1 and at
the largest N), then per model × scorer a best-of-N chart and a weighted-vote chart, each against
majority vote and pass@N. A point opens the model's traces sorted by that aggregation's score,
highest first: the samples best-of-N would pick come first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from django.db.models import Max, Q

from traces.actions.prm_scorers import PRM_SOURCE_PREFIX
from traces.actions.prm_scoring import TRACE_SCORES
from traces.analysis.best_of_n import (
    BEST_OF_N,
    MAJORITY_VOTE,
    PASS_AT_N,
    WEIGHTED_VOTE,
    Curve,
    SampleSet,
    selection_curves,
)
from traces.dashboards.charts import Chart, Column, Row
from traces.dashboards.filters import ModelDashboardForm
from traces.models import ProjectScoreName, Score

if TYPE_CHECKING:
    from traces.dashboards.model_comparison import LinkMaker  # which imports this module

#: At most this many scorers are drawn (the most recently registered first).
MAX_SCORERS = 4
METHOD_WORDS = {BEST_OF_N: "best-of-N", WEIGHTED_VOTE: "weighted vote", MAJORITY_VOTE: "majority vote", PASS_AT_N: "pass@N"}
CURVE_COLUMNS = [
    Column("method", "Method"),
    Column("n", "N"),
    Column("problems", "Problems"),
    Column("accuracy", "Accuracy", percent=True),
    Column("ci_low", "95% CI low", percent=True),
    Column("ci_high", "95% CI high", percent=True),
]


def curve_name(curve: Curve) -> str:
    words = METHOD_WORDS[curve.method]
    return f"{words} · {curve.aggregation}" if curve.aggregation else words


def scorers_present(form: ModelDashboardForm) -> list[str]:
    """The PRM methods whose trace scores the project's traces have had, newest first."""
    rows = ProjectScoreName.objects.filter(
        project=form.project, method__startswith=PRM_SOURCE_PREFIX, name=TRACE_SCORES["min"]
    ).order_by("-id")
    return list(rows.values_list("method", flat=True)[:MAX_SCORERS])


def sample_sets(form: ModelDashboardForm, method: str) -> dict[int, tuple[SampleSet, int]]:
    """Per model, its graded traces with every trace score of ``method``, and their problem count.

    One query: the scores of the filtered graded traces, one row per trace with each aggregation's
    score as a column (``FILTER``), beside the trace's model, problem, verdict and answer."""
    # The answer a vote counts, as the majority-vote chart counts it (imported here: that module imports this one).
    from traces.dashboards.model_comparison import answer_key

    columns = {how: Max("value", filter=Q(name=name)) for how, name in TRACE_SCORES.items()}
    rows = list(
        Score.objects.filter(form.trace_q("trace__"), Q(trace__is_correct__isnull=False))
        .filter(method=method, step__isnull=True, name__in=TRACE_SCORES.values())
        .order_by()
        .values("trace_id", "trace__model_id", "trace__problem_id", "trace__is_correct", "trace__final_answer")
        .annotate(**columns)
        .values_list("trace__model_id", "trace__problem_id", "trace__is_correct", "trace__final_answer", *columns)
    )
    if not rows:
        return {}
    count = len(rows)
    models = np.fromiter((row[0] for row in rows), dtype=np.int64, count=count)
    problems = np.fromiter((row[1] for row in rows), dtype=np.int64, count=count)
    correct = np.fromiter((row[2] for row in rows), dtype=bool, count=count)
    keys: dict[str, int] = {}
    answers = np.fromiter(
        (keys.setdefault(answer_key(row[3]), len(keys)) if row[3] else -1 for row in rows), dtype=np.int64, count=count
    )
    values = np.array([row[4:] for row in rows], dtype=np.float64)  # None (a missing score) becomes nan
    complete = ~np.isnan(values).any(axis=1)
    sets = {}
    for model in np.unique(models[complete]):
        keep = complete & (models == model)
        sample = SampleSet(
            problem=problems[keep],
            correct=correct[keep],
            answer=answers[keep],
            scores={how: values[keep, i] for i, how in enumerate(TRACE_SCORES)},
        )
        sets[int(model)] = (sample, len(np.unique(problems[keep])))
    return sets


def best_of_n_charts(form: ModelDashboardForm, model_names: dict[int, str], links: LinkMaker) -> list[Chart]:
    """The summary table, then per model × scorer the best-of-N and weighted-vote charts."""
    summary = Chart(
        "best_of_n",
        "Best-of-N by PRM aggregation (summary)",
        "table",
        [
            Column("model", "Model"),
            Column("scorer", "Scorer"),
            Column("method", "Method"),
            Column("problems", "Problems"),
            Column("n", "Largest N"),
            Column("at_one", "Accuracy at N = 1", percent=True),
            Column("accuracy", "Accuracy at the largest N", percent=True),
            Column("ci_low", "95% CI low", percent=True),
            Column("ci_high", "95% CI high", percent=True),
        ],
        note="No PRM scores yet: score a run's traces on the PRMs page, then come back.",
    )
    charts: list[Chart] = []
    for method in scorers_present(form):
        scorer = method.removeprefix(PRM_SOURCE_PREFIX)
        summary.note = (
            "Per problem, N of its graded samples are drawn; best-of-N keeps the one with the highest trace score "
            "(min, product, mean, last step or sum of its step scores), the weighted vote the answer with the most "
            "score; majority vote and pass@N (the ceiling) for comparison. 95% CI: bootstrap over problems."
        )
        for model_id, (samples, problem_count) in sorted(sample_sets(form, method).items(), key=lambda i: model_names.get(i[0], "")):
            name = model_names.get(model_id, str(model_id))
            curves = selection_curves(samples)
            for curve in curves:
                first, last = curve.points[0], curve.points[-1]
                row: Row = {"model": name, "scorer": scorer, "method": curve_name(curve), "problems": problem_count,
                       "n": last.n, "at_one": first.accuracy, "accuracy": last.accuracy, "ci_low": last.low,
                       "ci_high": last.high}  # fmt: skip
                summary.add(row, _link(links, model_id, method, curve))
            for kind, title in ((BEST_OF_N, "Best-of-N"), (WEIGHTED_VOTE, "PRM-weighted majority vote")):
                chosen = [c for c in curves if c.method in (kind, MAJORITY_VOTE, PASS_AT_N)]
                charts.append(_curve_chart(f"{kind}-{model_id}-{len(charts)}", f"{title} · {name} · scored by {scorer}",
                                           chosen, problem_count, links, model_id, method))  # fmt: skip
    return [summary, *charts]


def _curve_chart(
    chart_id: str, title: str, curves: Sequence[Curve], problems: int, links: LinkMaker, model_id: int, method: str
) -> Chart:
    chart = Chart(
        chart_id,
        title,
        "line",
        CURVE_COLUMNS,
        x="n",
        y="accuracy",
        series="method",
        low="ci_low",
        high="ci_high",
        x_label="N (samples per problem)",
        y_label="accuracy",
        y_max=1,
        note=f"{problems} problems; each point is the mean over problems with its bootstrap 95% CI.",
    )
    for curve in curves:
        for point in curve.points:
            row: Row = {"method": curve_name(curve), "n": point.n, "problems": problems, "accuracy": point.accuracy,
                   "ci_low": point.low, "ci_high": point.high}  # fmt: skip
            chart.add(row, _link(links, model_id, method, curve))
    return chart


def _link(links: LinkMaker, model_id: int, method: str, curve: Curve) -> str:
    """The model's traces, sorted by the curve's trace score (highest first); right ones for the others."""
    if curve.aggregation is None:
        return links(model_id, correct="yes")
    return links(model_id, score=f"{method}:{TRACE_SCORES[curve.aggregation]}", order="desc")
