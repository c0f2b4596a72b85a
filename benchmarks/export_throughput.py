"""Export throughput: rows/s and peak RSS of TRL JSONL and Parquet exports beside a raw COPY.

    .venv/bin/python benchmarks/export_throughput.py postgres://USER@HOST:PORT/SCRATCH_DB \
        [--traces 100000] [--steps 30]

Seeds ``--traces`` synthetic traces of ``--steps`` labelled steps each (four samples per problem)
into a new project of the given PostgreSQL database with ``INSERT … SELECT generate_series`` (the
importer's Python path stores ~2k steps/s; this writes millions of rows in a minute), then
measures, each in a fresh child process so that each peak RSS is its own:

* ``write_export`` of those traces to TRL JSONL and to TRL Parquet (policy: the seeded source);
* a raw ``COPY (SELECT …) TO STDOUT`` through psycopg of the same rows into a file (see
  ``measure_copy``): the floor of what reading them can cost.

Prints rows/s, seconds and peak RSS of each, and the export/COPY rows/s ratio (issue 7 targets:
peak RSS < 300 MB, JSONL ≥ 0.3× COPY). The seeded project stays in the database: use a scratch one.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from import_throughput import ROOT, setup_django

SOURCE = "import:benchmark"
MEASURES = ("copy", "trl", "trl_parquet")


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


#: One step's text, fixed-width so that step k spans [k × (STEP_CHARS + 1), … + STEP_CHARS).
STEP_FORMAT = "Step %s: sample %s adds %s and carries %s on; the running total stays exact."
STEP_CHARS = len(STEP_FORMAT % ("00", "0000000", "00", "00"))

SEED_SQL = (
    """
    INSERT INTO traces_problem (project_id, prompt, answer, answer_type, source, split, external_id, meta,
                                content_hash, created_at)
    SELECT %(project)s, format('Problem %%s: add the numbers 1 to %%s, step by step.', g, g + 10), '', 'math',
           'benchmark', '', '', '{}', encode(sha256(('bench-problem:' || %(run)s || ':' || g)::bytea), 'hex'), now()
    FROM generate_series(0, %(problems)s - 1) g
    """,
    """
    INSERT INTO traces_trace (project_id, run_id, problem_id, model_id, sample_index, raw_text, think_start,
                              think_end, answer_start, answer_end, think_closed, think_tokens, answer_tokens,
                              tokens_exact, finish_reason, final_answer, think_answer, grading_method, has_labels,
                              content_hash, meta, created_at)
    SELECT %(project)s, %(run)s, p.id, %(model)s, i,
           (SELECT string_agg(format(%(step_format)s, lpad(k::text, 2, '0'), lpad(i::text, 7, '0'),
                                     lpad(k::text, 2, '0'), lpad(((i * k) %% 97)::text, 2, '0')), E'\n' ORDER BY k)
            FROM generate_series(0, %(steps)s - 1) k),
           0, 0, 0, %(text_chars)s, true, 0, %(text_chars)s / 4, false, 'stop', '', '', '', true,
           encode(sha256(('bench-trace:' || %(run)s || ':' || i)::bytea), 'hex'), '{}', now()
    FROM generate_series(0, %(traces)s - 1) i
    JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM traces_problem WHERE project_id = %(project)s) p
      ON p.n = i / 4
    """,
    """
    INSERT INTO traces_segmentation (trace_id, version, method, params, created_at)
    SELECT id, 1, 'source', '{}', now() FROM traces_trace WHERE run_id = %(run)s
    """,
    """
    UPDATE traces_trace t SET current_segmentation_id = s.id
    FROM traces_segmentation s WHERE s.trace_id = t.id AND t.run_id = %(run)s
    """,
    """
    INSERT INTO traces_step (segmentation_id, trace_id, index, char_start, char_end, token_start, token_end, part,
                             alternatives)
    SELECT t.current_segmentation_id, t.id, k, k * (%(step_chars)s + 1), k * (%(step_chars)s + 1) + %(step_chars)s,
           0, 0, 'answer', '[]'
    FROM traces_trace t CROSS JOIN generate_series(0, %(steps)s - 1) k WHERE t.run_id = %(run)s
    """,
    # Half the traces go wrong from a step that varies with the sample; the others are right throughout.
    """
    INSERT INTO traces_label (step_id, trace_id, value, flagged, note, source, user_id, params, confidence,
                              created_at, updated_at)
    SELECT s.id, s.trace_id,
           CASE WHEN t.sample_index %% 2 = 1 AND s.index >= %(steps)s - 1 - t.sample_index %% %(steps)s
                THEN -1 ELSE 1 END,
           NULL, '', %(source)s, NULL, '{}', NULL, now(), now()
    FROM traces_step s JOIN traces_trace t ON t.id = s.trace_id WHERE t.run_id = %(run)s
    """,
    "ANALYZE traces_problem, traces_trace, traces_segmentation, traces_step, traces_label",
)


def seed(count: int, steps: int) -> int:
    """Insert ``count`` traces of ``steps`` labelled steps (four per problem) in bulk, in SQL; returns the run id."""
    from django.db import connection, transaction

    from traces.models import Backend, LanguageModel, Project, Run, RunKind

    slug = f"export-bench-{time.time_ns()}"
    with transaction.atomic():
        project = Project.objects.create(name=slug, slug=slug)
        model = LanguageModel.objects.create(project=project, name="benchmark-model", backend=Backend.IMPORTED)
        run = Run.objects.create(project=project, kind=RunKind.IMPORT, name="synthetic", source_format="trl")
    params = {
        "project": project.pk,
        "model": model.pk,
        "run": run.pk,
        "traces": count,
        "problems": (count + 3) // 4,
        "steps": steps,
        "step_format": STEP_FORMAT,
        "step_chars": STEP_CHARS,
        "text_chars": steps * (STEP_CHARS + 1) - 1,
        "source": SOURCE,
    }
    with connection.cursor() as cursor:
        for statement in SEED_SQL:
            cursor.execute(statement, params)
    return run.pk


def measure_export(fmt: str, run_id: int, out: Path) -> dict[str, Any]:
    from traces.exports.policy import LabelPolicy
    from traces.exports.writers import write_export
    from traces.models import Trace

    baseline = peak_rss_mb()
    started = time.perf_counter()
    manifest = write_export(Trace.objects.filter(run_id=run_id), fmt, LabelPolicy(sources=SOURCE), out)
    seconds = time.perf_counter() - started
    size = sum(f.bytes for f in manifest.files)
    return {"rows": manifest.rows_written, "seconds": seconds, "bytes": size, "rss_before_mb": baseline}


def measure_copy(run_id: int, out: Path) -> dict[str, Any]:
    """The same rows by COPY into a file: per trace its prompt, raw text, step spans in order and
    the source's labels, i.e. what the export reads (the step texts are cut by the reader: cutting
    them in SQL with ``substr`` on the TOASTed text is ~5× slower, so this is the stricter floor)."""
    import psycopg
    from psycopg import sql as psql

    from traces.models import Label, Problem, Step, Trace

    query = psql.SQL(
        """
        COPY (
            SELECT t.id, p.prompt, t.raw_text, a.starts, a.ends, a.labels
            FROM (
                SELECT s.trace_id,
                       array_agg(s.char_start ORDER BY s.index) AS starts,
                       array_agg(s.char_end ORDER BY s.index) AS ends,
                       array_agg(l.value ORDER BY s.index) AS labels
                FROM {step} s
                JOIN {trace} selected ON selected.current_segmentation_id = s.segmentation_id
                LEFT JOIN {label} l ON l.step_id = s.id AND l.source = {source}
                WHERE selected.run_id = {run_id}
                GROUP BY s.trace_id
            ) a
            JOIN {trace} t ON t.id = a.trace_id
            JOIN {problem} p ON p.id = t.problem_id
            ORDER BY t.id
        ) TO STDOUT
        """
    ).format(
        step=psql.Identifier(Step._meta.db_table),
        trace=psql.Identifier(Trace._meta.db_table),
        label=psql.Identifier(Label._meta.db_table),
        problem=psql.Identifier(Problem._meta.db_table),
        source=psql.Literal(SOURCE),
        run_id=psql.Literal(run_id),
    )
    baseline = peak_rss_mb()
    started = time.perf_counter()
    rows = size = 0
    out.mkdir(parents=True, exist_ok=True)
    with psycopg.connect(os.environ["DATABASE_URL"]) as connection, connection.cursor() as cursor:
        with cursor.copy(query) as copy, (out / "copy.tsv").open("wb") as fp:
            for data in copy:
                fp.write(data)
                rows += bytes(data).count(b"\n")
                size += len(data)
    return {"rows": rows, "seconds": time.perf_counter() - started, "bytes": size, "rss_before_mb": baseline}


def child(database_url: str, measure: str, run_id: int, out: Path) -> None:
    """One measurement in this (fresh) process; prints one JSON line."""
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("SECRET_KEY", "benchmark-only")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")
    import django

    django.setup()
    result = measure_copy(run_id, out) if measure == "copy" else measure_export(measure, run_id, out)
    print(json.dumps({**result, "peak_rss_mb": peak_rss_mb()}))


def run_child(measure: str, run_id: int, out: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, os.environ["DATABASE_URL"], "--measure", measure]
    command += ["--run-id", str(run_id), "--out", str(out)]
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode:
        raise SystemExit(f"measuring {measure} failed:\n{completed.stderr}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database_url", help="PostgreSQL URL of a scratch database (it is migrated)")
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--measure", choices=MEASURES, help=argparse.SUPPRESS)
    parser.add_argument("--run-id", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        parser.error("the benchmark compares with PostgreSQL's COPY: give a postgres:// URL")
    if args.measure:
        child(args.database_url, args.measure, args.run_id, args.out)
        return
    with tempfile.TemporaryDirectory() as tmp:
        setup_django(args.database_url, Path(tmp))
        started = time.perf_counter()
        run_id = seed(args.traces, args.steps)
        seeded = time.perf_counter() - started
        rate = args.traces / seeded
        print(f"seeded {args.traces} traces × {args.steps} steps in {seeded:.0f} s ({rate:,.0f} traces/s)")
        results = {measure: run_child(measure, run_id, Path(tmp) / measure) for measure in MEASURES}
    copy_rate = results["copy"]["rows"] / results["copy"]["seconds"]
    for measure, result in results.items():
        rate = result["rows"] / result["seconds"]
        print(
            f"{measure:12} {result['rows']:>8} rows in {result['seconds']:7.2f} s = {rate:>9,.0f} rows/s "
            f"({rate / copy_rate:.2f}× COPY); {result['bytes'] / 2**20:,.0f} MiB written; "
            f"peak RSS {result['peak_rss_mb']:.0f} MB (after start-up {result['rss_before_mb']:.0f} MB)"
        )


if __name__ == "__main__":
    main()
