"""The model comparison dashboard of a project (metrics of docs/concepts.md §3.8, §3.3–3.5).

Grouped queries, whatever the number of traces:

* per model × think bucket × answer bucket × length bucket × verdict: counts and token sums — the
  token distributions, accuracy by length bucket, and summed per model: accuracy with its Wilson CI
  and tokens per correct answer;
* per model × problem × final answer, over graded traces: votes, right ones, first sample index —
  majority-vote accuracy (maj@n), and summed per model × problem: pass@k and per-problem difficulty;
* per PRM scorer, the graded traces and their PRM trace scores: best-of-N and weighted-vote curves
  by aggregation (``traces.dashboards.prm_curves``);
* per model × verdict, over the per-trace summary scores (one narrow ``TraceAnalysis`` row per
  trace, not a dozen Score rows): mismatch, truncation and loop rates, behaviour frequencies beside
  the accuracy of traces with and without each behaviour, and the overthinking distribution (one
  filtered count per ratio bin: as a grouping key, the bin's unknown cardinality made PostgreSQL
  sort the 100k joined rows, twice as slow).

Accuracy, pass@k and maj count graded traces only (``is_correct`` set); an undetermined verdict is
neither right nor wrong. Token counts and rates count every trace in the filter.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from django.db.models import Aggregate, Case, Count, F, IntegerField, Min, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Floor, Least, Substr
from django.db.models.lookups import Exact

from traces.analysis.answers import normalize_answer
from traces.analysis.metrics import Accuracy, accuracy_with_ci, pass_at_k, problem_solve_rates
from traces.dashboards.charts import Chart, Column, Dashboard, Row
from traces.dashboards.filters import ModelDashboardForm
from traces.dashboards.prm_curves import best_of_n_charts
from traces.models import LanguageModel, Problem, Trace, TraceAnalysis
from traces.models.analysis import SUMMARY_SCORES

#: Token-count bucket edges (docs/concepts.md §3.8 "accuracy vs length bucket"): [0, 256), [256, 512), …, [32768, ∞).
TOKEN_EDGES = (256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
#: Analysis scores shown as rates: the share of traces (having the score) whose value is positive.
RATE_SCORES = {"think_answer_mismatch": "think–answer mismatch", "truncated": "truncation", "loop_count": "loops"}
BEHAVIOUR_PREFIX = "behaviour_"
OVERTHINKING = "overthinking_ratio"
OVERTHINKING_BINS = 10
#: pass@k is drawn at every k up to this, then at powers of two and at the largest k.
EVERY_K_UP_TO = 16
#: The difficulty table lists this many problems, hardest first (the counts cover them all).
DIFFICULTY_ROWS = 100


@dataclass
class ModelTotals:
    """One model's sums over its traces (from the token bucket rows)."""

    id: int
    name: str
    traces: int = 0
    graded: int = 0
    correct: int = 0
    think_tokens: int = 0
    answer_tokens: int = 0

    @property
    def accuracy(self) -> Accuracy | None:
        return accuracy_with_ci(self.correct, self.graded) if self.graded else None


def model_dashboard(form: ModelDashboardForm) -> Dashboard:
    """Every chart of the model comparison dashboard for a valid filter form."""
    traces = Trace.objects.filter(form.trace_q())
    token_rows = bucket_rows(traces)
    if not token_rows:
        return Dashboard([], empty="No traces match these filters.", note=form.models_note)
    models = model_totals(token_rows)
    links = LinkMaker(form.trace_list_params(), models)
    answers = answer_groups(traces)
    problems = problem_counts(answers)
    score_rows = score_aggregates(form)
    return Dashboard(
        [
            accuracy_chart(models, links),
            pass_at_k_chart(problems, models, links),
            majority_chart(answers, models, links),
            *best_of_n_charts(form, {model.id: model.name for model in models.values()}, links),
            token_chart("think_tokens", "Think tokens per trace", token_rows, models, links),
            token_chart("answer_tokens", "Answer tokens per trace", token_rows, models, links),
            length_accuracy_chart(token_rows, models, links),
            overthinking_chart(score_rows, models, links),
            rates_chart(score_rows.figures, models, links),
            behaviours_chart(score_rows.figures, models, links),
            cost_chart(models, links),
            difficulty_table(problems, models, links),
        ],
        series=[model.name for model in form.shown_models],
        note=form.models_note,
    )


