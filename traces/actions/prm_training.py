"""Train a process reward model from a project's step labels, as a job (docs/concepts.md §5.2).

Starting: :func:`do_start_training` checks the request (bad input raises ``RequestRejected``
naming the field), writes a Run of kind ``prm_training`` whose ``params`` hold the name, the base
endpoint, the label policy, the hyperparameters and the trace selection, and queues the `gpu` task
once the row is committed. The base model is an endpoint the operator declared (app/endpoints.py)
with the ``transformers`` backend — ``embedded``, SmolLM2-135M on the CPU, by default — so the
folder it starts from and the device it trains on are the operator's, never a project's.

Running: :func:`run_prm_training` is the task's body (and ``manage.py train_prm``'s). Its examples
are what the TRL stepwise export writes for the same traces and policy (``traces.formats.trl``:
the labelled prefix of each trace, neutral steps mapped as the policy says), so a PRM trained here
and one trained elsewhere on the export learn from the same data. It trains on the export's train
split. Every logged loss goes to ``report["loss"]`` (the job page draws it live) and the optimizer
step to the run's progress; a cancelled run stops at its next step and keeps nothing. The model is
written into a temporary folder under ``prms/``, renamed into place, and registered as a
``TrainedPrm`` with a digest of its weights, in one transaction with the run's success. A task
delivered again trains again from the start.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from app.endpoints import EMBEDDED
from traces import jobs
from traces.actions.auto_labels import Selection, count_selected, selected_traces
from traces.actions.exports import POLICY_FIELDS, RequestRejected, build_policy
from traces.actions.models import usable_endpoints
from traces.actions.prm_scorers import prm_dir, usable_scorers
from traces.actions.runs import ACTIVE, DATABASE_GONE, RunCancelled, fail_run, is_stopped, mark_started
from traces.analysis.prm_inputs import DEFAULT_SEPARATOR
from traces.backends import BackendUnavailable
from traces.exports.policy import ADJUDICATED_ELSE_HUMAN, TRAIN, AfterError, LabelPolicy, Neutral, SkipTrace, split_of
from traces.exports.query import iter_export_traces
from traces.exports.records import RenderSettings
from traces.formats import get_export_format
from traces.models import Project, QueueItem, Run, RunKind, RunStatus, TrainedPrm

#: The label policy a training takes unless told otherwise: what people decided (adjudicated,
#: else their own labels), a neutral step counted as right, nothing after the first error
#: (Math-Shepherd's and PRM800K's convention: a step after a wrong one has no label of its own).
DEFAULT_POLICY = LabelPolicy(sources=ADJUDICATED_ELSE_HUMAN, neutral=Neutral.POSITIVE, after_error=AfterError.CUT)
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_STEPS = 100_000
#: Loss points kept in a run's report: past this, every other point is dropped (the curve keeps its shape).
MAX_LOSS_POINTS = 500
WEIGHTS_FILE = "model.safetensors"


@dataclass(frozen=True)
class TrainingSpec:
    """What to train: a name (default ``prm-<run id>``), the base endpoint, the label policy and the
    hyperparameters. The defaults train SmolLM2-135M on the CPU in about a minute."""

    name: str = ""
    base: str = EMBEDDED
    policy: LabelPolicy = DEFAULT_POLICY
    max_steps: int = 20
    learning_rate: float = 1e-4
    batch_size: int = 2
    max_length: int = 384
    trainable_layers: int = 4
    separator: str = DEFAULT_SEPARATOR
    seed: int = 0

    def check(self) -> None:
        if self.name and not NAME_PATTERN.match(self.name):
            raise RequestRejected("name", "a name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        for name, low, high in (
            ("max_steps", 1, MAX_STEPS),
            ("batch_size", 1, 256),
            ("max_length", 16, 32_768),
            ("trainable_layers", 0, 1000),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise RequestRejected(name, f"{name} must be a whole number from {low} to {high}, got {value!r}")
        if not 0 < self.learning_rate <= 1:
            raise RequestRejected("learning_rate", f"learning_rate must be in (0, 1], got {self.learning_rate}")
        if not self.separator or len(self.separator) > 32:
            raise RequestRejected("separator", "the step separator is 1 to 32 characters")

    def as_params(self) -> dict[str, Any]:
        params = {name: value for name, value in asdict(self).items() if name != "policy"}
        return params | {"policy": self.policy.as_dict()}

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> TrainingSpec:
        recorded = params["policy"]
        policy = build_policy(**{name: recorded[name] or "" if name == "auto_method" else recorded[name]
                                 for name in POLICY_FIELDS if name in recorded})  # fmt: skip
        values = {name: params[name] for name in cls.__dataclass_fields__ if name in params and name != "policy"}
        return cls(policy=policy, **values)


def _check_base(project: Project, base: str) -> None:
    """The base must be a transformers endpoint the operator opened to the project (its folder and device)."""
    bases = [endpoint.name for endpoint in usable_endpoints(project) if endpoint.backend == "transformers"]
    if base not in bases:
        raise RequestRejected(
            "base", f"'{base}' is not an endpoint this project may use to train a PRM; its transformers endpoints: "
            f"{', '.join(bases) or 'none'}"
        )  # fmt: skip


def _check_sources(project: Project, policy: LabelPolicy) -> None:
    """Refuse a gold source: annotators would read its labels back from the PRM's scores."""
    gold_items = QueueItem.objects.filter(queue__project=project, gold_source__in=policy.precedence)
    gold = sorted(set(gold_items.values_list("gold_source", flat=True)))
    if gold:
        raise RequestRejected(
            "policy", f"{gold[0]!r} is a gold source of this project's queues: a PRM trained on it would show it to annotators"
        )


