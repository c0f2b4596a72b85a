"""Traces, their segmentations and steps (docs/concepts.md §1 Trace, Step)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, Substr

from traces.analysis.think import ThinkSplit
from traces.models.problem import Problem
from traces.models.project import Project
from traces.models.run import LanguageModel, Run

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


class FinishReason(models.TextChoices):
    STOP = "stop", "stop"
    LENGTH = "length", "length"
    ERROR = "error", "error"
    UNKNOWN = "unknown", "unknown"


class Part(models.TextChoices):
    THINK = "think", "Think"
    ANSWER = "answer", "Answer"


#: The trace list's correctness filter values and the ``is_correct`` each one selects.
CORRECTNESS_FILTER: dict[str, bool | None] = {"yes": True, "no": False, "undetermined": None}

#: Columns a trace-list row reads (``with_list_columns``); the raw text is never loaded there.
LIST_FIELDS = (
    "id",
    "project_id",
    "run_id",
    "problem_id",
    "model__name",
    "current_segmentation_id",
    "final_answer",
    "is_correct",
    "grading_method",
    "finish_reason",
    "think_tokens",
    "answer_tokens",
    "tokens_exact",
    "think_closed",
    "has_labels",
)


def _label_queryset() -> models.QuerySet:
    """``Label.objects.all()``, imported at call time (``traces.models.label`` imports this module)."""
    from traces.models.label import Label

    return Label.objects.all()


def _score_queryset() -> models.QuerySet:
    """``Score.objects.all()``, imported at call time (``traces.models.score`` imports this module)."""
    from traces.models.score import Score

    return Score.objects.all()


class TraceQuerySet(models.QuerySet["Trace"]):
    def visible_to(self, user: User | AnonymousUser | None) -> TraceQuerySet:
        """Traces of projects the user is a member of."""
        if user is None or not user.is_authenticated:
            return self.none()
        return self.filter(project__memberships__user=user)

    def matching_text(self, query: str) -> TraceQuerySet:
        """Traces whose completion or problem contains ``query`` (case-insensitive)."""
        return self.filter(Q(raw_text__icontains=query) | Q(problem__prompt__icontains=query))

    def page_after(self, after_id: int | None, size: int) -> list[Trace]:
        """One page of keyset pagination, newest first: fast at any depth (no OFFSET)."""
        queryset = self.order_by("-id")
        if after_id is not None:
            queryset = queryset.filter(id__lt=after_id)
        return list(queryset[:size])

    def with_score(
        self, name: str, method: str, *, required: bool, low: float | None = None, high: float | None = None
    ) -> TraceQuerySet:
        """Each trace with ``score_value``: its trace-level score ``name`` made by ``method``.

        ``required`` keeps only the traces that have the score, within ``[low, high]`` when given,
        by joining the score row (at most one per trace: constraint ``score_unique_trace``), so
        the list can filter and sort on it. Otherwise ``score_value`` is a correlated lookup of
        the page's rows, None for a trace without that score.
        """
        if not required:
            value = _score_queryset().filter(trace_id=OuterRef("pk"), name=name, method=method, step__isnull=True)
            return self.annotate(score_value=Subquery(value.values("value")[:1]))
        bounds = {"scores__value__gte": low, "scores__value__lte": high}
        return self.filter(
            scores__name=name,
            scores__method=method,
            scores__step__isnull=True,
            **{lookup: bound for lookup, bound in bounds.items() if bound is not None},
        ).annotate(score_value=F("scores__value"))

    def page_by_score(self, after: tuple[float, int] | None, size: int, *, descending: bool) -> list[Trace]:
        """One keyset page ordered by ``(score_value, id)`` (``with_score(required=True)`` first).

        ``after`` is the ``(score_value, id)`` of the previous page's last row; the id breaks ties,
        so every trace comes exactly once however many share a value.
        """
        direction = "-" if descending else ""
        queryset = self.order_by(f"{direction}score_value", f"{direction}id")
        if after is not None:
            value, after_id = after
            beyond = "lt" if descending else "gt"
            queryset = queryset.filter(
                Q(**{f"score_value__{beyond}": value}) | Q(score_value=value, **{f"id__{beyond}": after_id})
            )
        return list(queryset[:size])

    def in_project(self, project: Project) -> TraceQuerySet:
        """Traces of one project (the caller has checked membership)."""
        return self.filter(project=project)

    def filtered(
        self,
        *,
        model: LanguageModel | None = None,
        run: Run | None = None,
        correct: str = "",
        finish_reason: str = "",
        labeled: str = "",
        q: str = "",
        hidden: Q | None = None,
    ) -> TraceQuerySet:
        """Apply the trace-list filters; empty values mean "any".

        ``correct`` is ``yes``/``no``/``undetermined`` (``is_correct`` true/false/null) and
        ``labeled`` is ``yes``/``no`` (``with_labeled``: labels ``hidden`` matches do not count).
        Each of model, run, correctness, finish reason and labeled has a ``(project, column, -id)``
        index, so a filtered keyset page is an index range scan. ``q`` is a substring search (see
        ``matching_text``).
        """
        queryset: TraceQuerySet = self
        if model is not None:
            queryset = queryset.filter(model=model)
        if run is not None:
            queryset = queryset.filter(run=run)
        if correct:
            queryset = queryset.filter(is_correct=CORRECTNESS_FILTER[correct])
        if finish_reason:
            queryset = queryset.filter(finish_reason=finish_reason)
        if labeled:
            # ``labeled`` is with_labeled's annotation, which the django-stubs plugin does not follow into a method.
            queryset = queryset.with_labeled(hidden).filter(labeled=(labeled == "yes"))  # type: ignore[misc]
        if q:
            queryset = queryset.matching_text(q)
        return queryset

    def with_labeled(self, hidden: Q | None = None) -> TraceQuerySet:
        """Each trace with ``labeled``: whether it has a label that ``hidden`` does not match (the
        labels a person may not see, ``traces.access.hidden_labels``). Without ``hidden`` it is the
        denormalised, indexed ``has_labels`` flag."""
        if not hidden:
            return self.annotate(labeled=F("has_labels"))
        return self.annotate(labeled=Exists(_label_queryset().filter(trace_id=OuterRef("pk")).exclude(hidden)))

    def with_list_columns(self, excerpt_chars: int = 240, hidden: Q | None = None) -> TraceQuerySet:
        """What a trace-list row shows, without loading raw text, logprobs or whole prompts; labels
        ``hidden`` matches are not counted.

        The step and label counts are correlated subqueries on indexed foreign keys, evaluated only
        for the rows of the page (never a ``COUNT(*)`` over the table).
        """
        step_count = (
            Step.objects.filter(segmentation_id=OuterRef("current_segmentation_id"))
            .order_by()
            .values("segmentation_id")
            .annotate(n=Count("id"))
            .values("n")
        )
        label_count = (
            _label_queryset()
            .filter(trace_id=OuterRef("pk"), step__segmentation_id=OuterRef("current_segmentation_id"))
            .exclude(hidden or Q())
            .order_by()
            .values("trace_id")
            .annotate(n=Count("id"))
            .values("n")
        )
        return (
            self.select_related("model")
            .only(*LIST_FIELDS)
            .annotate(
                problem_excerpt=Substr(F("problem__prompt"), 1, excerpt_chars),
                step_count=Coalesce(Subquery(step_count), 0),
                label_count=Coalesce(Subquery(label_count), 0),
            )
        )

    def for_viewer(self) -> TraceQuerySet:
        """One trace with everything the trace viewer shows beside its steps (one query)."""
        return self.select_related("problem", "model", "run", "current_segmentation")


class Trace(models.Model):
    """One completion: raw text with its think/answer spans, answers, correctness and counts."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="traces")
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="traces")
    problem = models.ForeignKey(Problem, on_delete=models.CASCADE, related_name="traces")
    model = models.ForeignKey(LanguageModel, on_delete=models.PROTECT, related_name="traces")
    sample_index = models.PositiveIntegerField(default=0, help_text="Sample number (or line number of an import)")

    raw_text = models.TextField()
    think_start = models.PositiveIntegerField(default=0)
    think_end = models.PositiveIntegerField(default=0)
    answer_start = models.PositiveIntegerField(default=0)
    answer_end = models.PositiveIntegerField(default=0)
    think_closed = models.BooleanField(default=True, help_text="False: an opened, never-closed think block")
    think_tokens = models.PositiveIntegerField(default=0)
    answer_tokens = models.PositiveIntegerField(default=0)
    tokens_exact = models.BooleanField(default=False, help_text="Counts from the model's tokenizer, not estimated")
    finish_reason = models.CharField(max_length=16, choices=FinishReason.choices, default=FinishReason.UNKNOWN)
    logprobs = models.JSONField(null=True, blank=True)

    final_answer = models.TextField(blank=True, default="", help_text="Answer extracted from the answer part")
    think_answer = models.TextField(blank=True, default="", help_text="Last answer reached inside the think part")
    is_correct = models.BooleanField(null=True, blank=True, help_text="None: undetermined or no reference")
    grading_method = models.CharField(max_length=32, blank=True, default="")

    generation_ms = models.PositiveIntegerField(null=True, blank=True)
    has_labels = models.BooleanField(default=False)
    current_segmentation = models.ForeignKey(
        "Segmentation", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    content_hash = models.CharField(max_length=64, help_text="sha256 of problem, model and text: dedupes imports")
    meta = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TraceQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "content_hash"], name="trace_unique_content"),
            models.UniqueConstraint(fields=["run", "problem", "sample_index"], name="trace_unique_sample"),
        ]
        indexes = [
            # Keyset pagination of each list filter: (project, filter column, -id).
            models.Index(fields=["project", "-id"], name="trace_project_idx"),
            models.Index(fields=["project", "model", "-id"], name="trace_model_idx"),
            models.Index(fields=["project", "run", "-id"], name="trace_run_idx"),
            models.Index(fields=["project", "is_correct", "-id"], name="trace_correct_idx"),
            models.Index(fields=["project", "finish_reason", "-id"], name="trace_finish_idx"),
            models.Index(fields=["project", "has_labels", "-id"], name="trace_labeled_idx"),
        ]

    def __str__(self) -> str:
        return f"trace {self.pk}"

    @property
    def think_text(self) -> str:
        return self.raw_text[self.think_start : self.think_end]

    @property
    def answer_text(self) -> str:
        return self.raw_text[self.answer_start : self.answer_end]

    @property
    def total_tokens(self) -> int:
        return self.think_tokens + self.answer_tokens

    @property
    def think_split(self) -> ThinkSplit:
        """Where the think and answer parts lie, as stored (``traces.analysis.think``)."""
        return ThinkSplit(self.think_start, self.think_end, self.answer_start, self.answer_end, self.think_closed)


