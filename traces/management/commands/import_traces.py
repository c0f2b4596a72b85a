"""``manage.py import_traces PATH --format F --project P`` (docs/concepts.md §2 formats)."""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections
from tqdm import tqdm

from traces.actions.imports import ImportFailed, ImportResult, do_import, give_up_import, new_import_run
from traces.actions.projects import do_create_project
from traces.actions.runs import DATABASE_GONE
from traces.actions.think_formats import CHOICES as THINK_FORMATS
from traces.formats import FORMAT_NAMES, SEPARATOR_FORMATS, get_parser
from traces.management.projects import project_or_error
from traces.models import Project, Run

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


def unescape(value: str) -> str:
    """``--step-separator`` as typed on a command line: ``\\n``, ``\\t``, ``\\r`` and ``\\\\`` are decoded."""

    def replace(match: re.Match[str]) -> str:
        if match.group(1) not in _ESCAPES:
            raise argparse.ArgumentTypeError(f"unknown escape \\{match.group(1)} (use \\n, \\t, \\r or \\\\)")
        return _ESCAPES[match.group(1)]

    return re.sub(r"\\(.)", replace, value, flags=re.DOTALL)


class Command(BaseCommand):
    help = (
        "Import a file of reasoning traces into a project. The import is atomic: a bad line aborts it "
        "and nothing is written (use --skip-invalid to import the valid lines and list the others). "
        "Re-importing the same file adds nothing (traces are deduplicated by content hash)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="JSONL file to import")
        parser.add_argument("--format", required=True, choices=FORMAT_NAMES, help="Format of the file")
        parser.add_argument("--project", required=True, help="Project slug (created if --create-project)")
        parser.add_argument(
            "--create-project", action="store_true", help="Create the project; refused when the slug exists already"
        )
        parser.add_argument("--skip-invalid", action="store_true", help="Import valid lines, report the invalid ones")
        parser.add_argument(
            "--think-format",
            choices=THINK_FORMATS,
            default="auto",
            help="Where the traces' thinking is, for every trace of the file (default auto: decided once per "
            "model from its traces, and reported)",
        )
        parser.add_argument(
            "--no-analyze",
            action="store_true",
            help="Skip the analysis pass after the import (run `manage.py analyze` later)",
        )
        parser.add_argument(
            "--step-separator",
            type=unescape,
            default=None,
            help=f"What joins the steps into the trace text, for {', '.join(SEPARATOR_FORMATS)} (default \\n); "
            "escapes \\n, \\t, \\r, \\\\ are decoded",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        try:
            get_parser(options["format"], step_separator=options["step_separator"])
        except ValueError as error:  # a step separator for a format that takes none
            raise CommandError(str(error)) from None
        project = self._project(options["project"], options["create_project"])
        run = new_import_run(project, path, options["format"])
        analyze = not options["no_analyze"]
        started = time.perf_counter()
        with tqdm(unit="trace", desc="Analysing", file=self.stderr, disable=not analyze) as bar:
            result = self._import(run, path, options, analyze, lambda count: self._advance(bar, run, count))
        self._report(result, project, path, time.perf_counter() - started, analyze)

    def _import(self, run: Run, path: Path, options: dict[str, Any], analyze: bool, progress: Any) -> ImportResult:
        """``do_import`` with its failures as command errors; an import the database connection
        dropped under is failed on a new connection, saying so."""
        try:
            return do_import(run.project, path, options["format"], skip_invalid=options["skip_invalid"], run=run,
                             step_separator=options["step_separator"], think_format=options["think_format"],
                             analyze=analyze, progress=progress)  # fmt: skip
        except ImportFailed as failed:
            raise CommandError(f"Import failed, nothing was imported: {failed.error}") from None
        except DATABASE_GONE as error:
            connections.close_all()  # the next query opens a new connection
            if run.pk is not None:
                give_up_import(run.pk, error)
            raise CommandError(f"Import stopped: the database connection was lost ({error}). See run {run.pk}.") from None

    @staticmethod
    def _advance(bar: tqdm, run: Run, count: int) -> None:
        """The analysis bar: its total is known once the traces are committed."""
        bar.total = run.report["analysis"]["total"]
        bar.update(count)

    def _report(self, result: ImportResult, project: Project, path: Path, seconds: float, analyzed: bool) -> None:
        report = result.store
        lines = report.traces_created + report.duplicates_skipped + result.skipped_count
        for error in result.skipped:
            self.stderr.write(f"skipped {error}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {report.traces_created} traces ({report.steps_created} steps, {report.labels_created} labels, "
                f"{report.problems_created} new problems) from {path} into '{project.slug}' as run {result.run.pk}; "
                f"{report.duplicates_skipped} duplicates skipped, {result.skipped_count} invalid lines skipped; "
                f"{seconds:.1f} s ({lines / seconds if seconds else 0:.0f} lines/s)."
            )
        )
        for model in result.run.report.get("think_formats", []):
            self.stdout.write(f"Think format of {model['model']}: {model['think_format']} ({model['reason']}).")
        if analyzed:
            self.stdout.write(f"Analysed {result.analysed} traces (scores and markers in the trace viewer).")

    def _project(self, slug: str, create: bool) -> Project:
        """The project to import into; with ``create``, a new one (never one that exists: anyone who
        may create projects could have taken the slug)."""
        if not create:
            return project_or_error(slug, hint="Pass --create-project to create it.")
        refusal = CommandError(
            f"A project '{slug}' exists already; --create-project only creates a new project. To import "
            f"into '{slug}', check that it is yours and run the command again without --create-project."
        )
        try:
            return do_create_project(slug=slug, name=slug, owner=None)
        except ValidationError as invalid:
            if Project.objects.filter(slug=slug).exists():
                raise refusal from None
            raise CommandError(f"--create-project: {' '.join(invalid.messages)}") from None
