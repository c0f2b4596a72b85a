"""Demo-like data for the dashboard tests: several models answering the same problems several times,
with the analysis scores the engine stores, and a labelling queue worked by two people.

Rows are written directly (bulk inserts), and the per-trace values are returned as plain records so
that a test computes its expected figures from them with ``traces.analysis.metrics`` independently
of the dashboard's SQL.
"""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass

from django.utils import timezone

from traces.models import (
    HUMAN,
    AssignmentStatus,
    Label,
    LanguageModel,
    Problem,
    Project,
    Queue,
    QueueAssignment,
    QueueItem,
    Run,
    RunKind,
    Score,
    Segmentation,
    Step,
    Trace,
    TraceAnalysis,
    TraceAnnotation,
)
from traces.models.analysis import SUMMARY_SCORES

MODELS = ("alpha-7b", "beta-14b", "gamma-32b")
SKILL = {"alpha-7b": 0.35, "beta-14b": 0.6, "gamma-32b": 0.8}
PROBLEMS = 8
SAMPLES = 4
BEHAVIOURS = ("verification", "backtracking")


@dataclass(frozen=True)
class Record:
    """One seeded trace as the test sees it."""

    id: int
    model: str
    problem: int
    sample: int
    correct: bool | None
    answer: str
    think: int
    answer_tokens: int
    scores: dict[str, float]


def seed_models(project: Project, rng_seed: int = 7, prefix: str = "") -> list[Record]:
    """Traces of every model on every problem, ``SAMPLES`` each, with analysis scores; two datasets.

    ``prefix`` names a second set of models and problems in the same project.
    """
    rng = random.Random(rng_seed)
    models = {name: LanguageModel.objects.create(project=project, name=prefix + name) for name in MODELS}
    runs = {
        name: Run.objects.create(project=project, kind=RunKind.GENERATION, name=f"sweep {name}", model=model)
        for name, model in models.items()
    }
    problems = Problem.objects.bulk_create(
        Problem(
            project=project,
            prompt=f"Problem {i}: what is {i} * 3?",
            answer=str(3 * i),
            source="gsm8k" if i % 2 else "math500",
            content_hash=f"dash-{prefix}p{i}",
        )
        for i in range(PROBLEMS)
    )
    pending = []
    for name, model in models.items():
        for p, problem in enumerate(problems):
            hard = p == PROBLEMS - 1  # every model fails the last problem
            for s in range(SAMPLES):
                roll = rng.random()
                correct: bool | None = (not hard) and roll < SKILL[name]
                if roll > 0.95:
                    correct = None  # ungraded
                answer = str(3 * p) if correct else rng.choice(["", str(3 * p + 1), str(3 * p + 2)])
                think = rng.choice([40, 300, 700, 1500, 3000, 9000])
                fields = dict(think=think, answer_tokens=rng.randint(10, 400))
                scores = {
                    "overthinking_ratio": round(rng.random(), 3) if correct else 0.0,
                    "truncated": float(rng.random() < 0.1),
                    "loop_count": float(rng.choice([0, 0, 0, 1, 2])),
                    **{f"behaviour_{b}": float(rng.choice([0, 0, 1, 3])) for b in BEHAVIOURS},
                }
                if rng.random() < 0.8:
                    scores["think_answer_mismatch"] = float(rng.random() < 0.2)
                pending.append((name, model, p, problem, s, correct, answer, fields, scores))
    traces = Trace.objects.bulk_create(
        Trace(
            project=project,
            run=runs[name],
            problem=problem,
            model=model,
            sample_index=s,
            raw_text=f"{answer}",
            final_answer=answer,
            is_correct=correct,
            think_tokens=f["think"],
            answer_tokens=f["answer_tokens"],
            finish_reason="stop",
            content_hash=f"dash-{prefix}{name}-{p}-{s}",
        )
        for name, model, p, problem, s, correct, answer, f, _ in pending
    )
    Score.objects.bulk_create(
        Score(trace=trace, name=key, value=value, method="analysis")
        for trace, (*_, scores) in zip(traces, pending, strict=True)
        for key, value in scores.items()
    )
    TraceAnalysis.objects.bulk_create(  # as the analysis action stores them: summary scores as columns
        TraceAnalysis(trace=trace, version="1", **{key: scores.get(key) for key in SUMMARY_SCORES})
        for trace, (*_, scores) in zip(traces, pending, strict=True)
    )
    return [
        Record(trace.pk, name, p, s, correct, answer, f["think"], f["answer_tokens"], scores)
        for trace, (name, _, p, _, s, correct, answer, f, scores) in zip(traces, pending, strict=True)
    ]


@dataclass(frozen=True)
class Annotation:
    """What ``seed_annotation`` wrote, for the expected figures."""

    human: dict[int, dict[int, int]]  # step id -> user id -> value
    gold: dict[int, int]  # step id -> gold value
    auto: dict[int, int]  # step id -> mc_rollout value
    first_errors: dict[int, dict[int, int]]  # trace id -> user id -> first-error step
    seconds: dict[int, float]  # user id -> seconds on finished items
    queue_items: int


def seed_annotation(project: Project, users: list, traces: list[Trace]) -> Annotation:
    """A queue over ``traces`` (the first one gold), steps labelled by both users, mc_rollout suggestions."""
    rng = random.Random(3)
    queue = Queue.objects.create(project=project, name="review", overlap=2)
    now = timezone.now()
    human: dict[int, dict[int, int]] = {}
    gold: dict[int, int] = {}
    auto: dict[int, int] = {}
    first_errors: dict[int, dict[int, int]] = {}
    seconds: dict[int, float] = {u.pk: 0.0 for u in users}
    for position, trace in enumerate(traces):
        segmentation = Segmentation.objects.create(trace=trace, version=1, method="test")
        Trace.objects.filter(pk=trace.pk).update(current_segmentation=segmentation, has_labels=True)
        steps = Step.objects.bulk_create(
            Step(segmentation=segmentation, trace=trace, index=i, char_start=0, char_end=0) for i in range(4)
        )
        is_gold = position == 0
        item = QueueItem.objects.create(
            queue=queue,
            trace=trace,
            position=position,
            gold_source="import:gold" if is_gold else "",
            done_count=len(users) if position % 3 else 1,
        )
        for step in steps:
            truth = rng.choice([-1, 0, 1, 1])
            auto[step.pk] = truth if rng.random() < 0.7 else -truth or 1
            Label.objects.create(step=step, trace=trace, value=auto[step.pk], source="mc_rollout")
            if is_gold:
                gold[step.pk] = truth
                Label.objects.create(step=step, trace=trace, value=truth, source="import:gold")
            human[step.pk] = {}
            for user in users:
                value = truth if rng.random() < 0.8 else rng.choice([-1, 0, 1])
                human[step.pk][user.pk] = value
                Label.objects.create(step=step, trace=trace, value=value, source=HUMAN, user=user)
        first_errors[trace.pk] = {}
        for user in users:
            mark = rng.choice([-1, 1, 2])
            first_errors[trace.pk][user.pk] = mark
            TraceAnnotation.objects.create(trace=trace, source=HUMAN, user=user, first_error_step=mark)
            if position % 3 or user is users[0]:
                spent = 60.0 + 30 * position
                seconds[user.pk] += spent
                QueueAssignment.objects.create(
                    item=item,
                    user=user,
                    status=AssignmentStatus.DONE,
                    finished_at=now - datetime.timedelta(minutes=5),
                    seconds_spent=spent,
                )
    return Annotation(human, gold, auto, first_errors, seconds, len(traces))
