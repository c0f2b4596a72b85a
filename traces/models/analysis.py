"""Stored results of the analysis engine (SPEC §3.3–3.5): verdicts and the positions the viewer marks.

The numbers (overthinking ratio, loop count, …) are ``Score`` rows so lists can filter and sort by
them; this row keeps what is not a number: verdicts and character spans of markers (t*, loops,
behaviour phrases), for one analysis version per trace.
"""

from __future__ import annotations

from django.db import models

from traces.models.trace import Trace


class TraceAnalysis(models.Model):
    trace = models.OneToOneField(Trace, on_delete=models.CASCADE, related_name="analysis")
    version = models.CharField(max_length=32, help_text="Analysis engine version that produced this row")
    verdicts = models.JSONField(default=dict, blank=True, help_text="mismatch, truncated, unsupported answer, …")
    markers = models.JSONField(
        default=list, blank=True, help_text="[{kind, start, end, label}] character spans in the trace's raw text"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "trace analyses"

    def __str__(self) -> str:
        return f"analysis {self.version} of {self.trace}"