class LinkMaker:
    """Trace-list query strings (``traces/views/traces.py`` parameters) for chart click-throughs."""

    def __init__(self, base: dict[str, str], models: dict[int, ModelTotals]) -> None:
        self.base = base
        self.models = models

    def __call__(self, model_id: int, **params: object) -> str:
        return urlencode({**self.base, "model": model_id, **{k: v for k, v in params.items() if v is not None}})


# --- queries ---------------------------------------------------------------------------------


def answer_groups(traces: QuerySet[Trace]) -> list[Mapping[str, Any]]:
    """Graded traces grouped by model × problem × final answer: ``votes``, ``right``, ``first`` sample index."""
    rows = (
        traces.filter(is_correct__isnull=False)
        .order_by()
        .values("model_id", "problem_id", "final_answer")
        .annotate(votes=Count("id"), right=Count("id", filter=Q(is_correct=True)), first=Min("sample_index"))
    )
    return list(rows)


def problem_counts(groups: Iterable[Mapping[str, Any]]) -> list[dict[str, int]]:
    """One row per model × problem with a graded sample: ``graded`` samples and ``correct`` ones, added
    up from the answer groups."""
    problems: dict[tuple[int, int], dict[str, int]] = {}
    for group in groups:
        key = (group["model_id"], group["problem_id"])
        problem = problems.setdefault(key, {"model_id": key[0], "problem_id": key[1], "graded": 0, "correct": 0})
        problem["graded"] += group["votes"]
        problem["correct"] += group["right"]
    return list(problems.values())


def model_totals(token_rows: Iterable[Mapping[str, Any]]) -> dict[int, ModelTotals]:
    """Per-model sums of the token bucket rows, with the models' names, ordered by name."""
    totals: dict[int, ModelTotals] = {}
    for row in token_rows:
        model = totals.setdefault(row["model_id"], ModelTotals(row["model_id"], ""))
        n, verdict = row["n"], row["is_correct"]
        model.traces += n
        model.graded += n if verdict is not None else 0
        model.correct += n if verdict else 0
        model.think_tokens += row["think"]
        model.answer_tokens += row["answer"]
    names = dict(LanguageModel.objects.filter(id__in=totals).values_list("id", "name"))
    for model in totals.values():
        model.name = names[model.id]
    return dict(sorted(totals.items(), key=lambda item: item[1].name))


def bucket_case(expression: object, edges: Sequence[int]) -> Case:
    """The index of the bucket [0, e₁), [e₁, e₂), …, [eₘ, ∞) that ``expression`` falls in (SQL ``CASE``)."""
    whens = [When(Q(**{f"{expression}__lt": edge}), then=Value(i)) for i, edge in enumerate(edges)]
    return Case(*whens, default=Value(len(edges)), output_field=IntegerField())


def bucket_rows(traces: QuerySet[Trace]) -> list[Mapping[str, Any]]:
    """Trace counts ``n`` and ``think`` and ``answer`` token sums per model × think bucket × answer bucket
    × length (think + answer) bucket × verdict."""
    rows = (
        traces.order_by()
        .annotate(length=F("think_tokens") + F("answer_tokens"))
        .annotate(
            think_bucket=bucket_case("think_tokens", TOKEN_EDGES),
            answer_bucket=bucket_case("answer_tokens", TOKEN_EDGES),
            length_bucket=bucket_case("length", TOKEN_EDGES),
        )
        .values("model_id", "think_bucket", "answer_bucket", "length_bucket", "is_correct")
        .annotate(n=Count("id"), think=Sum("think_tokens"), answer=Sum("answer_tokens"))
    )
    return list(rows)


@dataclass
class ScoreFigures:
    """One model's figures of one analysis score: traces having it, with a positive value, and the
    graded and correct ones among those with and without a positive value."""

    n: int = 0
    positive: int = 0
    total: float = 0.0
    positive_graded: int = 0
    positive_correct: int = 0
    other_graded: int = 0
    other_correct: int = 0


