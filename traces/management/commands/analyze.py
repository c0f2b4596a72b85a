"""``manage.py analyze --project P [--since DATE] [--all]``: (re-)run the analysis engine (docs/concepts.md §3.3–3.5)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet
from tqdm import tqdm

from traces.actions.analysis import analyze_traces, needing_analysis
from traces.actions.imports import settle_analysed_imports
from traces.analysis.engine import ANALYSIS_VERSION
from traces.management.projects import project_or_error
from traces.models import Trace


def since_date(value: str) -> datetime:
    """``--since`` as an aware datetime at the start of that day (UTC)."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--since {value!r} is not a date like 2026-11-24") from None
    return datetime.combine(day, time.min, tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Run the analysis engine (think–answer mismatch, overthinking, loops, behaviours) on a project's "
        f"traces and store the results as scores. By default only traces not yet analysed by version "
        f"{ANALYSIS_VERSION} of the engine are analysed; --all re-runs every trace. Import runs whose "
        "analysis had stopped are marked succeeded once every trace of theirs is analysed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="Project slug")
        parser.add_argument("--since", type=since_date, help="Only traces created on or after this date (YYYY-MM-DD)")
        parser.add_argument("--all", action="store_true", help="Re-analyse traces already analysed by this version")

    def handle(self, *args: Any, **options: Any) -> None:
        project = project_or_error(options["project"])
        traces: QuerySet[Trace] = Trace.objects.filter(project=project)
        if options["since"]:
            traces = traces.filter(created_at__gte=options["since"])
        if not options["all"]:
            traces = needing_analysis(traces)
        total = traces.count()
        with tqdm(total=total, unit="trace", desc="Analysing", file=self.stderr, disable=total == 0) as bar:
            done = analyze_traces(traces, progress=bar.update)
        self.stdout.write(self.style.SUCCESS(f"Analysed {done} traces of '{project.slug}' (engine version {ANALYSIS_VERSION})."))
        settled = settle_analysed_imports(project)
        if settled:
            self.stdout.write(f"{settled} import runs whose analysis had stopped are complete now.")