class Segmentation(models.Model):
    """One version of a trace's split into steps; labels point at the steps of one version."""

    trace = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="segmentations")
    version = models.PositiveIntegerField()
    method = models.CharField(max_length=64, help_text="Segmenter name, or 'source' for steps given by the file")
    params = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["trace", "version"], name="segmentation_unique_version")]

    def __str__(self) -> str:
        return f"{self.trace} v{self.version} ({self.method})"


class Step(models.Model):
    """A contiguous span of a trace's raw text."""

    segmentation = models.ForeignKey(Segmentation, on_delete=models.CASCADE, related_name="steps")
    trace = models.ForeignKey(Trace, on_delete=models.CASCADE, related_name="steps")
    index = models.PositiveIntegerField()
    char_start = models.PositiveIntegerField()
    char_end = models.PositiveIntegerField()
    token_start = models.PositiveIntegerField(default=0)
    token_end = models.PositiveIntegerField(default=0)
    part = models.CharField(max_length=8, choices=Part.choices, default=Part.ANSWER)
    alternatives = models.JSONField(
        default=list, blank=True, help_text="PRM800K: every completion offered at this step, with its rating"
    )
    human_written = models.BooleanField(
        default=False, help_text="A person wrote the text, not the model (PRM800K's human_completion)"
    )

    class Meta:
        ordering = ["index"]
        constraints = [
            models.UniqueConstraint(fields=["segmentation", "index"], name="step_unique_index"),
            models.CheckConstraint(condition=Q(char_end__gte=models.F("char_start")), name="step_span_ordered"),
        ]

    def __str__(self) -> str:
        return f"step {self.index} of {self.trace_id}"
