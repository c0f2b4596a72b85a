"""A run's live engine progress: written when a call starts and at most once a second after, and a
cancelled run's call stops at the next engine batch."""

from __future__ import annotations

import pytest

from traces.actions.runs import LiveProgress, RunCancelled, without_engine
from traces.models import Project, Run, RunKind, RunStatus

pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_is_written_at_most_once_a_second_and_stops_a_cancelled_run(project: Project) -> None:
    run = Run.objects.create(project=project, kind=RunKind.GENERATION, status=RunStatus.RUNNING, report={"x": 1})
    clock = Clock()
    progress = LiveProgress(run.pk, clock).engine_call(8, units=8)
    engine = lambda: Run.objects.get(pk=run.pk).report["engine"]  # noqa: E731
    assert engine()["done"] == 0 and engine()["total"] == 8

    clock.now += 0.4
    progress(2, 100)
    assert engine()["done"] == 0  # under a second since the last write
    clock.now += 0.7
    progress(2, 100)
    assert (engine()["done"], engine()["tokens"], engine()["seconds"]) == (4, 200, 1.1)
    assert without_engine(Run.objects.get(pk=run.pk).report) == {"x": 1}

    Run.objects.filter(pk=run.pk).update(status=RunStatus.CANCELLED)
    with pytest.raises(RunCancelled):
        progress(2, 100)
