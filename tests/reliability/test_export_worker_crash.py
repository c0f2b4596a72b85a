"""An export whose worker is killed with SIGKILL mid-export completes once after a restart (issue 9 item 4).

Tasks are ``acks_late`` with ``reject_on_worker_lost``: Redis hands an unacknowledged task out again
after the visibility timeout (5 s here); on the embedded filesystem broker, which deletes a message
as it hands it out, the next worker to start sends again the tasks its dead predecessor had
received (``workers.redelivery``). Either way ``export_run`` runs a RUNNING export again from the
start, rewriting its files whole. The test runs on whichever broker the settings pick (CI: Redis
with PostgreSQL, the filesystem with SQLite).
"""

from __future__ import annotations

import json
import os
import signal
from collections import Counter

from traces.actions.exports import ExportSpec, do_start_export, export_file
from traces.actions.store import store_traces
from traces.exports.policy import LabelPolicy
from traces.formats.base import ParsedStep, ParsedTrace
from traces.models import Project, Run, RunKind, RunStatus

TRACES = 3000
STEPS = 12


def finished(run: Run) -> Run | None:
    return Run.objects.filter(pk=run.pk).exclude(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).first()


def test_an_export_killed_mid_way_completes_exactly_once(start_workers, wait_for) -> None:
    project = Project.objects.create(name="Crash export", slug="crash-export")
    run = Run.objects.create(project=project, kind=RunKind.IMPORT, name="big.jsonl")
    parsed = [
        ParsedTrace(line_no=i, prompt=f"Problem {i}: what is {i} + 1?", reference_answer=str(i + 1), text="",
                    model_name="m", steps=[ParsedStep(text=f"step {j} of {i}", label=1) for j in range(STEPS)],
                    label_source="import:test")
        for i in range(TRACES)
    ]  # fmt: skip
    store_traces(project, run, parsed)
    redeliver_fast = {"THINKSCOPE_BROKER_VISIBILITY_TIMEOUT": "5"}
    first = start_workers(redeliver_fast)
    export = do_start_export(project, ExportSpec("trl", LabelPolicy(sources="import:test")))

    wait_for(lambda: Run.objects.filter(pk=export.pk, progress_done__gt=0).exists(), timeout=300, interval=0.02)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    killed = Run.objects.get(pk=export.pk)
    assert killed.status == RunStatus.RUNNING and killed.progress_done < TRACES, "kill the worker mid-export"

    start_workers(redeliver_fast, purge=False)
    done = wait_for(lambda: finished(export), timeout=300)
    assert done.status == RunStatus.SUCCEEDED, done.error
    assert done.report["rows_written"] == TRACES
    with export_file(done, "train").open(encoding="utf-8") as rows:
        prompts = Counter(json.loads(line)["prompt"] for line in rows)
    assert len(prompts) == TRACES and set(prompts.values()) == {1}, "a trace is missing or exported twice"