def do_start_training(
    project: Project,
    spec: TrainingSpec,
    selection: Selection,
    *,
    user: User | None = None,
    queue: bool = True,
) -> Run:
    """Queue the training of a PRM on the selected traces (``queue`` False: only create the Run,
    for a caller that runs it in its own process)."""
    spec.check()
    _check_base(project, spec.base)
    _check_sources(project, spec.policy)
    taken = {scorer.name for scorer in usable_scorers(project)}
    if spec.name in taken:
        raise RequestRejected("name", f"project '{project.slug}' already has a scorer named {spec.name!r}")
    traces = selected_traces(project, selection)
    count = count_selected(traces)
    with transaction.atomic():
        run = Run.objects.create(
            project=project,
            kind=RunKind.PRM_TRAINING,
            name=f"Train PRM {spec.name or '(unnamed)'} on {count} trace{'s' if count != 1 else ''}",
            seed=spec.seed,
            # count > 0 above, so first() finds a trace.
            params={**spec.as_params(), **selection.as_params(), "max_trace_id": traces.order_by("-pk").first().pk},  # type: ignore[union-attr]
            progress_total=spec.max_steps,
            created_by=user if user is not None and user.is_authenticated else None,
        )
        if not spec.name:
            run.params["name"] = f"prm-{run.pk}"
            run.name = f"Train PRM prm-{run.pk} on {count} trace{'s' if count != 1 else ''}"
            run.save(update_fields=["params", "name"])
        if queue:
            transaction.on_commit(lambda: jobs.enqueue(jobs.TRAIN_PRM, run.pk))
    return run


# --- Running --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    """One training example, as the TRL export writes it: a prompt, its steps, a label per step."""

    prompt: str
    steps: tuple[str, ...]
    labels: tuple[bool, ...]


@dataclass(frozen=True)
class TrainingRequest:
    """What the worker's trainer needs: the base folder and device, the examples and the job's knobs."""

    base_dir: Path
    device: str
    spec: TrainingSpec
    examples: tuple[Example, ...]
    out_dir: Path


class TrainOutcome(Protocol):
    """What the worker's trainer reports (read only: ``workers.prm.training.TrainingOutcome`` is frozen)."""

    @property
    def steps(self) -> int: ...

    @property
    def seconds(self) -> float: ...

    @property
    def cpu_seconds(self) -> float: ...

    @property
    def final_loss(self) -> float | None: ...

    @property
    def stopped(self) -> bool: ...

    @property
    def positions(self) -> int: ...

    @property
    def cut(self) -> int: ...


#: The worker's trainer: (request, on_loss(step, loss), should_stop()) → outcome.
TrainFunction = Callable[[TrainingRequest, Callable[[int, float], None], Callable[[], bool]], TrainOutcome]
#: The base model's folder for an endpoint (the embedded model is converted on first use).
BaseFolder = Callable[[str], Path]


@dataclass
class ExampleCounts:
    """How the selection became examples: traces read, kept, skipped by reason, per split."""

    traces: int = 0
    train: int = 0
    test: int = 0
    steps: int = 0
    positive: int = 0
    negative: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


def training_examples(project: Project, selection: Selection, spec: TrainingSpec, max_trace_id: int) -> tuple[list[Example], ExampleCounts]:
    """The train split's examples: the TRL export's records of the selected traces (module docstring)."""
    traces = selected_traces(project, selection).filter(pk__lte=max_trace_id)
    trl = get_export_format("trl")
    render = RenderSettings(options={"step_separator": spec.separator})
    examples, counts = [], ExampleCounts()
    for trace in iter_export_traces(traces, sources=spec.policy.precedence):
        counts.traces += 1
        try:
            record = trl.renderer(trace, spec.policy, render)
        except SkipTrace as skip:
            counts.skipped[str(skip)] = counts.skipped.get(str(skip), 0) + 1
            continue
        if split_of(spec.policy, trace.problem_hash) != TRAIN:
            counts.test += 1
            continue
        counts.train += 1
        counts.steps += len(record["labels"])
        counts.positive += sum(record["labels"])
        counts.negative += len(record["labels"]) - sum(record["labels"])
        examples.append(Example(record["prompt"], tuple(record["completions"]), tuple(record["labels"])))
    return examples, counts


