"""Training a PRM on SmolLM2 and scoring steps with it, on the CPU (docs/concepts.md §5.2, §5.3).

A few stored traces with imported step labels; a handful of optimizer steps, so each training takes
seconds. In this process: the loss curve, the registered scorer and its weights, scores that equal
the raw model's on the same steps, both PRM conventions, the labeller evaluation of the scores. In a
real Celery worker: a training and a scoring queued by the actions, end to end.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from app.scorers import DeclaredScorer
from traces.actions.auto_labels import Selection
from traces.actions.prm_scorers import prm_dir, prm_source, scorer_named
from traces.actions.prm_scoring import STEP_SCORE, TRACE_SCORES, ScoringSpec, do_start_scoring, run_prm_scoring
from traces.actions.prm_training import TrainingSpec, do_start_training, run_prm_training, weights_digest
from traces.actions.store import store_traces
from traces.analysis.best_of_n import aggregate_all
from traces.analysis.prm_inputs import Layout, step_input
from traces.exports.policy import LabelPolicy
from traces.formats.base import ParsedStep, ParsedTrace
from traces.models import Label, Project, ProjectScoreName, Run, RunKind, RunStatus, Score, Step, Trace, TrainedPrm
from traces.queries.evaluation import evaluate_labeller
from workers.prm.scoring import PrmModel, prm_for
from workers.prm.training import train_prm
from workers.tasks.prm import base_folder

pytestmark = pytest.mark.model

SOURCE = "import:test"
#: Short problems whose steps carry imported labels: right ones +1, the wrong step −1.
PROBLEMS = [
    ("Tom has 3 apples and buys 4 more. How many apples?", ["3 + 4 = 7.", "The answer is 7."], [1, 1]),
    ("A box holds 5 pens. How many pens in 2 boxes?", ["2 * 5 = 12.", "The answer is 12."], [-1, -1]),
    ("Sam reads 6 pages a day. How many in 3 days?", ["6 * 3 = 18.", "So 18 pages."], [1, 1]),
    ("There are 9 birds and 4 fly away. How many stay?", ["9 - 4 = 6.", "The answer is 6."], [-1, -1]),
]
TINY = {"max_steps": 3, "batch_size": 2, "max_length": 64, "trainable_layers": 1, "learning_rate": 1e-3}


def store_labelled(project: Project) -> list[Trace]:
    run = Run.objects.create(project=project, kind=RunKind.IMPORT, name="import")
    parsed = [
        ParsedTrace(
            line_no=i,
            prompt=prompt,
            text="\n\n".join(steps),
            model_name="gen",
            steps=[ParsedStep(step, label) for step, label in zip(steps, labels, strict=True)],
            label_source=SOURCE,
        )
        for i, (prompt, steps, labels) in enumerate(PROBLEMS, start=1)
    ]
    return list(Trace.objects.filter(pk__in=store_traces(project, run, parsed).trace_ids).order_by("pk"))


def tiny_spec(name: str) -> TrainingSpec:
    return TrainingSpec(name=name, policy=LabelPolicy(sources=SOURCE), **TINY)


@pytest.fixture
def data_dir(settings, tmp_path: Path) -> Path:
    """Trained PRMs of this test under a folder of its own (the converted base model stays shared)."""
    settings.DATA_DIR = tmp_path
    return tmp_path


@pytest.mark.django_db(transaction=True)
def test_training_then_scoring_in_this_process(project: Project, data_dir: Path) -> None:
    traces = store_labelled(project)
    run = do_start_training(project, tiny_spec("tiny"), Selection(), queue=False)
    run = run_prm_training(run.pk, train_prm, base_folder)
    assert run is not None and run.status == RunStatus.SUCCEEDED, run.error

    # The loss of every optimizer step is on the run, and its progress is the last step.
    assert [step for step, _ in run.report["loss"]] == [1, 2, 3]
    assert (run.progress_done, run.progress_total) == (3, 3)
    assert run.report["examples"]["train"] == 4 and run.report["examples"]["steps"] == 8
    prm = TrainedPrm.objects.get(project=project, name="tiny")
    folder = prm_dir() / prm.folder
    assert folder.parent == data_dir / "prms" and (folder / "config.json").is_file()
    assert prm.version == weights_digest(folder) == run.report["version"]
    assert not list(folder.parent.glob(".*partial*"))  # the temporary folder was renamed into place

    scoring = do_start_scoring(project, ScoringSpec("tiny"), Selection(), queue=False)
    scoring = run_prm_scoring(scoring.pk, prm_for)
    assert scoring is not None and scoring.status == RunStatus.SUCCEEDED, scoring.error
    source = prm_source("tiny")

    # The stored step scores are the raw model's on the same steps.
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForTokenClassification.from_pretrained(folder).eval()
    for trace in traces:
        steps = list(Step.objects.filter(trace=trace).order_by("index"))
        texts = [trace.raw_text[s.char_start : s.char_end].rstrip() for s in steps]
        inputs = step_input(
            lambda t: tokenizer.encode(t, add_special_tokens=False),
            Layout.token_classification(),
            trace.problem.prompt,
            texts,
            bos_token_id=tokenizer.bos_token_id,
        )
        with torch.no_grad():
            chances = model(input_ids=torch.tensor([inputs.input_ids])).logits.softmax(-1)[0, :, 1]
        expected = [float(chances[p]) for p in inputs.positions]
        stored = list(Score.objects.filter(trace=trace, method=source, name=STEP_SCORE).order_by("step__index"))
        assert [s.value for s in stored] == pytest.approx(expected, abs=1e-5)
        assert {s.version for s in stored} == {prm.version}
        traced = dict(Score.objects.filter(trace=trace, method=source, step__isnull=True).values_list("name", "value"))
        assert traced == pytest.approx({TRACE_SCORES[how]: v for how, v in aggregate_all(expected).items()})
        labels = Label.objects.filter(trace=trace, source=source).order_by("step__index")
        assert [(label.value, label.confidence) for label in labels] == [
            (1 if p >= 0.5 else -1, pytest.approx(p, abs=1e-5)) for p in expected
        ]
    assert set(ProjectScoreName.objects.filter(project=project, method=source).values_list("name", flat=True)) == set(
        TRACE_SCORES.values()
    )

    # Its labels are a labeller like any other: ProcessBench F1 against the imported labels.
    evaluation = evaluate_labeller(project, source, SOURCE)
    assert evaluation.traces_compared == 4 and evaluation.processbench is not None
    assert evaluation.confusion is not None and evaluation.confusion.total == 8


@pytest.mark.django_db
def test_a_step_tag_scorer_reads_the_positive_token_against_the_negative(project: Project, settings, smollm2_dir) -> None:
    """SmolLM2 is no PRM, but the convention's arithmetic is checked on it: P(+) / (P(+) + P(−)) at each tag."""
    settings.PRM_SCORERS = {
        "tagged": DeclaredScorer(name="tagged", path=str(smollm2_dir), convention="step_tag", step_tag="ки", max_length=256)
    }
    scorer = scorer_named(project, "tagged")
    loaded = PrmModel(scorer)
    (scores,) = loaded.score([("What is 2 + 2?", ["2 + 2 = 4.", "The answer is 4."])])

    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    model = AutoModelForCausalLM.from_pretrained(smollm2_dir).eval()
    text = "What is 2 + 2? 2 + 2 = 4. ки\nThe answer is 4. ки"
    inputs = step_input(
        lambda t: tokenizer.encode(t, add_special_tokens=False),
        Layout.step_tag("ки"),
        "What is 2 + 2?",
        ["2 + 2 = 4.", "The answer is 4."],
    )
    assert tokenizer.decode(inputs.input_ids) == text
    plus, minus = tokenizer.encode("+", add_special_tokens=False)[-1], tokenizer.encode("-", add_special_tokens=False)[-1]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([inputs.input_ids])).logits[0]
    expected = [float(logits[p, [plus, minus]].softmax(-1)[0]) for p in inputs.positions]
    assert scores == pytest.approx(expected, abs=1e-5)
    assert len(loaded.version) == 12  # no declared version: a digest of its config


