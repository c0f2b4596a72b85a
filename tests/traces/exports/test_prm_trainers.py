"""Opt-in: the PRM trainers' own code reads our exports (docs/concepts.md §2, "Exports").

Run with ``pytest -m trainers tests/traces/exports/test_prm_trainers.py``. Neither trainer is ever
installed into the app's own environment: the first run builds a separate virtualenv (at
``$THINKSCOPE_TRAINERS_VENV``, default ``var/prm-trainers-venv``) with the CPU torch the app pins,
``trl==1.13.0`` (the last TRL with a PRM trainer) and OpenRLHF 0.9.5's code (the last with
``train_prm``; installed without its GPU dependencies, which its dataset code does not import);
later runs reuse it. Both read the embedded SmolLM2 model's tokenizer.

* TRL: ``trl.experimental.prm.PRMTrainer``, built on SmolLM2 as a token classifier, loads the JSONL
  and Parquet exports with ``datasets``, tokenizes them with its own ``tokenize_row`` and takes one
  training step; the test checks where the labels landed.
* OpenRLHF: its ``ProcessRewardDataset`` reads the ``openrlhf`` export and puts each reward token's
  id at its placeholder. SmolLM2 reads ``ки`` as two tokens, so the export names an unused special
  token of that tokenizer as placeholder, as OpenRLHF's own Llama-3 recipe does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from traces.actions.imports import do_import
from traces.exports.policy import LabelPolicy
from traces.exports.writers import write_export
from traces.models import Run, Trace

#: Building the venv (torch, transformers, trl) takes longer than the suite's ten minutes per test.
pytestmark = [pytest.mark.trainers, pytest.mark.django_db, pytest.mark.timeout(3600)]

REPO_ROOT = Path(__file__).resolve().parents[3]
#: The CPU torch of pyproject's ``cpu`` extra (an unpinned torch pulls the CUDA build).
INSTALLS = (["torch==2.13.0", "trl==1.13.0", "pylatexenc"], ["--no-deps", "openrlhf==0.9.5"])
SEPARATOR = "\n\n"
#: An unused special token of SmolLM2's tokenizer: one token wherever it stands.
PLACEHOLDER = "<empty_output>"

TRL_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from datasets import load_dataset
    from transformers import AutoModelForTokenClassification, AutoTokenizer
    from trl.experimental.prm import PRMConfig, PRMTrainer

    model_dir, data_file, kind, out_dir, separator = sys.argv[1:6]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    model = AutoModelForTokenClassification.from_pretrained(model_dir, num_labels=2)
    model.config.pad_token_id = tokenizer.pad_token_id
    dataset = load_dataset(kind, data_files=data_file, split="train")
    args = PRMConfig(output_dir=out_dir, step_separator=separator, max_length=None, max_steps=1,
                     per_device_train_batch_size=2, report_to=[], use_cpu=True, save_strategy="no")
    trainer = PRMTrainer(model=model, args=args, processing_class=tokenizer, train_dataset=dataset)
    loss = trainer.train().training_loss
    rows = [{"input_ids": row["input_ids"], "labels": row["labels"]} for row in trainer.train_dataset]
    print("RESULT " + json.dumps({"loss": loss, "rows": rows}))
    """
)

OPENRLHF_SCRIPT = textwrap.dedent(
    """
    import json, sys, types
    from datasets import load_dataset
    from transformers import AutoTokenizer
    from openrlhf.datasets import ProcessRewardDataset

    model_dir, data_file, placeholder = sys.argv[1:4]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    # train_prm's flags: --input_key input --label_key label --placeholder_token P --reward_tokens + -
    args = types.SimpleNamespace(input_key="input", label_key="label", placeholder_token=placeholder,
                                 reward_tokens=["+", "-"])
    dataset = ProcessRewardDataset(load_dataset("json", data_files=data_file, split="train"), tokenizer, 100000,
                                   types.SimpleNamespace(args=args))
    rows = []
    for i in range(len(dataset)):
        input_ids, _, labels = dataset[i]
        rows.append({"input_ids": input_ids[0].tolist(), "labels": labels[0].tolist()})
    print("RESULT " + json.dumps({"rows": rows, "plus": tokenizer.convert_tokens_to_ids("+"),
                                  "minus": tokenizer.convert_tokens_to_ids("-"),
                                  "placeholder": tokenizer.convert_tokens_to_ids(placeholder)}))
    """
)


