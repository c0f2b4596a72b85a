"""Import throughput: lines/s of ``do_import`` beside a parse-only baseline in the same process.

    .venv/bin/python benchmarks/import_throughput.py [--lines 100000] [--database-url postgres://…]

It imports the largest real ProcessBench sample (../shared/data, read in place) and a synthetic
file of ``--lines`` lines built from it at run time (ids changed so none deduplicates), into a fresh
database: a temporary SQLite file by default, or the PostgreSQL database given. Prints lines/s of
the import and of parsing alone, their ratio, and the peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "data" / "processbench" / "omnimath.jsonl"


def setup_django(database_url: str | None, data_dir: Path) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["THINKSCOPE_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("SECRET_KEY", "benchmark-only")
    os.environ["LOG_LEVEL"] = "WARNING"
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def write_synthetic(path: Path, lines: int) -> None:
    """A ProcessBench-shaped file of ``lines`` distinct records cycled from the real sample."""
    records = [json.loads(line) for line in SAMPLE.open(encoding="utf-8")]
    with path.open("w", encoding="utf-8") as out:
        for i in range(lines):
            record = dict(records[i % len(records)])
            record["id"] = f"synthetic-{i}"
            record["problem"] = f"[{i}] {record['problem']}"
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def parse_only(path: Path) -> float:
    from traces.formats import get_parser
    from traces.formats.base import read_records
    from traces.trace_builder import build_trace_fields

    started = time.perf_counter()
    with path.open(encoding="utf-8") as fp:
        for parsed in read_records(fp, get_parser("processbench")):
            build_trace_fields(parsed)
    return time.perf_counter() - started


def import_once(path: Path, slug: str) -> tuple[float, int]:
    from traces.actions.imports import do_import
    from traces.models import Project

    project = Project.objects.create(name=slug, slug=slug)
    started = time.perf_counter()
    result = do_import(project, path, "processbench")
    return time.perf_counter() - started, result.store.traces_created


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        setup_django(args.database_url, Path(tmp))
        synthetic = Path(tmp) / "synthetic.jsonl"
        write_synthetic(synthetic, args.lines)
        for label, path in (("real omnimath sample", SAMPLE), (f"synthetic {args.lines} lines", synthetic)):
            baseline = parse_only(path)
            seconds, created = import_once(path, f"bench-{time.monotonic_ns()}")
            print(
                f"{label}: {created} traces in {seconds:.2f} s = {created / seconds:,.0f} lines/s; "
                f"parse+analysis only {created / baseline:,.0f} lines/s; import/parse time ratio {seconds / baseline:.2f}"
            )
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS {peak_mb:.0f} MB; database: {args.database_url or 'SQLite (temporary file)'}")


if __name__ == "__main__":
    main()
