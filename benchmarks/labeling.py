"""Labeling view latency (issue 6 item 7): server time of the page and of one label save on a 600-step trace.

    .venv/bin/python benchmarks/labeling.py [--requests 200] [--steps 600] [--database-url postgres://…/SCRATCH]

Builds one trace of ``--steps`` steps (real ProcessBench step texts, ../shared/data read in place,
cycled) with an automatic ``import:processbench`` suggestion on every step, through the importer,
in a fresh database (a temporary SQLite file by default, or the PostgreSQL database given: use a
scratch one). Then, in the same process, through Django's test client (the whole middleware stack:
session, auth, CSRF, htmx; requests marked secure, as behind the production proxy; no network):

* ``GET`` of the labeling page, ``--requests`` times;
* one keystroke's ``POST`` (rate a step; each request changes a label: steps and values cycle),
  ``--requests`` times;
* beside them, the bare SQL each needs, run through the same connection as many times: for the
  page, the trace, its steps and its labels; for the save, the locked read of the label, its
  update and the undo-history insert, in one transaction.

Prints p50/p95 of each in milliseconds and the view/SQL ratios (issue 6 target: save p95 < 50 ms).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from import_throughput import ROOT, setup_django

STEP_SAMPLE = ROOT.parent / "shared" / "data" / "processbench" / "omnimath.jsonl"
PASSWORD = "benchmark password"


def percentiles(samples_ms: list[float]) -> tuple[float, float]:
    """p50 and p95 (inclusive method: exact at 200 samples)."""
    cuts = statistics.quantiles(samples_ms, n=20, method="inclusive")
    return statistics.median(samples_ms), cuts[18]


def timed(action: Callable[[int], object], repeat: int) -> list[float]:
    """Milliseconds of each of ``repeat`` calls of ``action(i)``."""
    samples = []
    for i in range(repeat):
        started = time.perf_counter()
        action(i)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def real_steps(count: int) -> list[str]:
    """``count`` step texts of real ProcessBench solutions, cycled."""
    texts = [step for line in STEP_SAMPLE.open(encoding="utf-8") for step in json.loads(line)["steps"]]
    return [texts[i % len(texts)] for i in range(count)]


def build_trace(step_count: int):
    """A project, an annotator and one imported trace of ``step_count`` steps with a suggestion on each."""
    from django.contrib.auth import get_user_model

    from traces.actions.store import store_traces
    from traces.formats.base import ParsedStep, ParsedTrace
    from traces.models import Membership, Project, Role, Run, RunKind

    project = Project.objects.create(name="Labeling benchmark", slug=f"bench-{time.monotonic_ns()}")
    user = get_user_model().objects.create_user(f"annotator-{project.slug}", password=PASSWORD)
    Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
    run = Run.objects.create(project=project, kind=RunKind.IMPORT, name="benchmark")
    texts = real_steps(step_count)
    parsed = ParsedTrace(
        line_no=1,
        prompt=f"Benchmark problem {project.slug}",
        text="\n\n".join(texts),
        model_name="benchmark",
        steps=[ParsedStep(text=text, label=1 if i % 7 else -1) for i, text in enumerate(texts)],
        label_source="import:processbench",
    )
    (trace_id,) = store_traces(project, run, [parsed]).trace_ids
    return project, user, trace_id


def bare_page_sql(trace_id: int, user_id: int) -> Callable[[int], object]:
    """The rows the page needs: the trace with its problem, its steps, every label of it, the person's annotation."""
    from django.db import connection

    def run(_i: int) -> object:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT t.raw_text, t.current_segmentation_id, p.prompt FROM traces_trace t "
                "JOIN traces_problem p ON p.id = t.problem_id WHERE t.id = %s",
                [trace_id],
            )
            segmentation_id = cursor.fetchone()[1]
            cursor.execute(
                'SELECT id, "index", char_start, char_end, part, alternatives FROM traces_step '
                'WHERE segmentation_id = %s ORDER BY "index"',
                [segmentation_id],
            )
            cursor.fetchall()
            cursor.execute(
                "SELECT l.step_id, l.source, l.user_id, l.value, l.flagged, l.confidence, l.note, l.params "
                "FROM traces_label l JOIN traces_step s ON s.id = l.step_id "
                "WHERE l.trace_id = %s AND s.segmentation_id = %s",
                [trace_id, segmentation_id],
            )
            cursor.fetchall()
            cursor.execute(
                "SELECT first_error_step FROM traces_traceannotation WHERE trace_id = %s AND source = 'human' "
                "AND user_id = %s",
                [trace_id, user_id],
            )
            return cursor.fetchall()

    return run


