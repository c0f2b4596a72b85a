"""``manage.py generate --project P --model M [problems] [sampling]``: start a generation run (docs/concepts.md §4 CLI).

By default the run is queued for the `gpu` workers, as the browser and the API queue it, and the
command prints its job page; ``--wait`` then follows its progress with a bar. ``--here`` generates
it in this process instead (no worker needed), with the same chunk code the workers run: that is
why the command lives in ``workers``.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse
from tqdm import tqdm

from traces.actions.generation import (
    GenerationError,
    chunked,
    do_start_generation,
    generate_chunk,
    select_problem_ids,
)
from traces.actions.runs import ACTIVE
from traces.backends import BackendUnavailable, SamplingParams
from traces.management.projects import project_or_error
from traces.models import LanguageModel, Run, RunStatus


class Command(BaseCommand):
    help = (
        "Generate n samples of a project's problems with one of its models, as a Run. Problems: "
        "--problem-ids, else --dataset, else every problem; --limit keeps the first N."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="Project slug")
        parser.add_argument("--model", required=True, help="Name of one of the project's models")
        problems = parser.add_argument_group("problems")
        problems.add_argument("--dataset", default="", help="Source dataset of the problems")
        problems.add_argument("--problem-ids", default="", help="Comma-separated problem ids")
        problems.add_argument("--limit", type=int, default=None, help="The first N problems of the selection")
        sampling = parser.add_argument_group("sampling")
        sampling.add_argument("--n", type=int, default=1, help="Samples per problem (default 1)")
        sampling.add_argument("--temperature", type=float, default=0.7)
        sampling.add_argument("--top-p", type=float, default=0.95)
        sampling.add_argument("--max-new-tokens", type=int, default=256)
        sampling.add_argument("--seed", type=int, default=None)
        sampling.add_argument(
            "--think-budget",
            type=int,
            default=None,
            help="Think in a <think> block for at most this many tokens, then answer in --max-new-tokens "
            "(budget forcing; default: answer directly)",
        )
        parser.add_argument("--name", default="", help="Name of the run")
        where = parser.add_mutually_exclusive_group()
        where.add_argument("--wait", action="store_true", help="Queue for the workers, then follow the progress")
        where.add_argument("--here", action="store_true", help="Generate in this process instead of the workers")

    def handle(self, *args: Any, **options: Any) -> None:
        project = project_or_error(options["project"])
        model = LanguageModel.objects.filter(project=project, name=options["model"]).first()
        if model is None:
            known = ", ".join(LanguageModel.objects.filter(project=project).values_list("name", flat=True)) or "none"
            raise CommandError(f"No model '{options['model']}' in '{project.slug}' (known: {known}).")
        try:
            ids = [int(part) for part in options["problem_ids"].split(",") if part.strip()]
        except ValueError:
            raise CommandError("--problem-ids takes whole numbers separated by commas") from None
        try:
            params = SamplingParams(
                max_new_tokens=options["max_new_tokens"], temperature=options["temperature"],
                top_p=options["top_p"], n=options["n"], seed=options["seed"],
                think_budget=options["think_budget"],
            )  # fmt: skip
            selected = select_problem_ids(project, source=options["dataset"], problem_ids=ids, limit=options["limit"])
            run = do_start_generation(
                project, model, selected, params, name=options["name"], enqueue=not options["here"]
            )
        except GenerationError as error:
            raise CommandError(f"--{error.field.replace('_', '-')}: {error.message}") from None
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Run {run.pk}: {run.progress_total} samples ({len(selected)} problems × {params.n}).")
        if options["here"]:
            self._generate_here(run, selected, options["verbosity"])
        elif options["wait"]:
            self._follow(run, options["verbosity"])
        else:
            self.stdout.write(
                f"Queued for the gpu workers; progress at {reverse('job-detail', args=[project.slug, run.pk])}"
            )
            return
        run.refresh_from_db()
        if run.status != RunStatus.SUCCEEDED:
            raise CommandError(f"Run {run.pk} {run.status}: {run.error}")
        self.stdout.write(
            self.style.SUCCESS(f"Run {run.pk} succeeded: {run.progress_done} traces, {run.tokens_generated} tokens.")
        )

    def _generate_here(self, run: Run, selected: list[int], verbosity: int) -> None:
        from workers.backends.registry import backend_for

        with self._bar(run, verbosity) as bar:
            for chunk in chunked(selected):
                try:
                    generate_chunk(run.pk, chunk, backend_for)
                except BackendUnavailable as error:
                    raise CommandError(str(error)) from None
                except KeyboardInterrupt:
                    raise CommandError(f"Interrupted; resume run {run.pk} from its job page.") from None
                bar.update(Run.objects.get(pk=run.pk).progress_done - bar.n)

    def _follow(self, run: Run, verbosity: int) -> None:
        with self._bar(run, verbosity) as bar:
            while run.status in ACTIVE:
                time.sleep(1)
                run.refresh_from_db()
                bar.update(run.progress_done - bar.n)

    def _bar(self, run: Run, verbosity: int) -> tqdm:
        return tqdm(
            total=run.progress_total, unit="trace", desc=f"Run {run.pk}", file=sys.stderr, disable=verbosity == 0
        )