@dataclass
class ScoreRows:
    """``figures[(model id, score name)]``, ``overthinking[(model id, bin)]`` trace counts and
    ``measured[model id]``, the traces having an overthinking ratio."""

    figures: dict[tuple[int, str], ScoreFigures]
    overthinking: Counter[tuple[int, int]]
    measured: Counter[int]


#: The scores counted as figures (rates, behaviours); the overthinking ratio is binned instead.
FIGURE_SCORES = tuple(name for name in SUMMARY_SCORES if name != OVERTHINKING)


def score_aggregates(form: ModelDashboardForm) -> ScoreRows:
    """The analysis scores, in one scan of the per-trace summary columns (``TraceAnalysis``): per
    model × verdict, each score's count, positive count and (behaviours only: the mean is shown) sum,
    and the count of traces in each overthinking-ratio bin [i/10, (i+1)/10) (the last bin holds 1.0)."""
    last = Value(OVERTHINKING_BINS - 1)
    in_bin = Least(Floor(F(OVERTHINKING) * OVERTHINKING_BINS), last, output_field=IntegerField())
    aggregates: dict[str, Aggregate] = {
        f"bin_{b}": Count(OVERTHINKING, filter=Exact(in_bin, b)) for b in range(OVERTHINKING_BINS)
    }
    for name in FIGURE_SCORES:
        aggregates[f"{name}__n"] = Count(name)
        aggregates[f"{name}__positive"] = Count(name, filter=Q(**{f"{name}__gt": 0}))
        if name.startswith(BEHAVIOUR_PREFIX):
            aggregates[f"{name}__total"] = Sum(name)
    # Mappings: the plugin's row type knows only the literal keys, not those of ``**aggregates``.
    rows: Iterable[Mapping[str, Any]] = (
        TraceAnalysis.objects.filter(form.trace_q("trace__"))
        .order_by()
        .values("trace__model_id", "trace__is_correct")
        .annotate(with_ratio=Count(OVERTHINKING), **aggregates)
    )
    figures: dict[tuple[int, str], ScoreFigures] = defaultdict(ScoreFigures)
    overthinking: Counter[tuple[int, int]] = Counter()
    measured: Counter[int] = Counter()
    for row in rows:
        model, verdict = row["trace__model_id"], row["trace__is_correct"]
        measured[model] += row["with_ratio"]
        for b in range(OVERTHINKING_BINS):
            overthinking[(model, b)] += row[f"bin_{b}"]
        for name in FIGURE_SCORES:
            n, positive = row[f"{name}__n"], row[f"{name}__positive"]
            if n:
                add_score_counts(figures[(model, name)], n, positive, row.get(f"{name}__total") or 0.0, verdict)
    return ScoreRows(figures, overthinking, measured)


def add_score_counts(figure: ScoreFigures, n: int, positive: int, total: float, verdict: bool | None) -> None:
    """Add ``n`` traces having the score (``positive`` of them above 0), all with one verdict."""
    figure.n += n
    figure.positive += positive
    figure.total += total
    if verdict is not None:
        figure.positive_graded += positive
        figure.other_graded += n - positive
        if verdict:
            figure.positive_correct += positive
            figure.other_correct += n - positive


# --- metrics over the grouped rows -----------------------------------------------------------


def pass_at_k_points(largest: int) -> list[int]:
    """The k at which a pass@k curve is drawn: 1…16, then powers of two, and ``largest`` itself."""
    ks = {k for k in range(1, min(largest, EVERY_K_UP_TO) + 1)}
    power = EVERY_K_UP_TO * 2
    while power < largest:
        ks.add(power)
        power *= 2
    ks.add(largest)
    return sorted(ks)


def pass_at_k_curve(counts: Sequence[tuple[int, int]]) -> list[tuple[int, float]]:
    """(k, mean pass@k over the problems) for k = 1 … the fewest samples any problem has (docs/concepts.md §3.8).

    ``counts`` are (n graded samples, c correct) per problem, n ≥ 1. The mean is taken over the
    distinct (n, c) pairs weighted by how many problems have each: the same number as
    ``mean_pass_at_k`` over every problem, with one ``pass_at_k`` call per distinct pair. ``fsum``
    rounds once, so the figure does not depend on the order the database returns the problems in.
    """
    pairs = Counter(counts)
    largest = min(n for n, _ in pairs)
    total = len(counts)
    return [
        (k, math.fsum(weight * pass_at_k(n, c, k) for (n, c), weight in pairs.items()) / total)
        for k in pass_at_k_points(largest)
    ]


