"""Agreement of a queue's annotators (docs/concepts.md §3.8): among people, and people against
every automatic method.

Read from the human labels of the queue's traces (their current steps), the coefficients come from
``traces.analysis.metrics``:

* **Krippendorff's alpha (ordinal)** over every step two or more people rated (any number of
  raters per step);
* **Fleiss' kappa**, which needs the same number of ratings on every step: it is computed over the
  steps with the most common count of ratings (two or more; the overlap when everyone finished;
  ``modal_fleiss_kappa``, which the annotation dashboard uses too), and that count is shown beside it;
* **first-error agreement**: per pair of people and trace where both labellings determine a first
  error (as the ProcessBench export reads it: the first −1, or "no error" when every step is rated
  and none is −1; ``traces.queries.evaluation``), the share where they put it at the same step;
  overall, pooled over every pair;
* per pair of people, the same plus Cohen's kappa over the steps both rated;
* **human vs each automatic method** present on the queue's traces but the hidden ones (gold
  sources the reader may not see, ``traces.access``): ``evaluate_traces`` (ProcessBench
  F1 of the first errors and step accuracy), people's labels taken as the reference (several people
  on one step count as their majority, ties to the more critical value).

A coefficient that cannot be computed (too few steps, one category only) is None: the page shows
"undefined", never a made-up number.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from itertools import combinations

from django.db.models import F

from traces.analysis.metrics import cohen_kappa, first_error_agreement, krippendorff_alpha_ordinal, modal_fleiss_kappa
from traces.exports.policy import SourcedLabel, trace_steps
from traces.exports.records import first_error_position
from traces.models import HUMAN, Label, Queue, Step, Trace, is_auto_source
from traces.models.trace import TraceQuerySet
from traces.queries.evaluation import LabellerEvaluation, evaluate_traces, labelling_policy


@dataclass(frozen=True)
class Agreement:
    """The agreement of a group of people (everyone, or one pair)."""

    steps: int  # steps rated by two or more of them
    alpha: float | None
    fleiss: float | None
    fleiss_raters: int  # ratings per step Fleiss' kappa was computed over (0: not computed)
    fleiss_steps: int
    first_error: float | None
    first_error_traces: int  # (trace, pair) comparisons with a determined first error in both


@dataclass(frozen=True)
class PairAgreement:
    first: str
    second: str
    agreement: Agreement
    cohen: float | None


@dataclass(frozen=True)
class QueueAgreement:
    annotators: list[str]
    overall: Agreement
    pairs: list[PairAgreement]
    methods: list[LabellerEvaluation]


@dataclass(frozen=True)
class HumanLabels:
    """The people's values of the queue's current steps: ``ratings[step id][user id]``; each trace's step ids
    in order; ``first_errors[(trace id, user id)]`` where the person's labelling determines one."""

    ratings: dict[int, dict[int, int]]
    steps_by_trace: dict[int, list[int]]
    first_errors: dict[tuple[int, int], int]
    usernames: dict[int, str]


def queue_traces(queue: Queue) -> TraceQuerySet:
    """The queue's traces."""
    return Trace.objects.filter(queue_items__queue=queue)