@pytest.mark.django_db(transaction=True)
def test_a_worker_trains_and_scores_end_to_end(project: Project, start_workers, wait_for) -> None:
    start_workers()
    traces = store_labelled(project)
    training = do_start_training(project, tiny_spec("worker-made"), Selection())
    done = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)
    wait_for(lambda: Run.objects.get(pk=training.pk).status in done, timeout=300)
    training.refresh_from_db()
    prm = TrainedPrm.objects.filter(project=project, name="worker-made").first()
    try:
        assert training.status == RunStatus.SUCCEEDED, training.error
        assert prm is not None and len(training.report["loss"]) == 3
        scoring = do_start_scoring(project, ScoringSpec("worker-made", threshold=0.4), Selection(trace_ids=(traces[0].pk,)))
        wait_for(lambda: Run.objects.get(pk=scoring.pk).status in done, timeout=300)
        scoring.refresh_from_db()
        assert scoring.status == RunStatus.SUCCEEDED, scoring.error
        assert scoring.progress_done == 1 and scoring.report["version"] == prm.version
        labels = Label.objects.filter(source=prm_source("worker-made"))
        assert labels.count() == 2 and {label.trace_id for label in labels} == {traces[0].pk}
        assert all(label.params["threshold"] == 0.4 for label in labels)
    finally:
        if prm is not None:
            shutil.rmtree(prm_dir() / prm.folder, ignore_errors=True)


@pytest.mark.django_db(transaction=True)
def test_manage_py_train_prm_trains_in_this_process_and_prints_the_loss(project: Project, data_dir: Path) -> None:
    from io import StringIO

    from django.core.management import CommandError, call_command

    store_labelled(project)
    with pytest.raises(CommandError, match="--base: '/etc/models' is not an endpoint"):
        call_command("train_prm", "--project", project.slug, "--base", "/etc/models")
    out = StringIO()
    call_command(
        "train_prm", "--project", project.slug, "--name", "cli", "--sources", SOURCE, "--max-steps", "1",
        "--batch-size", "2", "--max-length", "48", "--trainable-layers", "1", stdout=out,
    )  # fmt: skip
    printed = out.getvalue()
    assert "step 1/1: loss " in printed and "PRM 'cli' (version " in printed
    run = Run.objects.get(kind=RunKind.PRM_TRAINING, params__name="cli")
    assert run.status == RunStatus.SUCCEEDED and TrainedPrm.objects.filter(project=project, name="cli", run=run).exists()