@lru_cache(maxsize=65536)
def answer_key(answer: str) -> str:
    """The vote key of a final answer (``normalize_answer``), cached: answers repeat across samples."""
    return normalize_answer(answer)


def majority_correct(groups: Iterable[Mapping[str, Any]]) -> bool:
    """Whether one problem's majority vote is right, from its answer groups (docs/concepts.md §3.8 maj@n).

    The same vote as ``traces.analysis.metrics.majority_vote`` over the problem's samples, counted
    from grouped rows: answers are merged by ``normalize_answer``, an empty answer abstains, the
    largest group wins, a tie goes to the group whose first sample (lowest sample index) comes
    first, and the winner's verdict is that of its first sample. Every sample with one exact answer
    string has one verdict (grading is a function of the answer), taken as right if any is.
    """
    merged: dict[str, list[int]] = {}  # key -> [votes, first sample index, right of the first]
    for group in groups:
        answer = str(group["final_answer"])
        if not answer:
            continue
        votes, first, right = int(group["votes"]), int(group["first"]), int(group["right"]) > 0
        entry = merged.setdefault(answer_key(answer), [0, first, right])
        entry[0] += votes
        if first < entry[1]:
            entry[1], entry[2] = first, right
    if not merged:
        return False
    winner = min(merged.values(), key=lambda entry: (-entry[0], entry[1]))
    return bool(winner[2])


def bucket_label(index: int, edges: Sequence[int] = TOKEN_EDGES) -> str:
    low = 0 if index == 0 else edges[index - 1]
    return f"{low}+" if index == len(edges) else f"{low}–{edges[index] - 1}"


def ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


# --- charts ----------------------------------------------------------------------------------

ACCURACY_COLUMNS = [
    Column("accuracy", "Accuracy", percent=True),
    Column("ci_low", "95% CI low", percent=True),
    Column("ci_high", "95% CI high", percent=True),
]


def accuracy_columns(acc: Accuracy | None) -> Row:
    if acc is None:
        return {"accuracy": None, "ci_low": None, "ci_high": None}
    return {"accuracy": acc.value, "ci_low": acc.low, "ci_high": acc.high}


def accuracy_chart(models: dict[int, ModelTotals], links: LinkMaker) -> Chart:
    chart = Chart(
        "accuracy",
        "Accuracy per model (95% Wilson CI)",
        "bar",
        [
            Column("model", "Model"),
            Column("traces", "Traces"),
            Column("graded", "Graded"),
            Column("correct", "Correct"),
            *ACCURACY_COLUMNS,
        ],
        x="model",
        y="accuracy",
        low="ci_low",
        high="ci_high",
        y_label="accuracy",
        y_max=1,
        note="Accuracy over graded traces (an undetermined verdict counts neither way).",
    )
    for model in models.values():
        row: Row = {"model": model.name, "traces": model.traces, "graded": model.graded, "correct": model.correct}
        chart.add(row | accuracy_columns(model.accuracy), links(model.id, correct="yes"))
    return chart


def graded_counts(problems: Iterable[dict[str, int]]) -> dict[int, list[tuple[int, int]]]:
    """(graded samples, correct) per problem with at least one graded sample, by model."""
    counts: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for row in problems:
        counts[row["model_id"]].append((row["graded"], row["correct"]))
    return counts


def pass_at_k_chart(problems: list[dict[str, int]], models: dict[int, ModelTotals], links: LinkMaker) -> Chart:
    chart = Chart(
        "pass_at_k",
        "pass@k (unbiased estimator, mean over problems)",
        "line",
        [
            Column("model", "Model"),
            Column("k", "k"),
            Column("problems", "Problems"),
            Column("pass_at_k", "pass@k", percent=True),
        ],
        x="k",
        y="pass_at_k",
        series="model",
        x_label="k (samples drawn)",
        y_label="pass@k",
        y_max=1,
        note="k runs up to the fewest graded samples any problem of the model has.",
    )
    counts = graded_counts(problems)
    for model in models.values():
        if model.id in counts:
            for k, value in pass_at_k_curve(counts[model.id]):
                row: Row = {"model": model.name, "k": k, "problems": len(counts[model.id]), "pass_at_k": value}
                chart.add(row, links(model.id, correct="yes"))
    return chart


