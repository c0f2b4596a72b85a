"""A job's report in words, as its page shows it (docs/concepts.md §4 "job pages").

A Run's ``report`` is JSON its action wrote: an import's counts and skipped lines
(``traces/actions/imports.py``), a generation's failures (``generation.py``), a Monte Carlo or judge
run's rollouts, skipped traces and parse failures (``auto_labels.py``), a PRM training's examples
and loss curve (``prm_training.py``), a PRM scoring's version and partly scored traces
(``prm_scoring.py``). :func:`job_report` turns it
into counts with words, the problems with their reasons and one outcome per trace, and derives the
status people read: a run that succeeded while some of its work failed or was skipped "finished with
problems", never a plain success.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from traces.actions.auto_labels import MC_SOURCE, judge_source
from traces.actions.prm_scorers import prm_source
from traces.display_names import display_name
from traces.models import LanguageModel, Run, RunKind, RunStatus, Trace
from traces.queries.runs import models_by_ids, run_annotations, run_labels, run_traces

#: Traces listed one by one on a job page (the counts cover them all).
TRACES_SHOWN = 50

#: The status a run that succeeded with problems shows (a badge class and its words).
PROBLEMS = "problems"
STATUS_WORDS = {PROBLEMS: "finished with problems"}


@dataclass(frozen=True)
class Count:
    """One figure of a report: ``tone`` is ok, warn, bad or muted (its colour)."""

    value: int
    words: str
    tone: str = "muted"


@dataclass(frozen=True)
class Problem:
    """Something that went wrong, where (a line, a trace, problems) and why."""

    where: str
    reason: str
    detail: str = ""
    trace_id: int | None = None


@dataclass(frozen=True)
class Detail:
    """One fact of a trace's outcome (a step's rollouts, a judge's verdict), with its tone."""

    text: str
    tone: str = "muted"


@dataclass(frozen=True)
class TraceOutcome:
    """What the job did with one trace."""

    trace_id: int
    title: str
    outcome: str
    tone: str
    details: tuple[Detail, ...] = ()


