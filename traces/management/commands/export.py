"""``manage.py export --project P --format F --sources S --out DIR`` (docs/concepts.md §2 exports)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from traces.actions.exports import ExportFilters, RequestRejected, select_traces
from traces.exports.policy import HUMAN_ELSE_AUTO, AfterError, HumanCompletion, LabelPolicy, Neutral
from traces.exports.writers import (
    EXPORT_FORMAT_NAMES,
    EXPORT_FORMATS,
    MANIFEST_NAME,
    Manifest,
    format_options,
    write_export,
)
from traces.management.commands.import_traces import unescape
from traces.management.projects import add_filter_arguments, project_or_error
from traces.models import Label, Project
from traces.models.trace import TraceQuerySet

_FORMATS_HELP = "; ".join(f"{name}: {f.description}" for name, f in EXPORT_FORMATS.items())
_OPTIONS_HELP = "; ".join(
    f"{f.name} {option.name} ({option.help}; default {option.default!r})"
    for f in EXPORT_FORMATS.values()
    for option in f.options
    if option.name != "step_separator"
)


def option_pair(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` of ``--option`` (the value may hold '=', and the escapes of ``unescape``)."""
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, unescape(value)


class Command(BaseCommand):
    help = (
        "Export a project's traces as PRM training data or tables, under an explicit label policy. "
        "Writes <split>.<ext> files (train, and test when --test-fraction > 0; split by problem, never "
        "by trace) and manifest.json (counts, policy, query, schema version, sha256 of each file) "
        "into --out. The same traces and policy give byte-identical data files."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="Project slug")
        parser.add_argument("--format", required=True, choices=EXPORT_FORMAT_NAMES, help=_FORMATS_HELP)
        parser.add_argument(
            "--sources",
            required=True,
            help="Which labels: human, adjudicated, one automatic method (mc_rollout, llm_judge:<model>, "
            f"heuristic:<name>, import:<format>), or {HUMAN_ELSE_AUTO} (adjudicated, else human, else "
            "--auto-method) per step",
        )
        parser.add_argument("--auto-method", default="", help=f"The automatic method of --sources {HUMAN_ELSE_AUTO}")
        parser.add_argument(
            "--neutral",
            choices=[n.value for n in Neutral],
            default=Neutral.NEGATIVE.value,
            help="What a neutral (0) step label becomes in boolean formats; drop leaves the step out "
            "(default negative)",
        )
        parser.add_argument(
            "--after-error",
            choices=[a.value for a in AfterError],
            default=AfterError.KEEP.value,
            help="Keep the steps after the first error, or cut them (TRL convention) (default keep)",
        )
        parser.add_argument(
            "--human-completion",
            choices=[h.value for h in HumanCompletion],
            default=HumanCompletion.CORRECT.value,
            help="What an unrated step a person wrote (PRM800K's human_completion) becomes: correct (TRL's "
            "PRM800K convention), unlabelled, or skip (leave such traces out) (default correct)",
        )
        parser.add_argument(
            "--test-fraction", type=float, default=0.0, help="Share of problems in the test split, in [0, 1)"
        )
        parser.add_argument("--seed", type=int, default=0, help="Seed of the problem split (default 0)")
        parser.add_argument(
            "--step-separator",
            type=unescape,
            default=None,
            help="TRL formats: the separator TRL's PRM trainer (TRL <= 1.13) appends to each step "
            "(default \\n; escapes \\n, \\t, \\r, \\\\)",
        )
        parser.add_argument(
            "--option",
            type=option_pair,
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help=f"A format's option, repeatable: {_OPTIONS_HELP}",
        )
        parser.add_argument("--out", required=True, type=Path, help="Directory to write the files into")
        parser.add_argument("--force", action="store_true", help="Replace files an earlier export left in --out")
        parser.add_argument("--chunk-size", type=int, default=1000, help="Traces read and written per chunk")
        add_filter_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        fmt: str = options["format"]
        if options["step_separator"] is not None and not EXPORT_FORMATS[fmt].takes_step_separator:
            raise CommandError(f"--step-separator applies to the TRL formats only, not {fmt}")
        if options["chunk_size"] < 1:
            raise CommandError(f"--chunk-size must be at least 1, got {options['chunk_size']}")
        given = dict(options["option"])
        if "step_separator" in given:
            raise CommandError("--option step_separator: use --step-separator")
        if options["step_separator"] is not None:
            given["step_separator"] = options["step_separator"]
        try:
            format_options(EXPORT_FORMATS[fmt], given)
        except ValueError as error:
            raise CommandError(f"--option: {error}") from None
        try:
            policy = LabelPolicy(
                sources=options["sources"],
                auto_method=options["auto_method"],
                neutral=options["neutral"],
                after_error=options["after_error"],
                test_fraction=options["test_fraction"],
                seed=options["seed"],
                human_completion=options["human_completion"],
            )
        except ValueError as error:
            raise CommandError(f"Invalid label policy: {error}") from None
        project = project_or_error(options["project"])
        traces, query = self._selection(project, options)
        out: Path = options["out"]
        self._check_out(out, fmt, policy, options["force"])
        started = time.perf_counter()
        manifest = write_export(
            traces,
            fmt,
            policy,
            out,
            query=query,
            options=given,
            chunk_size=options["chunk_size"],
        )
        self._report(manifest, out, time.perf_counter() - started, traces)

    def _selection(self, project: Project, options: dict[str, Any]) -> tuple[TraceQuerySet, dict[str, Any]]:
        """The filtered traces of the project (the same selection as an export job), and the filter as
        the manifest records it."""
        filters = ExportFilters(**{key: options[key] for key in ("model", "run", "correct", "finish_reason", "labeled")})
        try:
            traces = select_traces(project, filters)
        except RequestRejected as rejected:
            raise CommandError(f"--{rejected.field}: {rejected.message}") from None
        return traces, {"project": project.slug, **filters.as_query()}

    def _check_out(self, out: Path, fmt: str, policy: LabelPolicy, force: bool) -> None:
        if out.exists() and not out.is_dir():
            raise CommandError(f"--out {out} exists and is not a directory")
        names = [f"{split}.{EXPORT_FORMATS[fmt].extension}" for split in policy.splits] + [MANIFEST_NAME]
        existing = [name for name in names if (out / name).exists()]
        if existing and not force:
            raise CommandError(f"{out} already holds {', '.join(existing)}; pass --force to replace them")

    def _report(self, manifest: Manifest, out: Path, seconds: float, traces: TraceQuerySet) -> None:
        for exported in manifest.files:
            self.stdout.write(
                f"{out / exported.name}: {exported.rows} rows, {exported.bytes} bytes, sha256 {exported.sha256}"
            )
        for reason, count in manifest.skipped.items():
            self.stdout.write(f"skipped {count} traces: {reason}")
        rate = manifest.traces_read / seconds if seconds else 0.0
        self.stdout.write(
            self.style.SUCCESS(
                f"Exported {manifest.rows_written} rows from {manifest.traces_read} traces as {manifest.format} "
                f"in {seconds:.1f} s ({rate:.0f} traces/s); manifest {out / MANIFEST_NAME}"
            )
        )
        if manifest.rows_written == 0 and manifest.traces_read:
            labels = Label.objects.filter(trace__in=traces.values("id")).order_by()
            present = sorted(labels.values_list("source", flat=True).distinct())
            wanted = ", ".join(manifest.policy["precedence"])
            self.stderr.write(
                f"No trace had a label from {wanted}; label sources in this selection: {', '.join(present) or 'none'}"
            )
