"""How long generating a trace took, as the viewer shows it.

A backend reports the wall time of the request or batch that produced a completion, so every trace
of one batch carries the same ``generation_ms``: the batch's time, not the trace's. The viewer says
so, and shows each trace's share of it. Traces of one generation run with the same milliseconds
count as one batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from traces.models import RunKind, Trace
from traces.queries.traces import generation_batch_size


@dataclass(frozen=True)
class GenerationTime:
    """``total``: the time of the request or batch that produced the trace, shared by ``shared_by`` traces."""

    total: timedelta
    shared_by: int

    @property
    def each(self) -> timedelta:
        """The trace's share of the batch's time."""
        return self.total / self.shared_by


def generation_time(trace: Trace) -> GenerationTime | None:
    """The trace's generation time, with how many traces of its generation batch share it; None when unknown."""
    if trace.generation_ms is None:
        return None
    shared_by = 1
    if trace.run is not None and trace.run.kind == RunKind.GENERATION:
        shared_by = generation_batch_size(trace)
    return GenerationTime(timedelta(milliseconds=trace.generation_ms), shared_by)