@dataclass
class JobReport:
    """A job's report as words: ``status`` and ``status_words`` for the badge, a headline, counts,
    problems and per-trace outcomes, and the settings as (name, value) pairs."""

    status: str
    status_words: str
    headline: str
    counts: list[Count] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    traces: list[TraceOutcome] = field(default_factory=list)
    settings: list[tuple[str, str]] = field(default_factory=list)
    think_formats: list[dict[str, Any]] = field(default_factory=list)  # an import's, per model


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 trace``, ``2 traces``."""
    return f"{count:,} {word if count == 1 else (words or word + 's')}"


def display_status(run: Run) -> tuple[str, str]:
    """The status a run's badge shows and its words: "finished with problems" for a run that
    succeeded while some of its work failed or was skipped."""
    if run.status == RunStatus.SUCCEEDED and problem_count(run) > 0:
        return PROBLEMS, STATUS_WORDS[PROBLEMS]
    return run.status, run.get_status_display().lower()


def problem_count(run: Run) -> int:
    """How many lines, chunks or traces of the run failed or were skipped, from its report."""
    report = run.report if isinstance(run.report, dict) else {}
    keys_by_kind: dict[str, tuple[str, ...]] = {
        RunKind.IMPORT: ("skipped_count",),
        RunKind.GENERATION: ("failure_count",),
        RunKind.MC_ROLLOUT: ("skipped",),
        RunKind.JUDGE: ("skipped", "parse_failure_count"),
        RunKind.PRM_SCORING: ("skipped",),
    }
    keys = keys_by_kind.get(run.kind, ())
    return sum(int(report.get(key, 0) or 0) for key in keys)


def job_report(run: Run) -> JobReport:
    """The report of ``run`` in words (exports keep their own page)."""
    status, words = display_status(run)
    builders: dict[str, Callable[[Run, dict[str, Any], JobReport], None]] = {
        RunKind.IMPORT: _import_report,
        RunKind.GENERATION: _generation_report,
        RunKind.MC_ROLLOUT: _mc_report,
        RunKind.JUDGE: _judge_report,
        RunKind.PRM_TRAINING: _prm_training_report,
        RunKind.PRM_SCORING: _prm_scoring_report,
    }
    builder = builders.get(run.kind)
    report = JobReport(status=status, status_words=words, headline="", problem_count=problem_count(run))
    if builder is not None:
        builder(run, run.report if isinstance(run.report, dict) else {}, report)
    if run.status == RunStatus.QUEUED:
        report.headline = "Waiting for a worker to start it."
    elif run.status == RunStatus.CANCELLED:
        report.headline = f"Cancelled. {report.headline}"
    return report


# --- Imports --------------------------------------------------------------------------------------


def _import_report(run: Run, data: dict[str, Any], report: JobReport) -> None:
    created, duplicates = int(data.get("traces_created", 0)), int(data.get("duplicates_skipped", 0))
    invalid = int(data.get("skipped_count", 0))
    report.counts = [
        Count(created, "new traces", "ok" if created else "muted"),
        Count(duplicates, "already in the project (skipped)", "warn" if duplicates else "muted"),
        Count(invalid, "invalid lines (skipped)", "bad" if invalid else "muted"),
        Count(int(data.get("problems_created", 0)), "new problems"),
        Count(int(data.get("labels_created", 0)), "step labels"),
    ]
    report.problems = [
        Problem(f"line {item['line']}" if item.get("line") else "the file", item["message"],
                f"field {item['field']}" if item.get("field") else "")  # fmt: skip
        for item in data.get("skipped", [])
    ]
    if "error" in data:
        error = data["error"]
        report.problems = [Problem(f"line {error['line']}" if error.get("line") else "the file", error["message"])]
    report.headline = _import_headline(run, created, duplicates, invalid)
    report.settings = [("Format", run.source_format)]
    report.settings.append(("Thinking", run.params.get("think_format", "decided per model from its traces")))
    report.think_formats = data.get("think_formats", [])
    if "skip_invalid" in run.params:  # recorded by queued imports; the command line says it in its output
        report.settings.append(("Invalid lines", "skipped" if run.params["skip_invalid"] else "stop the import"))


def _import_headline(run: Run, created: int, duplicates: int, invalid: int) -> str:
    if run.status == RunStatus.FAILED and "traces_created" not in run.report:
        return "Nothing was imported: the file has an error, and an import keeps all of a file or none of it."
    if run.status in (RunStatus.QUEUED, RunStatus.RUNNING) and "traces_created" not in run.report:
        return "Reading the file…"
    parts = [f"Imported {plural(created, 'new trace')}"]
    if duplicates:
        parts.append(f"skipped {plural(duplicates, 'trace')} already in the project")
    if invalid:
        parts.append(f"skipped {plural(invalid, 'invalid line')}")
    headline = ", ".join(parts) + "."
    if not created and duplicates:
        headline += " Nothing new: this file had been imported before."
    return headline


# --- Generation -----------------------------------------------------------------------------------


def _generation_report(run: Run, data: dict[str, Any], report: JobReport) -> None:
    traces = run_traces(run)
    stored = run.progress_done  # the traces the run holds, kept current after each batch
    failures = int(data.get("failure_count", 0))
    cut = traces.filter(finish_reason="length").count()
    correct = traces.filter(is_correct=True).count()
    report.counts = [
        Count(stored, f"of {run.progress_total:,} traces generated", "ok" if stored else "muted"),
        Count(correct, "answers right", "ok" if correct else "muted"),
        Count(cut, "cut at the token limit", "warn" if cut else "muted"),
        Count(failures, "failed chunks", "bad" if failures else "muted"),
    ]
    report.problems = [
        Problem(f"problems {', '.join(map(str, item['problems']))}", item["error"]) for item in data.get("failures", [])
    ]
    report.headline = f"Generated {plural(stored, 'trace')} of {run.progress_total:,}."
    if run.status == RunStatus.RUNNING:
        report.headline = f"Generating {plural(run.progress_total, 'trace')}: {stored:,} stored so far."
    if run.status in (RunStatus.CANCELLED, RunStatus.FAILED) and stored < run.progress_total:
        report.headline += " Resume the run to generate the rest; it keeps every trace stored."
    if failures:
        report.headline += f" {plural(failures, 'chunk')} failed; the error of each is below."
    report.traces = [
        TraceOutcome(
            trace.pk,
            f"Problem {trace.problem_id} · sample {trace.sample_index + 1}",
            _answer_words(trace),
            {True: "ok", False: "bad", None: "muted"}[trace.is_correct],
            (
                Detail(f"{trace.think_tokens + trace.answer_tokens:,} tokens"),
                Detail(f"finish: {trace.finish_reason}", "warn" if trace.finish_reason != "stop" else "muted"),
            ),
        )
        for trace in traces.order_by("problem_id", "sample_index")[:TRACES_SHOWN]
    ]
    report.settings = _sampling_settings(run.params) + [("Samples per problem", str(run.n_samples))]


def _answer_words(trace: Trace) -> str:
    answer = f"answered {trace.final_answer!r}" if trace.final_answer else "gave no final answer"
    verdict = {True: "right", False: "wrong", None: "not graded"}[trace.is_correct]
    return f"{answer} ({verdict})"


def _sampling_settings(params: dict[str, Any]) -> list[tuple[str, str]]:
    settings = [
        ("Max new tokens", f"{params.get('max_new_tokens', '—'):,}" if params.get("max_new_tokens") else "—"),
        ("Temperature", str(params.get("temperature", "—"))),
    ]
    if params.get("think_budget"):
        settings.append(("Thinking budget", f"{params['think_budget']:,} tokens"))
    if params.get("seed") is not None:
        settings.append(("Seed", str(params["seed"])))
    return settings


# --- Monte Carlo ----------------------------------------------------------------------------------


def _mc_report(run: Run, data: dict[str, Any], report: JobReport) -> None:
    skipped = int(data.get("skipped", 0))
    labelled = run.progress_done - skipped
    report.counts = [
        Count(labelled, f"of {run.progress_total:,} traces labelled", "ok" if labelled else "muted"),
        Count(int(data.get("rollouts", 0)), "rollouts"),
        Count(skipped, "traces skipped", "warn" if skipped else "muted"),
    ]
    report.problems = _skipped_traces(data)
    report.headline = (
        f"Labelled the steps of {plural(labelled, 'trace')} from {plural(int(data.get('rollouts', 0)), 'rollout')}."
    )
    annotations = run_annotations(run, [MC_SOURCE])
    steps = _step_values(run, MC_SOURCE)
    report.traces = [
        TraceOutcome(
            annotation.trace_id,
            f"Trace {annotation.trace_id}",
            _first_error_words(annotation.first_error_step),
            "bad" if annotation.first_error_step is not None and annotation.first_error_step >= 0 else "ok",
            tuple(steps.get(annotation.trace_id, [])),
        )
        for annotation in annotations.order_by("trace_id")[:TRACES_SHOWN]
    ]
    params = run.params
    report.settings = [
        ("Rollouts per step (K)", str(params.get("k", "—"))),
        ("Search", {"linear": "every step", "binary": "binary search for the first error"}.get(params.get("mode", ""),
                                                                                                 params.get("mode", "—"))),  # fmt: skip
        *_sampling_settings(params),
    ]


def _first_error_words(step: int | None) -> str:
    if step is None or step < 0:
        return "no error found: every step can still reach the reference answer"
    return f"first error at step {step + 1}: no rollout from it reaches the reference answer"


def _step_values(run: Run, source: str) -> dict[int, list[Detail]]:
    """Per trace, each measured step as "step 2: 3/8" (rollouts reaching the reference answer)."""
    values: dict[int, list[Detail]] = defaultdict(list)
    labels = run_labels(run, source)
    for trace_id, index, params in labels.order_by("trace_id", "step__index").values_list(
        "trace_id", "step__index", "params"
    ):
        if "rollouts" in params:
            tone = "ok" if params["correct"] == params["rollouts"] else "bad" if not params["correct"] else "warn"
            values[trace_id].append(Detail(f"step {index + 1}: {params['correct']}/{params['rollouts']}", tone))
    return values


def _skipped_traces(data: dict[str, Any]) -> list[Problem]:
    return [
        Problem(f"trace {item['trace']}", item["reason"], trace_id=item["trace"])
        for item in data.get("skipped_examples", [])
    ]


# --- Judges ---------------------------------------------------------------------------------------


def _judge_report(run: Run, data: dict[str, Any], report: JobReport) -> None:
    failures = int(data.get("parse_failure_count", 0))
    skipped = int(data.get("skipped", 0))
    report.counts = [
        Count(run.progress_done - skipped, f"of {run.progress_total:,} traces judged", "ok"),
        Count(failures, "replies that did not parse (no label)", "bad" if failures else "muted"),
        Count(skipped, "traces skipped", "warn" if skipped else "muted"),
    ]
    report.problems = _skipped_traces(data) + [
        Problem(f"trace {item['trace']} · {item['judge']}", f"reply did not parse: {item['reason']}",
                item.get("excerpt", ""), trace_id=item["trace"])  # fmt: skip
        for item in data.get("parse_failures", [])
    ]
    report.headline = f"Judged {plural(run.progress_done - skipped, 'trace')}."
    if failures:
        report.headline += f" {plural(failures, 'reply', 'replies')} did not parse and gave no label."
    agreement = data.get("agreement")
    if isinstance(agreement, dict) and agreement.get("krippendorff_alpha") is not None:
        report.headline += f" The judges agree with Krippendorff's alpha {agreement['krippendorff_alpha']:.2f}."
    judges = models_by_ids(run.params.get("judge_ids", []))
    report.traces = _judge_outcomes(run, judges)
    report.settings = [
        ("Judges", ", ".join(judge.name for judge in judges) or "—"),
        ("Prompt", {"first_error": "first error (ProcessBench critic)", "steps": "rate every step"}.get(
            run.params.get("mode", ""), run.params.get("mode", "—"))),  # fmt: skip
        ("Self-judging", "allowed" if run.params.get("allow_self_judging") else "not allowed"),
        *_sampling_settings(run.params),
    ]


def _judge_outcomes(run: Run, judges: list[LanguageModel]) -> list[TraceOutcome]:
    """Per trace, each judge's verdict: its first error, or why its reply gave no label."""
    sources = {judge_source(judge): judge.name for judge in judges}
    annotations = run_annotations(run, sources).order_by("trace_id", "source")
    verdicts: dict[int, list[Detail]] = defaultdict(list)
    for annotation in annotations:
        failure = annotation.params.get("parse_failure")
        name = sources[annotation.source]
        if failure:
            verdicts[annotation.trace_id].append(Detail(f"{name}: no label — {failure['reason']}", "bad"))
        else:
            verdicts[annotation.trace_id].append(Detail(f"{name}: {_verdict_words(annotation.first_error_step)}", "ok"))
    return [
        TraceOutcome(
            trace_id,
            f"Trace {trace_id}",
            "every reply parsed" if all(d.tone == "ok" for d in lines) else "a reply gave no label",
            "ok" if all(d.tone == "ok" for d in lines) else "warn",
            tuple(lines),
        )
        for trace_id, lines in list(verdicts.items())[:TRACES_SHOWN]
    ]


