"""What the demo's traces show: think parts, t*, loops, mismatches, verdicts (``manage.py demo``).

    .venv/bin/python benchmarks/demo_content.py [--data-dir var]

Reads the Demo project of the database in that data directory (run ``manage.py demo`` first) and
prints, for each of its generation runs, its parameters, the counts of ``demo.demo_content`` (traces
with a think part, reaching the reference answer in their thinking — t*, SPEC §3.4 — and thinking on
after it, looping, with a think–answer mismatch — SPEC §3.3 —, correct, wrong, without an answer),
the engine seconds and the tokens generated.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from import_throughput import setup_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("THINKSCOPE_DATA_DIR", "var")))
    setup_django(os.environ.get("DATABASE_URL"), parser.parse_args().data_dir.resolve())
    from traces.models import Run, RunKind
    from workers.management.commands.demo import demo_content

    for run in Run.objects.filter(project__slug="demo", kind=RunKind.GENERATION).order_by("pk"):
        print(f"run {run.pk}: {run.name} {run.params}")
        figures = {**demo_content(run), "engine seconds": run.report.get("engine_seconds")}
        for name, value in {**figures, "tokens generated": run.tokens_generated}.items():
            print(f"  {name}: {value}")


if __name__ == "__main__":
    main()