def run_prm_training(run_id: int, train: TrainFunction, base_folder: BaseFolder) -> Run | None:
    """Train the PRM of an active training run (the task's body); None when the run is gone or done.

    BackendUnavailable and a lost database propagate with the run still active (the task retries);
    any other error fails the run, then propagates.
    """
    run = Run.objects.filter(pk=run_id, kind=RunKind.PRM_TRAINING, status__in=ACTIVE).select_related("project").first()
    if run is None:
        return None
    mark_started(run)
    Run.objects.filter(pk=run.pk).update(progress_done=0, report={})  # a redelivered task starts again
    spec = TrainingSpec.from_params(run.params)
    target = prm_dir() / _folder_name(run)
    partial: Path | None = None
    try:
        examples, counts = training_examples(run.project, Selection.from_params(run.params), spec, run.params["max_trace_id"])
        _update_report(run.pk, examples=asdict(counts))
        if not examples:
            raise ValueError(
                f"no training example: none of the {counts.traces} selected traces has a labelled first step under "
                f"the policy ({', '.join(spec.policy.precedence)}); skipped: {counts.skipped or 'none'}"
            )
        endpoint = settings.MODEL_ENDPOINTS[spec.base]
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
        request = TrainingRequest(base_folder(spec.base), endpoint.device, spec, tuple(examples), partial)
        outcome = train(request, lambda step, loss: _log_loss(run.pk, step, loss), lambda: is_stopped(run.pk))
        if outcome.stopped:
            raise RunCancelled(f"run {run.pk} was cancelled")
        _register(run, spec, outcome, counts, partial, target)
        partial = None
    except RunCancelled:
        run.refresh_from_db()
        return run
    except (BackendUnavailable, *DATABASE_GONE):
        raise
    except Exception as error:
        fail_run(run.pk, error)
        raise
    finally:
        if partial is not None:
            shutil.rmtree(partial, ignore_errors=True)
    run.refresh_from_db()
    return run


def _folder_name(run: Run) -> str:
    """The trained model's folder under ``prms/``: the project and the run, chosen by the system."""
    return f"{run.project.slug}-run{run.pk}"


def _log_loss(run_id: int, step: int, loss: float) -> None:
    """Add a loss point to the run's curve and move its progress to ``step``."""
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run_id)
        points = [*run.report.get("loss", []), [step, round(loss, 5)]]
        if len(points) > MAX_LOSS_POINTS:
            points = points[::2]
        Run.objects.filter(pk=run_id).update(report={**run.report, "loss": points}, progress_done=step)


def _update_report(run_id: int, **values: Any) -> None:
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run_id)
        Run.objects.filter(pk=run_id).update(report={**run.report, **values})


def weights_digest(folder: Path) -> str:
    """The version of a trained PRM: the first 12 hex digits of its weights' sha256."""
    digest = hashlib.sha256()
    for weights in sorted(folder.glob("*.safetensors")):
        with weights.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:12]


def _register(run: Run, spec: TrainingSpec, outcome: TrainOutcome, counts: ExampleCounts, partial: Path, target: Path) -> None:
    """Move the saved model into place and register it, with the run's success, in one transaction."""
    shutil.rmtree(partial / ".trainer", ignore_errors=True)
    version = weights_digest(partial)
    if target.exists():  # an earlier delivery of this task saved a model and then lost its database
        shutil.rmtree(target)
    partial.rename(target)
    training = {
        "steps": outcome.steps,
        "seconds": round(outcome.seconds, 2),
        "cpu_seconds": round(outcome.cpu_seconds, 2),
        "steps_per_second": round(outcome.steps / outcome.seconds, 4) if outcome.seconds else None,
        "final_loss": outcome.final_loss,
        "positions": outcome.positions,
        "cut": outcome.cut,
    }
    with transaction.atomic():
        prm, _ = TrainedPrm.objects.update_or_create(
            project=run.project,
            name=spec.name or run.params["name"],
            defaults={
                "run": run,
                "base_endpoint": spec.base,
                "folder": target.name,
                "separator": spec.separator,
                "version": version,
                "params": {**spec.as_params(), "examples": counts.train, "training": training},
            },
        )
        locked = Run.objects.select_for_update().get(pk=run.pk)
        report = {**locked.report, "training": training, "scorer": prm.name, "version": version}
        Run.objects.filter(pk=run.pk, status__in=ACTIVE).update(
            status=RunStatus.SUCCEEDED, finished_at=timezone.now(), report=report, progress_done=outcome.steps
        )

