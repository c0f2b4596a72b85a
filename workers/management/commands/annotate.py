"""``manage.py annotate --project P --method mc|judge [filters]``: automatic step labels, run in this
process with a progress bar (docs/concepts.md §3.6, §3.7). It lives in ``workers`` because it runs
the engines itself (``workers.backends.registry``).

The job is a Run like the one the UI starts (``traces.actions.auto_labels``), so it shows on the
job pages, and an interrupted command leaves a cancelled run with the traces done so far labelled.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from traces.actions.auto_labels import (
    DEFAULT_K,
    JudgeSpec,
    McSpec,
    Selection,
    do_start_judge,
    do_start_mc,
    run_auto_labels,
)
from traces.actions.exports import ExportFilters, RequestRejected
from traces.actions.generation import do_cancel_run
from traces.actions.runs import fail_run
from traces.analysis.judges import JUDGE_MODES
from traces.analysis.rollouts import MODES
from traces.management.projects import add_filter_arguments, project_or_error
from traces.models import LanguageModel, Project, Run
from workers.backends.registry import backend_for


class Command(BaseCommand):
    help = (
        "Label the steps of a project's traces automatically: Monte Carlo rollouts (--method mc, with "
        "--rollout-model) or LLM judges (--method judge, with one or more --judge). Filters select the traces."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="Project slug")
        parser.add_argument("--method", required=True, choices=["mc", "judge"])
        parser.add_argument("--trace", type=int, action="append", default=[], help="Trace id (repeatable)")
        add_filter_arguments(parser)
        mc = parser.add_argument_group("Monte Carlo (--method mc)")
        mc.add_argument("--rollout-model", default="", help="Model name that samples the rollouts")
        mc.add_argument("--k", type=int, default=DEFAULT_K, help=f"Rollouts per prefix (default {DEFAULT_K})")
        mc.add_argument("--mode", choices=MODES, default="linear", help="Every prefix, or binary search")
        judge = parser.add_argument_group("judges (--method judge)")
        judge.add_argument("--judge", action="append", default=[], help="Judge model name (repeatable: a panel)")
        judge.add_argument("--judge-mode", choices=JUDGE_MODES, default="first_error", help="The prompt")
        judge.add_argument("--allow-self-judging", action="store_true", help="Let a model judge its own traces")
        parser.add_argument("--max-new-tokens", type=int, default=None, help="Default: 512 (mc), 2048 (judge)")
        parser.add_argument("--temperature", type=float, default=None, help="Default: 0.7 (mc), 0 (judge)")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args: Any, **options: Any) -> None:
        project = project_or_error(options["project"])
        selection = Selection(
            ExportFilters(
                model=options["model"],
                run=options["run"],
                correct=options["correct"],
                finish_reason=options["finish_reason"],
                labeled=options["labeled"],
            ),
            tuple(options["trace"]),
        )
        sampling = {
            name: options[name] for name in ("max_new_tokens", "temperature", "seed") if options[name] is not None
        }
        try:
            if options["method"] == "mc":
                model = self._model(project, options["rollout_model"], "--rollout-model")
                spec = McSpec(k=options["k"], mode=options["mode"], **sampling)
                run = do_start_mc(project, model, spec, selection, queue=False)
            else:
                if not options["judge"]:
                    raise CommandError("--method judge needs at least one --judge MODEL")
                judges = [self._model(project, name, "--judge") for name in options["judge"]]
                spec_j = JudgeSpec(
                    tuple(j.pk for j in judges), options["judge_mode"], options["allow_self_judging"], **sampling
                )
                run = do_start_judge(project, spec_j, selection, queue=False)
        except RequestRejected as rejected:
            raise CommandError(f"--{rejected.field.replace('_', '-')}: {rejected.message}") from None
        self._run(run)

    def _model(self, project: Project, name: str, option: str) -> LanguageModel:
        model = LanguageModel.objects.filter(project=project, name=name).first()
        if model is None:
            known = ", ".join(LanguageModel.objects.filter(project=project).values_list("name", flat=True))
            raise CommandError(f"{option}: no model {name!r} in '{project.slug}' (known: {known or 'none'})")
        return model

    def _run(self, run: Run) -> None:
        with tqdm(total=run.progress_total, unit="trace", desc=run.name, file=self.stderr) as bar:
            try:
                run_auto_labels(run.pk, backend_for, on_trace=lambda _: bar.update(1))
            except KeyboardInterrupt:
                do_cancel_run(run, reason="Interrupted")
                raise CommandError(
                    f"Interrupted: run {run.pk} is cancelled; the traces done keep their labels"
                ) from None
            except Exception as error:
                fail_run(run.pk, error)
                raise CommandError(f"Run {run.pk} failed: {error}") from None
        run.refresh_from_db()
        report = run.report
        self.stdout.write(
            self.style.SUCCESS(
                f"Run {run.pk} {run.status}: {run.progress_done} traces, {report.get('rollouts', 0)} rollouts, "
                f"{report.get('skipped', 0)} skipped, {report.get('parse_failure_count', 0)} parse failures."
            )
        )