def _verdict_words(step: int | None) -> str:
    if step is None:
        return "rated the steps"
    return "no error" if step < 0 else f"first error at step {step + 1}"


# --- PRM training and scoring ---------------------------------------------------------------------


def _prm_training_report(run: Run, data: dict[str, Any], report: JobReport) -> None:
    params, examples = run.params, data.get("examples", {})
    name = params.get("name", "")
    losses = data.get("loss", [])
    unused = sum(int(count) for count in examples.get("skipped", {}).values())
    report.counts = [
        Count(run.progress_done, f"of {run.progress_total:,} optimizer steps", "ok" if run.progress_done else "muted"),
        Count(int(examples.get("train", 0)), "training examples (traces)", "ok" if examples.get("train") else "muted"),
        Count(int(examples.get("positive", 0)), "steps labelled right"),
        Count(int(examples.get("negative", 0)), "steps labelled wrong"),
        Count(unused, f"selected traces not used ({_reasons(examples.get('skipped', {}))})", "warn" if unused else "muted"),
    ]
    if examples.get("test"):
        report.counts.append(Count(int(examples["test"]), "traces held out (test split)"))
    last = f", loss {losses[-1][1]:.4f}" if losses else ""
    if run.status == RunStatus.SUCCEEDED:
        training = data.get("training", {})
        report.headline = (
            f"Trained the PRM '{name}' in {plural(int(training.get('steps', 0)), 'step')}{last}: it is a scorer of "
            "this project now, and can score traces."
        )
    elif run.status == RunStatus.RUNNING:
        report.headline = (
            f"Training '{name}': step {run.progress_done:,} of {run.progress_total:,}{last}." if losses
            else f"Preparing '{name}': reading the labelled traces and loading {params.get('base', '?')}…"
        )
    report.settings = [
        ("Name", name),
        ("Base model (endpoint)", params.get("base", "—")),
        *[(label, value) for label, value, _ in _policy_rows(params.get("policy", {}))],
        ("Optimizer steps", str(params.get("max_steps", "—"))),
        ("Learning rate", str(params.get("learning_rate", "—"))),
        ("Batch size", str(params.get("batch_size", "—"))),
        ("Max tokens per trace", str(params.get("max_length", "—"))),
        ("Trained blocks", f"top {params['trainable_layers']}" if params.get("trainable_layers") else "all"),
        ("Step separator", repr(params.get("separator", "\n"))),
    ]
    if data.get("version"):
        report.settings.append(("Version (weights digest)", data["version"]))


