"""Opt-in: TRL's own PRM trainer reads our TRL exports (docs/concepts.md §2, "Exports").

Run with ``pytest -m trl tests/traces/exports/test_trl_trainer.py``. TRL 1.13.0 is the last release
with a PRM trainer (``trl.experimental.prm.PRMTrainer``), and it is never installed into the app's
own environment: the first run builds a separate virtualenv (at ``$THINKSCOPE_TRL_VENV``, default
``var/trl-1.13-venv``) with ``trl==1.13.0`` and the CPU build of torch the app pins; later runs
reuse it. The trainer, built on the embedded SmolLM2 model as a token classifier, loads the JSONL
and Parquet exports with ``datasets``, tokenizes them with its own ``tokenize_row`` and takes one
training step; the test then checks where the labels landed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.conf import settings

from traces.actions.imports import do_import
from traces.exports.policy import LabelPolicy
from traces.exports.writers import write_export
from traces.models import Trace

#: Building the venv (torch, transformers, trl) takes longer than the suite's ten minutes per test.
pytestmark = [pytest.mark.trl, pytest.mark.django_db, pytest.mark.timeout(3600)]

REPO_ROOT = Path(__file__).resolve().parents[3]
TRL = "trl==1.13.0"
#: The CPU torch of pyproject's ``cpu`` extra (an unpinned torch pulls the CUDA build).
TORCH = "torch==2.13.0"
SEPARATOR = "\n\n"

TRAINER_SCRIPT = textwrap.dedent(
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


@pytest.fixture(scope="module")
def trl_python() -> Path:
    """The python of the TRL 1.13 virtualenv, built on first use."""
    venv = Path(os.environ.get("THINKSCOPE_TRL_VENV", REPO_ROOT / "var" / "trl-1.13-venv"))
    python = venv / "bin" / "python"
    if not (venv / ".complete").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", TORCH, TRL], check=True)
        (venv / ".complete").touch()
    return python


@pytest.fixture(scope="module")
def model_dir() -> Path:
    """The embedded SmolLM2 folder (its tokenizer, and its weights under a token-classification head)."""
    from workers.backends.embedded import embedded_model_dir

    return embedded_model_dir(settings.MODEL_CACHE_DIR)


def train(trl_python: Path, model_dir: Path, data_file: Path, kind: str, out: Path) -> dict[str, object]:
    done = subprocess.run(
        [str(trl_python), "-c", TRAINER_SCRIPT, str(model_dir), str(data_file), kind, str(out), SEPARATOR],
        capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-4000:]
    result: dict[str, object] = json.loads(lines[-1][len("RESULT ") :])
    return result


@pytest.mark.parametrize(("fmt", "kind"), [("trl", "json"), ("trl_parquet", "parquet")])
def test_trl_prm_trainer_reads_and_trains_on_the_export(
    shared_data: Path, project, trl_python: Path, model_dir: Path, tmp_path: Path, fmt: str, kind: str
) -> None:
    """ProcessBench (cut at the first error) and PRM800K phase 1 (human completions counted correct):
    every step's label lands on the last token of that step, the separator TRL appends."""
    from transformers import AutoTokenizer

    runs = [
        do_import(project, shared_data / "processbench" / "gsm8k.jsonl", "processbench").run,
        do_import(project, shared_data / "prm800k" / "phase1_train.examples.jsonl", "prm800k").run,
    ]
    policy = LabelPolicy(sources="import:processbench", after_error="cut")
    out = tmp_path / "export"
    write_export(Trace.objects.filter(run=runs[0]), fmt, policy, out / "pb", options={"step_separator": SEPARATOR})
    prm = LabelPolicy(sources="import:prm800k")
    write_export(Trace.objects.filter(run=runs[1]), fmt, prm, out / "prm", options={"step_separator": SEPARATOR})
    examples = []
    for part in ("pb", "prm"):
        data_file = out / part / f"train.{'jsonl' if kind == 'json' else 'parquet'}"
        result = train(trl_python, model_dir, data_file, kind, tmp_path / f"trainer-{part}")
        assert isinstance(result["loss"], float) and result["loss"] > 0
        examples += list(zip(_exported(data_file, kind), result["rows"], strict=True))  # type: ignore[call-overload]

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    separator_ids = tokenizer.encode(SEPARATOR, add_special_tokens=False)
    assert any(len(example["completions"]) == 6 for example, _ in examples[-3:])  # PRM800K record 1, uncut
    for example, row in examples:
        labelled = [(i, label) for i, label in enumerate(row["labels"]) if label != -100]
        assert [label for _, label in labelled] == [int(flag) for flag in example["labels"]]
        # Each label sits on the separator's last token, right after its step: never on a doubled one.
        for i, _ in labelled:
            assert row["input_ids"][i - len(separator_ids) + 1 : i + 1] == separator_ids
        assert not tokenizer.decode(row["input_ids"]).count(SEPARATOR * 2)


def _exported(data_file: Path, kind: str) -> list[dict[str, object]]:
    if kind == "json":
        return [json.loads(line) for line in data_file.read_text(encoding="utf-8").splitlines()]
    import pyarrow.parquet as pq

    return pq.read_table(data_file).to_pylist()
