"""PRM jobs against their bare engine calls, on SmolLM2-135M on the CPU (docs/concepts.md §5.2, §5.3).

    THINKSCOPE_MODEL_CACHE=var/models .venv/bin/python benchmarks/prm_jobs.py \
        [--traces 48] [--steps 6] [--train-steps 6] [--rounds 3]

In a scratch SQLite data directory (the converted SmolLM2 is taken from ``THINKSCOPE_MODEL_CACHE``
when it is set, else converted there once): ``--traces`` stored traces of ``--steps`` steps each, every step
labelled (people's labels, right and wrong). Then, alternating the two sides ``--rounds`` times so
that the shared machine's load falls on both alike:

* **scoring**: ``run_prm_scoring`` (the job: reading traces and steps, building inputs, the batched
  forward passes, writing every step's score, label and the trace scores) against the raw model
  call on the same steps — the same forward passes on inputs already tokenized, nothing read or
  written. Traces per second of each, and their ratio (target ≥ 0.9×).
* **training**: ``run_prm_training`` (the job: examples from the TRL export's records, the loss of
  every step written to the run) against a bare ``transformers.Trainer`` loop on the same rows, model
  and arguments. Optimizer steps per second of the training loops, and their ratio (target ≥ 0.9×).

Each rate is given per second of wall time and per second of this process's CPU time (all its
threads, SQLite included): on a shared machine the CPU figures are the steadier ones.

The PRM scored is a token-classification model made from SmolLM2 (its head untrained: the cost of a
forward pass does not depend on the weights).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from import_throughput import setup_django


def seed(traces: int, steps: int):
    """A project with ``traces`` traces whose every step people labelled."""
    from django.contrib.auth import get_user_model

    from traces.actions.labels import LabelInput, do_save_labels
    from traces.actions.store import store_traces
    from traces.formats.base import ParsedStep, ParsedTrace
    from traces.models import Project, Run, RunKind, Step

    project = Project.objects.create(name="PRM benchmark", slug="prm-bench")
    person = get_user_model().objects.create_user("labeller")
    run = Run.objects.create(project=project, kind=RunKind.IMPORT, name="bench")
    parsed = []
    for i in range(traces):
        texts = [f"Step {k + 1}: {i} plus {k} makes {i + k}, and we carry on with the next part of the sum." for k in range(steps)]
        parsed.append(ParsedTrace(line_no=i + 1, prompt=f"Problem {i}: add the numbers from {i} to {i + steps}.",
                                  text="\n\n".join(texts), model_name="gen", steps=[ParsedStep(t) for t in texts]))  # fmt: skip
    ids = store_traces(project, run, parsed).trace_ids
    labels = [
        LabelInput(step=step, value=1 if (step.trace_id + step.index) % 3 else -1)
        for step in Step.objects.filter(trace_id__in=ids)
    ]
    do_save_labels(person, labels)
    return project


def score_side(project, scorer_name: str, rounds: int):
    """Traces/s of the scoring job and of the raw model call, alternated ``rounds`` times."""
    import torch

    from traces.actions.auto_labels import Selection
    from traces.actions.prm_scorers import scorer_named
    from traces.actions.prm_scoring import ScoringSpec, do_start_scoring, run_prm_scoring, step_texts
    from traces.models import Step, Trace
    from workers.prm.scoring import prm_for

    scorer = scorer_named(project, scorer_name)
    model = prm_for(scorer)  # loaded once, outside both timings
    traces = list(Trace.objects.filter(project=project).select_related("problem").order_by("pk"))
    items = [
        (t.problem.prompt, step_texts(t, list(Step.objects.filter(trace=t).order_by("index")), scorer)) for t in traces
    ]
    inputs = sorted(model.inputs(items), key=lambda item: -len(item.input_ids))
    batches = []
    for start in range(0, len(inputs), scorer.batch_size):
        chunk = inputs[start : start + scorer.batch_size]
        longest = max(len(item.input_ids) for item in chunk)
        ids = torch.full((len(chunk), longest), model.pad_id)
        mask = torch.zeros((len(chunk), longest), dtype=torch.long)
        for row, item in enumerate(chunk):
            ids[row, : len(item.input_ids)] = torch.tensor(item.input_ids)
            mask[row, : len(item.input_ids)] = 1
        batches.append((ids, mask, chunk))

    @torch.inference_mode()
    def raw() -> tuple[float, float]:
        began, cpu = time.perf_counter(), time.process_time()
        for ids, mask, chunk in batches:
            chances = model.model(input_ids=ids, attention_mask=mask).logits.softmax(dim=-1)[..., 1]
            [[float(chances[row, p]) for p in item.positions] for row, item in enumerate(chunk)]
        return len(inputs) / (time.perf_counter() - began), len(inputs) / (time.process_time() - cpu)

    def job() -> tuple[float, float]:
        run = do_start_scoring(project, ScoringSpec(scorer_name), Selection(), queue=False)
        began, cpu = time.perf_counter(), time.process_time()
        run = run_prm_scoring(run.pk, prm_for)
        assert run is not None and run.status == "succeeded", run and run.error
        return run.progress_done / (time.perf_counter() - began), run.progress_done / (time.process_time() - cpu)

    raw()  # warm
    times: dict[str, list[tuple[float, float]]] = {"raw": [], "job": []}
    for _ in range(rounds):
        times["raw"].append(raw())
        times["job"].append(job())
    return times


def train_side(project, train_steps: int, rounds: int):
    """Optimizer steps/s of the training job and of a bare Trainer loop, alternated ``rounds`` times."""
    from traces.actions.auto_labels import Selection
    from traces.actions.prm_scorers import prm_dir
    from traces.actions.prm_training import (
        TrainingRequest,
        TrainingSpec,
        do_start_training,
        run_prm_training,
        training_examples,
    )
    from traces.models import TrainedPrm
    from workers.prm.training import build_trainer, train_prm, train_rows
    from workers.tasks.prm import base_folder

    spec = TrainingSpec(max_steps=train_steps, batch_size=4, max_length=256, trainable_layers=4)

    def job(round_: int) -> tuple[float, float]:
        run = do_start_training(project, replace(spec, name=f"bench-{round_}"), Selection(), queue=False)
        run = run_prm_training(run.pk, train_prm, base_folder)
        assert run is not None and run.status == "succeeded", run and run.error
        shutil.rmtree(prm_dir() / TrainedPrm.objects.get(run=run).folder)  # 0.5 GB each
        training = run.report["training"]
        return training["steps"] / training["seconds"], training["steps"] / training["cpu_seconds"]

    def bare() -> tuple[float, float]:
        examples, _ = training_examples(project, Selection(), spec, 10**12)
        with tempfile.TemporaryDirectory() as out:
            request = TrainingRequest(base_folder(spec.base), "cpu", spec, tuple(examples), Path(out))
            model, tokenizer, rows, _, _ = train_rows(request)
            trainer = build_trainer(request, model, tokenizer, rows)
            began, cpu = time.perf_counter(), time.process_time()
            result = trainer.train()
            return result.global_step / (time.perf_counter() - began), result.global_step / (time.process_time() - cpu)

    times: dict[str, list[tuple[float, float]]] = {"bare": [], "job": []}
    for round_ in range(rounds):
        times["bare"].append(bare())
        times["job"].append(job(round_))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=48)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--train-steps", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.pop("DATABASE_URL", None)
        setup_django(None, Path(tmp))
        from django.conf import settings
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        from traces.actions.prm_scorers import prm_dir
        from traces.models import TrainedPrm
        from workers.backends.embedded import embedded_model_dir

        project = seed(args.traces, args.steps)
        base = embedded_model_dir(settings.MODEL_CACHE_DIR)
        folder = prm_dir() / "bench-untrained"
        AutoModelForTokenClassification.from_pretrained(base, num_labels=2).save_pretrained(folder)
        AutoTokenizer.from_pretrained(base).save_pretrained(folder)
        TrainedPrm.objects.create(project=project, name="untrained", base_endpoint="embedded", folder=folder.name,
                                  version="bench", params={"max_length": 512})  # fmt: skip

        scoring = score_side(project, "untrained", args.rounds)
        training = train_side(project, args.train_steps, args.rounds)
        load = os.getloadavg()[0]
        print(
            f"{args.traces} traces × {args.steps} steps, SmolLM2-135M on the CPU ({os.cpu_count()} cores, load "
            f"average {load:.1f}), torch {__import__('torch').__version__}, Python {sys.version.split()[0]}"
        )
        for label, unit, (base, side) in (("scoring", "traces/s", (scoring["raw"], scoring["job"])),
                                          ("training", "steps/s", (training["bare"], training["job"]))):  # fmt: skip
            for clock, i in (("wall", 0), ("CPU", 1)):
                b, j = statistics.median(r[i] for r in base), statistics.median(r[i] for r in side)
                print(f"{label:9s} {clock:4s}  baseline {b:7.3f} {unit}   job {j:7.3f} {unit}   ratio {j / b:.2f}x (target ≥ 0.9x)")


if __name__ == "__main__":
    main()