def _reasons(skipped: dict[str, int]) -> str:
    """Why traces gave no example, as the TRL export words it: "no labelled step: 2"."""
    return "; ".join(f"{reason}: {count}" for reason, count in skipped.items()) or "none"


def _policy_rows(policy: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The export page's words for the policy, without what a training leaves at its default."""
    from traces.views.exports import policy_rows  # a view module: imported where it is used

    unset = {"seed", "split_by"} | {key for key in ("auto_method", "test_fraction") if not policy.get(key)}
    return policy_rows({key: value for key, value in policy.items() if key not in unset})


def _prm_scoring_report(run: Run, data: dict[str, Any], report: JobReport) -> None:
    scorer = run.params.get("scorer", "")
    source = prm_source(scorer)
    partial = int(data.get("skipped", 0))
    labels = run_labels(run, source)
    report.counts = [
        Count(run.progress_done, f"of {run.progress_total:,} traces scored", "ok" if run.progress_done else "muted"),
        Count(labels.count(), "steps scored"),
        Count(partial, "traces scored in part (no trace score)", "warn" if partial else "muted"),
    ]
    report.problems = _skipped_traces(data)
    version = f" (version {data['version']})" if data.get("version") else ""
    report.headline = f"Scored the steps of {plural(run.progress_done, 'trace')} with '{scorer}'{version}."
    if run.status == RunStatus.RUNNING:
        report.headline = f"Scoring {plural(run.progress_total, 'trace')} with '{scorer}': {run.progress_done:,} done."
    threshold = float(run.params.get("threshold", 0.5))
    annotations = list(run_annotations(run, [source]).order_by("trace_id")[:TRACES_SHOWN])
    scores: dict[int, list[Detail]] = defaultdict(list)
    shown = labels.filter(trace_id__in=[annotation.trace_id for annotation in annotations])
    for trace_id, index, score in shown.order_by("trace_id", "step__index").values_list(
        "trace_id", "step__index", "confidence"
    ):
        # A scorer's labels always carry its score as their confidence.
        scores[trace_id].append(Detail(f"step {index + 1}: {score:.2f}", "ok" if score >= threshold else "bad"))  # type: ignore[operator]
    report.traces = [
        TraceOutcome(
            annotation.trace_id,
            f"Trace {annotation.trace_id}",
            _prm_verdict(annotation.first_error_step),
            "bad" if annotation.first_error_step is not None and annotation.first_error_step >= 0 else "ok",
            tuple(scores.get(annotation.trace_id, [])),
        )
        for annotation in annotations
    ]
    report.settings = [
        ("Scorer", f"{display_name(source)}"),
        ("Label +1 at a score of at least", f"{threshold:g}"),
    ]


def _prm_verdict(step: int | None) -> str:
    if step is None:
        return "some steps past the scorer's length: first error undetermined"
    return "every step scored right" if step < 0 else f"first error at step {step + 1}: scored below the threshold"