def majority_chart(groups: list[Mapping[str, Any]], models: dict[int, ModelTotals], links: LinkMaker) -> Chart:
    chart = Chart(
        "maj_at_k",
        "Majority-vote accuracy (maj@n over all samples of each problem)",
        "bar",
        [
            Column("model", "Model"),
            Column("problems", "Problems"),
            Column("samples", "Mean samples"),
            Column("correct", "Majority right"),
            *ACCURACY_COLUMNS,
        ],
        x="model",
        y="accuracy",
        low="ci_low",
        high="ci_high",
        y_label="maj@n",
        y_max=1,
        note="Answers are compared after normalisation; a problem whose samples give no answer counts as wrong.",
    )
    by_problem: dict[tuple[int, int], list[Mapping[str, Any]]] = defaultdict(list)
    for group in groups:
        by_problem[(int(group["model_id"]), int(group["problem_id"]))].append(group)
    for model in models.values():
        votes = [groups for (model_id, _), groups in by_problem.items() if model_id == model.id]
        if not votes:
            continue
        right = sum(majority_correct(problem) for problem in votes)
        samples = sum(int(g["votes"]) for problem in votes for g in problem)
        row: Row = {"model": model.name, "problems": len(votes), "samples": samples / len(votes), "correct": right}
        chart.add(row | accuracy_columns(accuracy_with_ci(right, len(votes))), links(model.id, correct="yes"))
    return chart


def token_chart(
    chart_id: str,
    title: str,
    rows: list[Mapping[str, Any]],
    models: dict[int, ModelTotals],
    links: LinkMaker,
) -> Chart:
    """Distribution of one token count (``think_tokens`` or ``answer_tokens``) per model, by bucket."""
    column = "think_bucket" if chart_id == "think_tokens" else "answer_bucket"
    chart = Chart(
        chart_id,
        title,
        "bar",
        [
            Column("model", "Model"),
            Column("bucket", "Tokens"),
            Column("traces", "Traces"),
            Column("share", "Share of the model's traces", percent=True),
        ],
        x="bucket",
        y="share",
        series="model",
        x_label="tokens",
        y_label="share of traces",
        y_max=1,
    )
    counts: Counter[tuple[int, int]] = Counter()
    for row in rows:
        counts[(int(row["model_id"]), int(row[column]))] += int(row["n"])
    for model in models.values():
        for bucket in range(len(TOKEN_EDGES) + 1):
            n = counts[(model.id, bucket)]
            shown: Row = {"model": model.name, "bucket": bucket_label(bucket), "traces": n, "share": ratio(n, model.traces)}
            chart.add(shown, links(model.id))
    return chart


def length_accuracy_chart(
    rows: list[Mapping[str, Any]], models: dict[int, ModelTotals], links: LinkMaker
) -> Chart:
    chart = Chart(
        "accuracy_by_length",
        "Accuracy by length (think + answer tokens)",
        "line",
        [
            Column("model", "Model"),
            Column("bucket", "Tokens"),
            Column("graded", "Graded"),
            Column("correct", "Correct"),
            *ACCURACY_COLUMNS,
        ],
        x="bucket",
        y="accuracy",
        series="model",
        low="ci_low",
        high="ci_high",
        x_label="tokens",
        y_label="accuracy",
        y_max=1,
    )
    graded: Counter[tuple[int, int]] = Counter()
    correct: Counter[tuple[int, int]] = Counter()
    for row in rows:
        if row["is_correct"] is not None:
            key = (int(row["model_id"]), int(row["length_bucket"]))
            graded[key] += int(row["n"])
            correct[key] += int(row["n"]) if row["is_correct"] else 0
    for model in models.values():
        for bucket in range(len(TOKEN_EDGES) + 1):
            n, k = graded[(model.id, bucket)], correct[(model.id, bucket)]
            shown: Row = {"model": model.name, "bucket": bucket_label(bucket), "graded": n, "correct": k}
            chart.add(shown | accuracy_columns(accuracy_with_ci(k, n) if n else None), links(model.id, correct="yes"))
    return chart