def human_labels(queue: Queue) -> HumanLabels:
    """Read the people's labels of the queue's traces (two queries)."""
    rows = Label.objects.filter(
        trace__queue_items__queue=queue,
        source=HUMAN,
        user__isnull=False,
        value__isnull=False,
        step__segmentation_id=F("trace__current_segmentation_id"),
    ).values_list("step_id", "user_id", "user__username", "value")
    ratings: dict[int, dict[int, int]] = defaultdict(dict)
    usernames: dict[int, str] = {}
    for step_id, user_id, username, value in rows:
        ratings[step_id][user_id] = value  # type: ignore[assignment]  # value__isnull=False above; the stubs type the column as nullable
        usernames[user_id] = username
    steps_by_trace: dict[int, list[int]] = defaultdict(list)
    current = Step.objects.filter(
        trace__queue_items__queue=queue, segmentation_id=F("trace__current_segmentation_id")
    ).order_by("trace_id", "index")
    for trace_id, step_id in current.values_list("trace_id", "id"):
        steps_by_trace[trace_id].append(step_id)
    policy = labelling_policy(HUMAN, "reference")
    first_errors: dict[tuple[int, int], int] = {}
    for trace_id, step_ids in steps_by_trace.items():
        people = {user_id for step_id in step_ids for user_id in ratings.get(step_id, {})}
        for user_id in people:
            labels = [
                (SourcedLabel(HUMAN, ratings[step_id][user_id]),) if user_id in ratings.get(step_id, {}) else ()
                for step_id in step_ids
            ]
            position = first_error_position(trace_steps(policy, labels))
            if position is not None:
                first_errors[(trace_id, user_id)] = position
    return HumanLabels(dict(ratings), dict(steps_by_trace), first_errors, usernames)


def group_agreement(per_step: Sequence[Sequence[int]], first_error_pairs: Sequence[tuple[int, int]]) -> Agreement:
    """Alpha, Fleiss' kappa and first-error agreement of one group: each step's values (of whoever rated
    it) and the first errors of each compared (trace, pair). Pure."""
    rated = [values for values in per_step if len(values) >= 2]
    fleiss = modal_fleiss_kappa(rated)
    return Agreement(
        steps=len(rated),
        alpha=krippendorff_alpha_ordinal(rated) if rated else None,
        fleiss=fleiss.kappa,
        fleiss_raters=fleiss.raters,
        fleiss_steps=fleiss.items,
        first_error=(
            first_error_agreement([a for a, _ in first_error_pairs], [b for _, b in first_error_pairs])
            if first_error_pairs
            else None
        ),
        first_error_traces=len(first_error_pairs),
    )


def pair_agreement(labels: HumanLabels, first: int, second: int) -> PairAgreement:
    both = [
        (by_user[first], by_user[second])
        for by_user in labels.ratings.values()
        if first in by_user and second in by_user
    ]
    first_errors = [
        (labels.first_errors[(trace_id, first)], labels.first_errors[(trace_id, second)])
        for trace_id in labels.steps_by_trace
        if (trace_id, first) in labels.first_errors and (trace_id, second) in labels.first_errors
    ]
    return PairAgreement(
        first=labels.usernames[first],
        second=labels.usernames[second],
        agreement=group_agreement([list(values) for values in both], first_errors),
        cohen=cohen_kappa([a for a, _ in both], [b for _, b in both]) if both else None,
    )


def queue_agreement(queue: Queue, hidden: Collection[str]) -> QueueAgreement:
    """Everything the agreement page shows (module docstring); ``hidden`` sources are left out."""
    labels = human_labels(queue)
    people = sorted(labels.usernames, key=labels.usernames.__getitem__)
    pairs = [pair_agreement(labels, a, b) for a, b in combinations(people, 2)]
    pairs = [pair for pair in pairs if pair.agreement.steps or pair.agreement.first_error_traces]
    pooled_first_errors = [
        (labels.first_errors[(trace_id, a)], labels.first_errors[(trace_id, b)])
        for trace_id in labels.steps_by_trace
        for a, b in combinations(people, 2)
        if (trace_id, a) in labels.first_errors and (trace_id, b) in labels.first_errors
    ]
    overall = group_agreement([list(by_user.values()) for by_user in labels.ratings.values()], pooled_first_errors)
    return QueueAgreement(
        annotators=[labels.usernames[user_id] for user_id in people],
        overall=overall,
        pairs=pairs,
        methods=[
            evaluate_traces(queue_traces(queue), method, HUMAN)
            for method in automatic_sources(queue)
            if method not in hidden
        ],
    )


def automatic_sources(queue: Queue) -> list[str]:
    """The automatic label sources present on the queue's traces, sorted."""
    sources = Label.objects.filter(trace__queue_items__queue=queue).order_by("source").values_list("source", flat=True)
    return [source for source in sources.distinct() if is_auto_source(source)]
