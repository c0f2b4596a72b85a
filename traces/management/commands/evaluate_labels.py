"""``manage.py evaluate_labels --project P --method SRC --reference SRC`` (docs/concepts.md §3.8)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from traces.actions.exports import ExportFilters, RequestRejected
from traces.management.projects import add_filter_arguments, project_or_error
from traces.queries.evaluation import LabellerEvaluation, evaluate_labeller, label_sources


def percent(value: float | None) -> str:
    return "undefined" if value is None else f"{100 * value:.1f}%"


class Command(BaseCommand):
    help = (
        "Score one label source (the method: mc_rollout, llm_judge:<model>, heuristic:<name>, import:<format>, "
        "human…) against a reference source over a project's traces: ProcessBench F1 of the first errors, "
        "step accuracy and the step confusion matrix."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="Project slug")
        parser.add_argument("--method", required=True, help="The label source to score")
        parser.add_argument("--reference", required=True, help="The reference label source (e.g. human)")
        parser.add_argument("--json", action="store_true", help="Print the figures as JSON")
        add_filter_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        project = project_or_error(options["project"])
        filters = ExportFilters(
            model=options["model"],
            run=options["run"],
            correct=options["correct"],
            finish_reason=options["finish_reason"],
            labeled=options["labeled"],
        )
        try:
            evaluation = evaluate_labeller(project, options["method"], options["reference"], filters)
        except RequestRejected as rejected:
            raise CommandError(f"--{rejected.field.replace('_', '-')}: {rejected.message}") from None
        if options["json"]:
            self.stdout.write(json.dumps(evaluation.as_dict(), indent=2))
        else:
            self._report(evaluation)
        if evaluation.traces_compared == 0:
            present = ", ".join(label_sources(project)) or "none"
            self.stderr.write(f"No trace has labels from both sources; label sources in '{project.slug}': {present}")

    def _report(self, evaluation: LabellerEvaluation) -> None:
        write = self.stdout.write
        write(f"{evaluation.method} against {evaluation.reference}")
        write(
            f"  traces read: {evaluation.traces_read}; labelled by both: {evaluation.traces_compared}; "
            f"by the reference only: {evaluation.missing_method}; by the method only: {evaluation.missing_reference}"
        )
        score = evaluation.processbench
        if score is None:
            write("  ProcessBench F1: undefined (no trace with a determined first error in both)")
        else:
            write(
                f"  ProcessBench F1: {percent(score.f1)} over {evaluation.first_errors_compared} traces "
                f"(erroneous {percent(score.erroneous_accuracy)} of {score.n_erroneous}, "
                f"error-free {percent(score.error_free_accuracy)} of {score.n_error_free})"
            )
        confusion = evaluation.confusion
        if confusion is None:
            write("  step accuracy: undefined (no step labelled by both)")
            return
        write(f"  step accuracy: {percent(confusion.accuracy)} over {confusion.total} steps")
        write("  confusion (rows: reference, columns: method):")
        write("        " + "".join(f"{label:>8}" for label in confusion.labels))
        for label, row in zip(confusion.labels, confusion.counts, strict=True):
            write(f"  {label:>6}" + "".join(f"{count:>8}" for count in row))
