"""A database restart during a generation run is survived (issue 9 §4): the worker's PostgreSQL
connection is killed (``pg_terminate_backend``, what a restarted server does to its clients) while
the worker generates; the chunk task retries on a new connection and the run completes with every
trace exactly once. PostgreSQL only: SQLite has no server to restart."""

from __future__ import annotations

from collections import Counter

import pytest
from django.db import connection

from traces.actions.generation import PROMPTS_PER_BATCH, do_start_generation
from traces.backends import SamplingParams
from traces.generation import DEFAULT_SYSTEM_PROMPT
from traces.models import LanguageModel, Problem, Project, Run, RunStatus, Trace
from traces.trace_builder import problem_hash

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs a database server to restart (PostgreSQL)"),
]


#: The worker's connections are told apart by their application name (libpq reads PGAPPNAME), so the
#: test kills them alone: other connections to the test database (a live server's) stay untouched.
WORKER_APP = "thinkscope-test-worker"


def kill_worker_connections() -> int:
    """Terminate the worker's connections to the test database, as a restart would; how many."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = %s",
            [WORKER_APP],
        )
        return int(cursor.fetchone()[0])


def test_a_run_survives_its_workers_database_connection_dying(start_workers, wait_for, tmp_path) -> None:
    project = Project.objects.create(name="Restart", slug="restart")
    model = LanguageModel.objects.create(
        project=project, name="SmolLM2-135M-Instruct", backend="transformers", endpoint="embedded", system_prompt=DEFAULT_SYSTEM_PROMPT
    )
    problems = []
    for i in range(2 * PROMPTS_PER_BATCH):
        prompt, answer = f"Ann has {i + 4} pens and gives away 2. How many are left?", str(i + 2)
        problems.append(
            Problem.objects.create(
                project=project, prompt=prompt, answer=answer, content_hash=problem_hash(prompt, answer)
            ).pk
        )
    start_workers({"PGAPPNAME": WORKER_APP})
    run = do_start_generation(project, model, problems, SamplingParams(n=1, max_new_tokens=32, temperature=0.8, seed=4))
    wait_for(lambda: Trace.objects.filter(run=run).count() >= PROMPTS_PER_BATCH, timeout=600)
    assert kill_worker_connections() >= 1  # the worker's connection, while it generates the second batch

    done = wait_for(
        lambda: Run.objects.filter(pk=run.pk).exclude(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).first(),
        timeout=600,
    )
    assert done.status == RunStatus.SUCCEEDED, done.error
    samples = Counter(Trace.objects.filter(run=run).values_list("problem_id", "sample_index"))
    assert sorted(samples) == sorted((pk, 0) for pk in problems) and set(samples.values()) == {1}
    log = (tmp_path / "worker-0.log").read_text()
    assert "Retry in 2s" in log and "OperationalError" in log  # it was the retry that saved the run
