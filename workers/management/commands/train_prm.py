"""``manage.py train_prm --project P [--sources …] [filters]``: train a process reward model from a
project's step labels in this process, printing the loss as it goes (docs/concepts.md §5.2).

The job is a Run like the one the PRM page and ``POST /api/prms/train/`` start
(``traces.actions.prm_training``): it shows on the job pages with its loss curve, and the PRM it
trains is registered as a scorer of the project. An interrupted command cancels the run and keeps
nothing. The base model is an endpoint the operator declared (``--base``, default ``embedded``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from app.endpoints import EMBEDDED
from traces.actions.auto_labels import Selection
from traces.actions.exports import ExportFilters, RequestRejected, build_policy
from traces.actions.generation import do_cancel_run
from traces.actions.prm_training import (
    DEFAULT_POLICY,
    TrainingRequest,
    TrainingSpec,
    TrainOutcome,
    do_start_training,
    run_prm_training,
)
from traces.actions.runs import fail_run
from traces.exports.policy import AfterError, Neutral
from traces.management.projects import add_filter_arguments, project_or_error
from traces.models import Run

DEFAULTS = TrainingSpec()


class Command(BaseCommand):
    help = (
        "Train a process reward model (a token-classification head on a transformers endpoint's model, "
        "SmolLM2-135M on the CPU by default) from a project's step labels, and register it as a scorer."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="Project slug")
        parser.add_argument("--name", default="", help="The scorer's name (default prm-<run id>)")
        parser.add_argument("--base", default=EMBEDDED, help=f"A transformers endpoint (default {EMBEDDED})")
        parser.add_argument("--trace", type=int, action="append", default=[], help="Trace id (repeatable)")
        add_filter_arguments(parser)
        labels = parser.add_argument_group("labels (the export's label policy)")
        labels.add_argument("--sources", default=DEFAULT_POLICY.sources, help=f"default {DEFAULT_POLICY.sources}")
        labels.add_argument("--auto-method", default="", help="for --sources human-else-auto")
        labels.add_argument("--neutral", choices=[n.value for n in Neutral], default=DEFAULT_POLICY.neutral.value)
        labels.add_argument("--after-error", choices=[a.value for a in AfterError], default=DEFAULT_POLICY.after_error.value)
        knobs = parser.add_argument_group("training")
        knobs.add_argument("--max-steps", type=int, default=DEFAULTS.max_steps)
        knobs.add_argument("--learning-rate", type=float, default=DEFAULTS.learning_rate)
        knobs.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
        knobs.add_argument("--max-length", type=int, default=DEFAULTS.max_length, help="tokens per trace")
        knobs.add_argument(
            "--trainable-layers", type=int, default=DEFAULTS.trainable_layers, help="top blocks trained; 0: all"
        )
        knobs.add_argument("--seed", type=int, default=0)

    def handle(self, *args: Any, **options: Any) -> None:
        project = project_or_error(options["project"])
        filters = ExportFilters(**{name: options[name] for name in ("model", "run", "correct", "finish_reason", "labeled")})
        knobs = ("max_steps", "learning_rate", "batch_size", "max_length", "trainable_layers", "seed")
        try:
            policy = build_policy(sources=options["sources"], auto_method=options["auto_method"],
                                  neutral=options["neutral"], after_error=options["after_error"])  # fmt: skip
            spec = TrainingSpec(name=options["name"], base=options["base"], policy=policy, **{k: options[k] for k in knobs})
            run = do_start_training(project, spec, Selection(filters, tuple(options["trace"])), queue=False)
        except RequestRejected as rejected:
            raise CommandError(f"--{rejected.field.replace('_', '-')}: {rejected.message}") from None
        self._train(run)

    def _train(self, run: Run) -> None:
        from workers.prm.training import train_prm  # imports torch
        from workers.tasks.prm import base_folder

        def train(
            request: TrainingRequest, on_loss: Callable[[int, float], None], should_stop: Callable[[], bool]
        ) -> TrainOutcome:
            def log(step: int, loss: float) -> None:
                on_loss(step, loss)
                self.stdout.write(f"step {step}/{run.progress_total}: loss {loss:.4f}")

            return train_prm(request, log, should_stop)

        try:
            run_prm_training(run.pk, train, base_folder)
        except KeyboardInterrupt:
            do_cancel_run(run, reason="Interrupted")
            raise CommandError(f"Interrupted: run {run.pk} is cancelled; no PRM was registered") from None
        except Exception as error:
            fail_run(run.pk, error)
            raise CommandError(f"Run {run.pk} failed: {error}") from None
        run.refresh_from_db()
        training = run.report.get("training", {})
        self.stdout.write(
            self.style.SUCCESS(
                f"Run {run.pk} {run.status}: PRM '{run.report.get('scorer')}' (version {run.report.get('version')}) "
                f"trained in {training.get('steps')} steps, {training.get('seconds')} s, final loss {training.get('final_loss')}."
            )
        )