def overthinking_chart(scores: ScoreRows, models: dict[int, ModelTotals], links: LinkMaker) -> Chart:
    chart = Chart(
        "overthinking",
        "Overthinking ratio (tokens after t* / think tokens)",
        "bar",
        [
            Column("model", "Model"),
            Column("bin", "Ratio"),
            Column("traces", "Traces"),
            Column("share", "Share of the model's analysed traces", percent=True),
        ],
        x="bin",
        y="share",
        series="model",
        x_label="overthinking ratio",
        y_label="share of traces",
        y_max=1,
        note="0 also counts traces that never reach the reference answer (docs/concepts.md §3.4).",
    )
    for model in models.values():
        if not (measured := scores.measured[model.id]):
            continue
        for b in range(OVERTHINKING_BINS):
            low, high = b / OVERTHINKING_BINS, (b + 1) / OVERTHINKING_BINS
            n = scores.overthinking[(model.id, b)]
            row: Row = {"model": model.name, "bin": f"{low:.1f}–{high:.1f}", "traces": n, "share": n / measured}
            chart.add(row, links(model.id, score=OVERTHINKING, score_min=low, score_max=high))
    return chart


def rates_chart(
    figures: dict[tuple[int, str], ScoreFigures], models: dict[int, ModelTotals], links: LinkMaker
) -> Chart:
    chart = Chart(
        "rates",
        "Think–answer mismatch, truncation and loop rates",
        "bar",
        [
            Column("model", "Model"),
            Column("measure", "Measure"),
            Column("measured", "Traces measured"),
            Column("with", "Traces with it"),
            Column("rate", "Rate", percent=True),
        ],
        x="measure",
        y="rate",
        series="model",
        y_label="share of traces",
        y_max=1,
        note="Mismatch counts traces whose verdict was determined; truncation and loops count every analysed trace.",
    )
    for model in models.values():
        for name, label in RATE_SCORES.items():
            if (figure := figures.get((model.id, name))) is None:
                continue
            row: Row = {
                "model": model.name,
                "measure": label,
                "measured": figure.n,
                "with": figure.positive,
                "rate": ratio(figure.positive, figure.n),
            }
            chart.add(row, links(model.id, score=name, score_min=1))
    return chart


def behaviours_chart(
    figures: dict[tuple[int, str], ScoreFigures], models: dict[int, ModelTotals], links: LinkMaker
) -> Chart:
    chart = Chart(
        "behaviours",
        "Behaviours (share of traces) beside accuracy with and without them",
        "bar",
        [
            Column("model", "Model"),
            Column("behaviour", "Behaviour"),
            Column("share", "Traces with it", percent=True),
            Column("mean", "Mean cues per trace"),
            Column("accuracy_with", "Accuracy with", percent=True),
            Column("accuracy_without", "Accuracy without", percent=True),
            Column("accuracy", "Model accuracy", percent=True),
        ],
        x="behaviour",
        y="share",
        series="model",
        y_label="share of traces",
        y_max=1,
        note="More reflection is not better: read each frequency beside the accuracies in its row (docs/concepts.md §3.5).",
    )
    behaviours = sorted({name for _, name in figures if name.startswith(BEHAVIOUR_PREFIX)})
    for model in models.values():
        accuracy = model.accuracy
        for name in behaviours:
            if (figure := figures.get((model.id, name))) is None:
                continue
            row: Row = {
                "model": model.name,
                "behaviour": chart.named(name),
                "share": ratio(figure.positive, figure.n),
                "mean": ratio(figure.total, figure.n),
                "accuracy_with": ratio(figure.positive_correct, figure.positive_graded),
                "accuracy_without": ratio(figure.other_correct, figure.other_graded),
                "accuracy": accuracy.value if accuracy else None,
            }
            chart.add(row, links(model.id, score=name, score_min=1))
    return chart