@pytest.fixture(scope="module")
def trainers_python() -> Path:
    """The python of the trainers' virtualenv, built on first use."""
    venv = Path(os.environ.get("THINKSCOPE_TRAINERS_VENV", REPO_ROOT / "var" / "prm-trainers-venv"))
    python = venv / "bin" / "python"
    if not (venv / ".complete").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        for packages in INSTALLS:
            subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], check=True)
        (venv / ".complete").touch()
    return python


@pytest.fixture(scope="module")
def model_dir() -> Path:
    """The embedded SmolLM2 folder (its tokenizer, and its weights under a token-classification head)."""
    from workers.backends.embedded import embedded_model_dir

    return embedded_model_dir(settings.MODEL_CACHE_DIR)


@pytest.fixture
def imported(shared_data: Path, project) -> tuple[Run, Run]:
    """ProcessBench's gsm8k sample and PRM800K phase 1 (whose labellers wrote 13 of its steps)."""
    return (
        do_import(project, shared_data / "processbench" / "gsm8k.jsonl", "processbench").run,
        do_import(project, shared_data / "prm800k" / "phase1_train.examples.jsonl", "prm800k").run,
    )


def run_script(python: Path, script: str, *args: str) -> dict[str, Any]:
    done = subprocess.run([str(python), "-c", script, *args], capture_output=True, text=True, timeout=1200)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-4000:]
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return result


def export_both(runs: tuple[Run, Run], fmt: str, out: Path, **options: str) -> list[Path]:
    """The two samples exported in ``fmt``: ProcessBench cut at its first error, PRM800K's human
    completions counted correct (the default)."""
    policies = (LabelPolicy(sources="import:processbench", after_error="cut"), LabelPolicy(sources="import:prm800k"))
    files = []
    for run, policy in zip(runs, policies, strict=True):
        manifest = write_export(Trace.objects.filter(run=run), fmt, policy, out / run.name, options=options)
        files.append(out / run.name / manifest.files[0].name)
    return files


def read_rows(data_file: Path) -> list[dict[str, Any]]:
    if data_file.suffix == ".jsonl":
        return [json.loads(line) for line in data_file.read_text(encoding="utf-8").splitlines()]
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = pq.read_table(data_file).to_pylist()
    return rows


@pytest.mark.parametrize(("fmt", "kind"), [("trl", "json"), ("trl_parquet", "parquet")])
def test_trl_prm_trainer_reads_and_trains_on_the_export(
    imported, trainers_python: Path, model_dir: Path, tmp_path: Path, fmt: str, kind: str
) -> None:
    """Every step's label lands on the last token of that step, the separator TRL appends."""
    from transformers import AutoTokenizer

    examples = []
    for data_file in export_both(imported, fmt, tmp_path / "export", step_separator=SEPARATOR):
        result = run_script(trainers_python, TRL_SCRIPT, str(model_dir), str(data_file), kind, str(tmp_path), SEPARATOR)
        assert result["loss"] > 0
        examples += list(zip(read_rows(data_file), result["rows"], strict=True))
    assert [len(example["completions"]) for example, _ in examples[-3:]] == [6, 29, 6]  # PRM800K, human steps kept

    separator_ids = AutoTokenizer.from_pretrained(model_dir).encode(SEPARATOR, add_special_tokens=False)
    for example, row in examples:
        labelled = [(i, label) for i, label in enumerate(row["labels"]) if label != -100]
        assert [label for _, label in labelled] == [int(flag) for flag in example["labels"]]
        for i, _ in labelled:  # on the separator's last token, right after its step: never a doubled one
            assert row["input_ids"][i - len(separator_ids) + 1 : i + 1] == separator_ids
            assert row["input_ids"][i - 2 * len(separator_ids) + 1 : i + 1] != separator_ids * 2


def test_openrlhf_process_reward_dataset_reads_the_export(
    imported, trainers_python: Path, model_dir: Path, tmp_path: Path
) -> None:
    """Each reward token's id sits at a placeholder, in the exported order, and nowhere else."""
    files = export_both(imported, "openrlhf", tmp_path / "export", placeholder_token=PLACEHOLDER)
    for data_file in files:
        result = run_script(trainers_python, OPENRLHF_SCRIPT, str(model_dir), str(data_file), PLACEHOLDER)
        rewards = {"+": result["plus"], "-": result["minus"]}
        rows = read_rows(data_file)
        assert rows and len(rows) == len(result["rows"])
        for exported, row in zip(rows, result["rows"], strict=True):
            positions = [i for i, token in enumerate(row["input_ids"]) if token == result["placeholder"]]
            assert len(positions) == len(exported["label"])
            assert [row["labels"][i] for i in positions] == [rewards[mark] for mark in exported["label"]]
            assert all(label == -100 for i, label in enumerate(row["labels"]) if i not in positions)