def bare_save_sql(trace_id: int, user_id: int, step_ids: list[int]) -> Callable[[int], object]:
    """What one rating writes: lock the person's label, update it, insert the undo-history row; one transaction."""
    from django.db import connection, transaction

    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""

    def run(i: int) -> object:
        step_id = step_ids[i % len(step_ids)]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, value FROM traces_label WHERE step_id = %s AND source = 'human' AND user_id = %s" + lock,
                [step_id, user_id],
            )
            label_id, value = cursor.fetchone()
            cursor.execute(
                "UPDATE traces_label SET value = %s, updated_at = CURRENT_TIMESTAMP WHERE id = %s",
                [-value, label_id],
            )
            cursor.execute(
                "INSERT INTO traces_labelchange (trace_id, user_id, source, kind, previous, created_at) "
                "VALUES (%s, %s, 'human', 'rate', %s, CURRENT_TIMESTAMP)",
                [trace_id, user_id, json.dumps({"labels": [[step_id, {"value": value}]]})],
            )
        return label_id

    return run


def report(name: str, samples: list[float], baseline: list[float]) -> None:
    p50, p95 = percentiles(samples)
    b50, b95 = percentiles(baseline)
    print(
        f"{name:<14} p50 {p50:7.2f} ms  p95 {p95:7.2f} ms   | bare SQL p50 {b50:6.2f} ms  p95 {b95:6.2f} ms"
        f"   | ratio p50 {p50 / b50:5.1f}x  p95 {p95 / b95:5.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        setup_django(args.database_url, Path(tmp))
        from django.db import connection
        from django.test import Client
        from django.urls import reverse

        from traces.models import Step

        project, user, trace_id = build_trace(args.steps)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")  # planner statistics, as a live database has them
        step_ids = list(Step.objects.filter(trace_id=trace_id).order_by("index").values_list("id", flat=True))
        client = Client()
        client.force_login(user)
        page_url = reverse("trace-label", args=[project.slug, trace_id])
        save_url = reverse("trace-label-step", args=[project.slug, trace_id])

        def get_page(_i: int) -> None:
            response = client.get(page_url, secure=True)
            assert response.status_code == 200, response.status_code

        def save(i: int) -> None:
            data = {"action": "rate", "step": step_ids[i % len(step_ids)], "value": (-1, 1)[(i // len(step_ids)) % 2]}
            response = client.post(save_url, data, secure=True, HTTP_HX_REQUEST="true")
            assert response.status_code == 200 and b"hx-swap-oob" in response.content, response.content[:200]

        for i in range(len(step_ids)):  # every step gets the person's label: each timed save is an update
            save(i)
        get_page(0)
        page_size = len(client.get(page_url, secure=True).content)
        page = timed(get_page, args.requests)
        saves = timed(lambda i: save(i + len(step_ids)), args.requests)
        page_sql = timed(bare_page_sql(trace_id, user.pk), args.requests)
        save_sql = timed(bare_save_sql(trace_id, user.pk, step_ids), args.requests)

        database = args.database_url.rsplit("@", 1)[-1] if args.database_url else "SQLite (temporary file)"
        print(f"{args.steps}-step trace, {args.requests} requests each, Python {sys.version.split()[0]}, {database}")
        print(f"page size {page_size / 1024:.0f} KiB")
        report("labeling page", page, page_sql)
        report("label save", saves, save_sql)


if __name__ == "__main__":
    main()
