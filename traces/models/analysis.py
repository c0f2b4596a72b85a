"""Stored results of the analysis engine (docs/concepts.md §3.3–3.5): verdicts and the positions the viewer marks.

The numbers (overthinking ratio, loop count, …) are ``Score`` rows so lists can filter and sort by
them; this row keeps what is not a number: verdicts and character spans of markers (t*, loops,
behaviour phrases), for one analysis version per trace. It also repeats the few scores the model
dashboard aggregates (:data:`SUMMARY_SCORES`) as columns: one narrow row per trace to group by model,
instead of a dozen Score rows per trace to join (a dashboard reads 100k traces).
"""

from __future__ import annotations

from django.db import models

from traces.models.trace import Trace

#: Scores of the engine (``traces.analysis.engine``) also stored as columns of TraceAnalysis, by name.
SUMMARY_SCORES = (
    "think_answer_mismatch",
    "truncated",
    "loop_count",
    "overthinking_ratio",
    "behaviour_verification",
    "behaviour_backtracking",
    "behaviour_subgoal",
    "behaviour_backward_chaining",
    "behaviour_reflection",
)


class TraceAnalysis(models.Model):
    trace = models.OneToOneField(Trace, on_delete=models.CASCADE, related_name="analysis")
    version = models.CharField(max_length=32, help_text="Analysis engine version that produced this row")
    verdicts = models.JSONField(default=dict, blank=True, help_text="mismatch, truncated, unsupported answer, …")
    markers = models.JSONField(
        default=list, blank=True, help_text="[{kind, start, end, label}] character spans in the trace's raw text"
    )
    updated_at = models.DateTimeField(auto_now=True)

    # SUMMARY_SCORES as columns (null: the engine gave no such score for this trace).
    think_answer_mismatch = models.FloatField(null=True, blank=True)
    truncated = models.FloatField(null=True, blank=True)
    loop_count = models.FloatField(null=True, blank=True)
    overthinking_ratio = models.FloatField(null=True, blank=True)
    behaviour_verification = models.FloatField(null=True, blank=True)
    behaviour_backtracking = models.FloatField(null=True, blank=True)
    behaviour_subgoal = models.FloatField(null=True, blank=True)
    behaviour_backward_chaining = models.FloatField(null=True, blank=True)
    behaviour_reflection = models.FloatField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "trace analyses"

    def __str__(self) -> str:
        return f"analysis {self.version} of {self.trace}"
