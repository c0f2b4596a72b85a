"""Model dashboard latency (issue 8 item 4): its data endpoint beside the bare aggregate SQL it runs.

    .venv/bin/python benchmarks/dashboard_query.py postgres://postgres@127.0.0.1:5432/SCRATCH \
        [--traces 100000] [--models 4] [--samples 50] [--requests 30] [--reuse]

Migrates the (scratch) PostgreSQL database given, and seeds one project with ``--traces`` traces
spread over ``--models`` models, each answering the same problems ``--samples`` times, with the 13
analysis scores the engine stores per trace and the TraceAnalysis row that repeats the dashboard's
ones as columns, by set-based ``INSERT … SELECT`` (seconds, not minutes); with ``--reuse``, the
project a previous run seeded with the same sizes is timed instead, when there is one. Then, in the
same process and connection:

* ``GET …/dashboards/models/data.json`` through Django's test client (whole middleware stack,
  session auth), ``--requests`` times;
* the bare aggregate SQL: the very statements one request ran (captured once), executed through the
  cursor and fetched, ``--requests`` times.

Prints p50/p95 of each and their ratio (targets: endpoint p95 < 300 ms and ≤ 2× the bare SQL);
last, the trace list page of the same project (first page, sorted by a score), whose score filter
reads the names registered per project rather than a DISTINCT over every score row.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from import_throughput import setup_django
from labeling import percentiles, timed

SCORES = {
    "overthinking_ratio": "CASE WHEN t.is_correct THEN random() ELSE 0 END",
    "truncated": "(random() < 0.05)::int",
    "think_empty": "(random() < 0.01)::int",
    "loop_count": "floor(random() * random() * 4)",
    "loop_tokens_wasted": "floor(random() * 200)",
    "thought_switches": "floor(random() * 6)",
    "think_tokens_measured": "t.think_tokens",
    "think_answer_mismatch": "(random() < 0.15)::int",
    "behaviour_verification": "floor(random() * 4)",
    "behaviour_backtracking": "floor(random() * 3)",
    "behaviour_subgoal": "floor(random() * 3)",
    "behaviour_backward_chaining": "floor(random() * 2)",
    "behaviour_reflection": "floor(random() * 3)",
}


def seed(traces: int, models: int, samples: int):
    """The project and its member; rows written by set-based SQL."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from traces.models import LanguageModel, Membership, Project, Role, Run, RunKind
    from traces.models.analysis import SUMMARY_SCORES

    project = Project.objects.create(name="Dashboard benchmark", slug=f"dash-{time.monotonic_ns()}")
    user = get_user_model().objects.create_user(f"viewer-{project.slug}", password="benchmark password")
    Membership.objects.create(project=project, user=user, role=Role.VIEWER)
    problems = max(1, traces // (models * samples))
    model_ids, run_ids = [], []
    for m in range(models):
        model = LanguageModel.objects.create(project=project, name=f"model-{m}")
        model_ids.append(model.pk)
        run_ids.append(Run.objects.create(project=project, model=model, kind=RunKind.GENERATION, name=f"run {m}").pk)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO traces_problem (project_id, prompt, answer, answer_type, source, split, external_id, meta,"
            " content_hash, created_at) SELECT %s, 'Problem ' || i || ': what is ' || i || ' * 7?', (i * 7)::text,"
            " 'numeric', CASE WHEN i %% 2 = 0 THEN 'gsm8k' ELSE 'math500' END, '', '', '{}', %s || '-p' || i, now()"
            " FROM generate_series(0, %s - 1) i",
            [project.pk, project.slug, problems],
        )
        cursor.execute("SELECT min(id) FROM traces_problem WHERE project_id = %s", [project.pk])
        first_problem = cursor.fetchone()[0]
        per_model = problems * samples
        cursor.execute(
            "INSERT INTO traces_trace (project_id, run_id, problem_id, model_id, sample_index, raw_text, think_start,"
            " think_end, answer_start, answer_end, think_closed, think_tokens, answer_tokens, tokens_exact,"
            " finish_reason, final_answer, think_answer, is_correct, grading_method, has_labels, content_hash,"
            " meta, created_at)"
            " SELECT %s, (%s::bigint[])[m + 1], %s + p, (%s::bigint[])[m + 1], s, 'x', 0, 0, 0, 0, true,"
            " floor(random() * random() * 12000)::int, 50 + floor(random() * 400)::int, false, 'stop',"
            " CASE WHEN c THEN ((p) * 7)::text ELSE ((p) * 7 + floor(random() * 3)::int + 1)::text END, '', c, 'bench',"
            " false, %s || '-' || m || '-' || p || '-' || s, '{}', now() - (random() * interval '30 days')"
            " FROM (SELECT m, p, s, random() < (0.3 + 0.15 * m) AS c FROM generate_series(0, %s - 1) m,"
            " generate_series(0, %s - 1) p, generate_series(0, %s - 1) s) g",
            [project.pk, run_ids, first_problem, model_ids, project.slug, models, problems, samples],
        )
        for name, value in SCORES.items():
            cursor.execute(
                "INSERT INTO traces_score (trace_id, name, value, method, version, created_at)"
                f" SELECT t.id, %s, {value}, 'analysis', '1', now() FROM traces_trace t WHERE t.project_id = %s",
                [name, project.pk],
            )
        # The analysis action registers the names it stores (what the trace list offers) ...
        cursor.execute(
            "INSERT INTO traces_projectscorename (project_id, method, name) SELECT %s, 'analysis', unnest(%s::text[])",
            [project.pk, list(SCORES)],
        )
        # ... and repeats the dashboard's scores as TraceAnalysis columns: one pivot pass.
        columns = ", ".join(SUMMARY_SCORES)
        pivots = ", ".join(f"max(s.value) FILTER (WHERE s.name = '{name}')" for name in SUMMARY_SCORES)
        cursor.execute(
            f"INSERT INTO traces_traceanalysis (trace_id, version, verdicts, markers, updated_at, {columns})"
            f" SELECT s.trace_id, '1', '{{}}', '[]', now(), {pivots} FROM traces_score s"
            " JOIN traces_trace t ON t.id = s.trace_id WHERE t.project_id = %s GROUP BY s.trace_id",
            [project.pk],
        )
        cursor.execute("ANALYZE")
    del per_model
    return project, user, problems


def seeded(traces: int, models: int, samples: int):
    """The newest project an earlier run seeded with these sizes, its viewer and problem count, or None."""
    from traces.models import LanguageModel, Problem, Project, Trace

    project = Project.objects.filter(name="Dashboard benchmark").order_by("-id").first()
    if project is None:
        return None
    problems = max(1, traces // (models * samples))
    if (
        LanguageModel.objects.filter(project=project).count() != models
        or Problem.objects.filter(project=project).count() != problems
        or Trace.objects.filter(project=project).count() != models * problems * samples
    ):
        return None
    return project, project.memberships.get().user, problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url", help="a scratch PostgreSQL database (it is migrated and written to)")
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--models", type=int, default=4)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument(
        "--reuse", action="store_true", help="time the data an earlier run seeded with the same sizes, if any"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        setup_django(args.database_url, Path(tmp))
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext
        from django.urls import reverse

        started = time.perf_counter()
        reused = seeded(args.traces, args.models, args.samples) if args.reuse else None
        project, user, problems = reused or seed(args.traces, args.models, args.samples)
        seeded_s = time.perf_counter() - started
        client = Client()
        client.force_login(user)
        url = reverse("dashboard-data", args=[project.slug, "models"])

        def request(_i: int) -> None:
            response = client.get(url, secure=True)
            assert response.status_code == 200 and not response.json()["empty"], response.content[:200]

        request(0)  # warm: caches, the planner's statistics
        with CaptureQueriesContext(connection) as captured:
            request(0)
        aggregates = [
            q["sql"] for q in captured.captured_queries if "GROUP BY" in q["sql"] or "traces_problem" in q["sql"]
        ]
        statements = [q["sql"] for q in captured.captured_queries]

        def bare(_i: int) -> None:
            with connection.cursor() as cursor:
                for sql in statements:
                    cursor.execute(sql)
                    cursor.fetchall()

        listing = reverse("trace-list", args=[project.slug]) + "?score=overthinking_ratio&order=desc"

        def list_page(_i: int) -> None:
            assert client.get(listing, secure=True).status_code == 200

        list_page(0)
        endpoint = timed(request, args.requests)
        baseline = timed(bare, args.requests)
        pages = timed(list_page, args.requests)
        p50, p95 = percentiles(endpoint)
        b50, b95 = percentiles(baseline)
        total = args.models * problems * args.samples
        print(
            f"{total} traces ({args.models} models × {problems} problems × {args.samples} samples), "
            f"{total * len(SCORES)} scores, {'reused' if reused else 'seeded'} in {seeded_s:.0f} s; "
            f"Python {sys.version.split()[0]}, "
            f"{args.database_url.rsplit('@', 1)[-1]}, {args.requests} requests"
        )
        print(f"queries per request: {len(statements)} ({len(aggregates)} aggregates)")
        print(f"data.json      p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")
        print(f"bare SQL       p50 {b50:7.1f} ms  p95 {b95:7.1f} ms")
        print(f"ratio          p50 {p50 / b50:7.2f}x    p95 {p95 / b95:7.2f}x")
        l50, l95 = percentiles(pages)
        print(f"trace list     p50 {l50:7.1f} ms  p95 {l95:7.1f} ms  (first page, sorted by overthinking_ratio)")


if __name__ == "__main__":
    main()
