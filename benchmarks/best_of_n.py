"""Best-of-N curves from stored PRM scores (docs/concepts.md §5.4): 100k traces, 16 samples a problem.

    .venv/bin/python benchmarks/best_of_n.py postgres://postgres@127.0.0.1:5432/SCRATCH \
        [--traces 100000] [--samples 16] [--repeats 5]

Migrates the (scratch) PostgreSQL database given and seeds one project, one model, ``--traces``
graded traces answering ``traces / samples`` problems ``--samples`` times each, with the five PRM
trace scores a scoring job stores (``prm_min`` … ``prm_sum`` of method ``prm:bench``), by set-based
``INSERT … SELECT``. Then, in the same process, ``--repeats`` times each:

* the dashboard's best-of-N charts (``traces.dashboards.prm_curves.best_of_n_charts``): the two
  queries, the arrays, every curve of every method with its bootstrap interval (target < 2 s);
* the curves alone on arrays already in memory (``selection_curves``), to show what is query and
  what is arithmetic.

Prints the medians of the wall time and of this process's CPU time (the database's is not in it),
and the machine's load: on a shared machine the wall time is the CPU time times the queue.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from import_throughput import setup_django


def seed(traces: int, samples: int):
    """The project (one model, one run) and its viewer; rows written by set-based SQL."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from traces.actions.prm_scoring import TRACE_SCORES
    from traces.models import LanguageModel, Membership, Project, Role, Run, RunKind

    project = Project.objects.create(name="Best-of-N benchmark", slug=f"bon-{time.monotonic_ns()}")
    user = get_user_model().objects.create_user(f"viewer-{project.slug}", password="benchmark password")
    Membership.objects.create(project=project, user=user, role=Role.VIEWER)
    model = LanguageModel.objects.create(project=project, name="sampler")
    run = Run.objects.create(project=project, model=model, kind=RunKind.GENERATION, name="16 samples")
    problems = traces // samples
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO traces_problem (project_id, prompt, answer, answer_type, source, split, external_id, meta,"
            " content_hash, created_at) SELECT %s, 'Problem ' || i, (i * 7)::text, 'numeric', 'bench', '', '', '{}',"
            " %s || '-p' || i, now() FROM generate_series(0, %s - 1) i",
            [project.pk, project.slug, problems],
        )
        cursor.execute("SELECT min(id) FROM traces_problem WHERE project_id = %s", [project.pk])
        first = cursor.fetchone()[0]
        # A sample is right with a chance that depends on its problem; a wrong one answers one of three wrong numbers.
        cursor.execute(
            "INSERT INTO traces_trace (project_id, run_id, problem_id, model_id, sample_index, raw_text, think_start,"
            " think_end, answer_start, answer_end, think_closed, think_tokens, answer_tokens, tokens_exact,"
            " finish_reason, final_answer, think_answer, is_correct, grading_method, has_labels, content_hash,"
            " meta, created_at)"
            " SELECT %s, %s, %s + p, %s, s, 'x', 0, 0, 0, 0, true, 100, 20, false, 'stop',"
            " CASE WHEN c THEN (p * 7)::text ELSE (p * 7 + 1 + floor(random() * 3)::int)::text END, '', c, 'bench',"
            " false, %s || '-' || p || '-' || s, '{}', now()"
            " FROM (SELECT p, s, random() < (p %% 10) / 10.0 AS c FROM generate_series(0, %s - 1) p,"
            " generate_series(0, %s - 1) s) g",
            [project.pk, run.pk, first, model.pk, project.slug, problems, samples],
        )
        # A PRM that scores right traces higher, with noise: each aggregation its own draw.
        for name in TRACE_SCORES.values():
            cursor.execute(
                "INSERT INTO traces_score (trace_id, name, value, method, version, created_at)"
                " SELECT t.id, %s, least(1, greatest(0, CASE WHEN t.is_correct THEN 0.65 ELSE 0.45 END"
                " + (random() - 0.5) * 0.6)), 'prm:bench', 'bench', now() FROM traces_trace t WHERE t.project_id = %s",
                [name, project.pk],
            )
        cursor.execute(
            "INSERT INTO traces_projectscorename (project_id, method, name) SELECT %s, 'prm:bench', unnest(%s::text[])",
            [project.pk, list(TRACE_SCORES.values())],
        )
        cursor.execute("ANALYZE")
    return project, user


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url", help="a scratch PostgreSQL database (it is migrated and written to)")
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        setup_django(args.database_url, Path(tmp))
        from django.http import QueryDict

        from traces.analysis.best_of_n import selection_curves
        from traces.dashboards.filters import ModelDashboardForm
        from traces.dashboards.model_comparison import LinkMaker
        from traces.dashboards.prm_curves import best_of_n_charts, sample_sets

        started = time.perf_counter()
        project, _ = seed(args.traces, args.samples)
        seeded_s = time.perf_counter() - started
        form = ModelDashboardForm(QueryDict(""), project=project, hidden_sources=frozenset())
        assert form.is_valid(), form.errors
        names = {model.id: model.name for model in form.shown_models}
        links = LinkMaker({}, {})

        def charts() -> tuple[float, float]:
            began, cpu = time.perf_counter(), time.process_time()
            built = best_of_n_charts(form, names, links)
            assert len(built[0].rows) == 12, len(built[0].rows)
            return time.perf_counter() - began, time.process_time() - cpu

        (sets,) = sample_sets(form, "prm:bench").values()

        def curves() -> tuple[float, float]:
            began, cpu = time.perf_counter(), time.process_time()
            selection_curves(sets[0])
            return time.perf_counter() - began, time.process_time() - cpu

        cold = charts()  # the first request also normalises every distinct answer once (then cached)
        whole = [charts() for _ in range(args.repeats)]
        arithmetic = [curves() for _ in range(args.repeats)]
        print(
            f"{args.traces} traces ({args.traces // args.samples} problems × {args.samples} samples), "
            f"{5 * args.traces} trace scores, seeded in {seeded_s:.0f} s; Python {sys.version.split()[0]}, "
            f"{args.database_url.rsplit('@', 1)[-1]}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
        for label, times in (("best-of-N charts, first (cold)", [cold]), ("best-of-N charts (queries + curves)", whole),
                             ("curves alone (arrays in memory)", arithmetic)):  # fmt: skip
            wall = statistics.median(t for t, _ in times)
            cpu = statistics.median(c for _, c in times)
            print(f"{label:38s} median {wall:6.2f} s wall, {cpu:5.2f} s of this process's CPU")
        print("target: the charts in < 2 s")


if __name__ == "__main__":
    main()