def cost_chart(models: dict[int, ModelTotals], links: LinkMaker) -> Chart:
    chart = Chart(
        "cost",
        "Cost: tokens per correct answer",
        "bar",
        [
            Column("model", "Model"),
            Column("think_mean", "Mean think tokens"),
            Column("answer_mean", "Mean answer tokens"),
            Column("correct", "Correct"),
            Column("tokens_per_correct", "Tokens per correct answer"),
        ],
        x="model",
        y="tokens_per_correct",
        y_label="tokens per correct answer",
        note="All tokens the model generated (think + answer, every trace) divided by its correct answers.",
    )
    for model in models.values():
        row: Row = {
            "model": model.name,
            "think_mean": ratio(model.think_tokens, model.traces),
            "answer_mean": ratio(model.answer_tokens, model.traces),
            "correct": model.correct,
            "tokens_per_correct": ratio(model.think_tokens + model.answer_tokens, model.correct),
        }
        chart.add(row, links(model.id, correct="yes"))
    return chart


def difficulty_table(problems: list[dict[str, int]], models: dict[int, ModelTotals], links: LinkMaker) -> Chart:
    """Per-problem difficulty (docs/concepts.md §3.8): share of samples right, how many models solve it, per-model rates."""
    per_problem: dict[int, dict[int, tuple[int, int]]] = defaultdict(dict)
    for row in problems:
        per_problem[row["problem_id"]][row["model_id"]] = (row["graded"], row["correct"])
    model_columns = [Column(f"model_{model.id}", model.name, percent=True) for model in models.values()]
    chart = Chart(
        "difficulty",
        "Per-problem difficulty",
        "table",
        [
            Column("problem", "Problem"),
            Column("prompt", "Prompt"),
            Column("solve_rate", "Samples right", percent=True),
            Column("tried_by", "Models that tried it"),
            Column("solved_by", "Models solving"),
            Column("verdict", "Verdict"),
            *model_columns,
        ],
    )
    if not per_problem:
        return chart
    outcomes = {
        problem: [True] * sum(c for _, c in by_model.values()) + [False] * sum(n - c for n, c in by_model.values())
        for problem, by_model in per_problem.items()
    }
    rates = problem_solve_rates(outcomes)
    solvers = {problem: [m for m, (_, c) in by_model.items() if c] for problem, by_model in per_problem.items()}
    compared = len(models)
    all_fail = sum(not solvers[p] and len(per_problem[p]) == compared for p in per_problem)
    unsolved = sum(not s for s in solvers.values())
    only_one = sum(len(s) == 1 for s in solvers.values())
    chart.note = (
        f"{len(per_problem)} problems: {all_fail} failed by every model, {unsolved - all_fail} unsolved by the "
        f"fewer models that tried them, {only_one} solved by one model only; "
        f"the {min(DIFFICULTY_ROWS, len(per_problem))} hardest are listed."
    )
    hardest = sorted(per_problem, key=lambda p: (len(solvers[p]), rates[p], p))[:DIFFICULTY_ROWS]
    prompts = dict(
        Problem.objects.filter(id__in=hardest).annotate(excerpt=Substr("prompt", 1, 120)).values_list("id", "excerpt")
    )
    for problem in hardest:
        solved_by = solvers[problem]
        shown: Row = {
            "problem": problem,
            "prompt": prompts.get(problem, ""),
            "solve_rate": rates[problem],
            "tried_by": len(per_problem[problem]),
            "solved_by": len(solved_by),
            "verdict": difficulty_verdict([models[m].name for m in per_problem[problem]], solved_by, models, compared),
            **{f"model_{m}": ratio(c, n) for m, (n, c) in per_problem[problem].items()},
        }
        chart.add(shown, links(solved_by[0], correct="yes") if len(solved_by) == 1 else None)
    return chart


def difficulty_verdict(tried: list[str], solved_by: list[int], models: dict[int, ModelTotals], compared: int) -> str:
    """What the difficulty table says of a problem: only claims about the models that tried it."""
    if solved_by:
        return f"only {models[solved_by[0]].name} solves it" if len(solved_by) == 1 < len(tried) else ""
    if len(tried) == compared > 1:
        return "every model fails"
    if len(tried) == 1:
        return f"{tried[0]} fails; no other model shown tried it"
    return f"the {len(tried)} models that tried it fail"
