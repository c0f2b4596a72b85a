"""Train a token-classification PRM with transformers' ``Trainer`` (docs/concepts.md §5.2).

What TRL's ``PRMTrainer`` did before TRL removed it after 1.13.0: ``AutoModelForTokenClassification``
with two classes on top of a language model; each example is a prompt and its steps, every step
followed by the separator, and the loss is taken at the separators alone (``IGNORED`` elsewhere:
``traces.analysis.prm_inputs``). The rest is ``Trainer`` as it comes: AdamW, a linear learning-rate
decay, one loss per step reported to :class:`Watch`, which also stops training when the job is
cancelled.

``trainable_layers`` > 0 trains the classification head, the final norm and the top that many
transformer blocks and freezes the rest (every parameter at 0): on the CPU a full backward pass
through SmolLM2-135M's 30 blocks costs about three forward passes, the top blocks a fraction.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see workers.backends.transformers

import torch  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForTokenClassification,
    AutoTokenizer,
    DataCollatorForTokenClassification,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PrinterCallback,
    Trainer,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
    set_seed,
)

from traces.actions.prm_training import Example, TrainingRequest  # noqa: E402
from traces.analysis.prm_inputs import NEGATIVE_CLASS, POSITIVE_CLASS, Layout, step_input  # noqa: E402


@dataclass(frozen=True)
class TrainingOutcome:
    """What a training did: optimizer steps, how long they took, the last loss, whether it was
    stopped, and the labelled positions it trained on (``cut``: those past ``max_length``)."""

    steps: int
    seconds: float
    cpu_seconds: float  # of this process (all its threads): what the loop cost, whatever else shares the machine
    final_loss: float | None
    stopped: bool
    positions: int
    cut: int

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds else 0.0


class Watch(TrainerCallback):
    """Reports each logged loss and stops the training when ``should_stop()`` says so."""

    def __init__(self, on_loss: Callable[[int, float], None], should_stop: Callable[[], bool]) -> None:
        self.on_loss = on_loss
        self.should_stop = should_stop
        self.stopped = False

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        if logs and "loss" in logs:
            self.on_loss(state.global_step, float(logs["loss"]))

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        if self.should_stop():
            self.stopped = True
            control.should_training_stop = True


def load_base(request: TrainingRequest) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The base model with a fresh two-class head (seeded), frozen below its top blocks, and its tokenizer."""
    if request.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("the base model's endpoint declares device 'cuda', but this worker has no GPU")
    set_seed(request.spec.seed)
    tokenizer = AutoTokenizer.from_pretrained(request.base_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForTokenClassification.from_pretrained(
        request.base_dir,
        num_labels=2,
        id2label={NEGATIVE_CLASS: "wrong", POSITIVE_CLASS: "right"},
        label2id={"wrong": NEGATIVE_CLASS, "right": POSITIVE_CLASS},
        dtype=torch.float32,
    )
    model.config.pad_token_id = tokenizer.pad_token_id
    if request.spec.trainable_layers:
        freeze_below(model, request.spec.trainable_layers)
    return model, tokenizer


def freeze_below(model: PreTrainedModel, trainable_layers: int) -> None:
    """Freeze every parameter but the head's, the final norm's and the top ``trainable_layers``
    blocks' (the base model's longest ``ModuleList`` is its stack of blocks)."""
    base = model.base_model
    blocks = max((m for m in base.modules() if isinstance(m, torch.nn.ModuleList)), key=len, default=None)
    if blocks is None:
        raise ValueError(f"{type(model).__name__} has no stack of blocks to freeze below")
    model.requires_grad_(False)
    for block in list(blocks)[-trainable_layers:]:
        block.requires_grad_(True)
    for name, module in base.named_children():
        if "norm" in name:
            module.requires_grad_(True)
    in_base = {id(parameter) for parameter in base.parameters()}
    for parameter in model.parameters():
        if id(parameter) not in in_base:  # the classification head
            parameter.requires_grad_(True)


def encode(
    tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example], layout: Layout, max_length: int
) -> tuple[list[dict[str, list[int]]], int, int]:
    """The examples as ``input_ids``/``labels`` rows, with how many labelled positions they hold
    and how many were cut at ``max_length``."""
    rows, positions, cut = [], 0, 0
    for example in examples:
        inputs = step_input(
            lambda text: tokenizer.encode(text, add_special_tokens=False),
            layout,
            example.prompt,
            example.steps,
            bos_token_id=tokenizer.bos_token_id,
            max_length=max_length,
        )
        kept = sum(position is not None for position in inputs.positions)
        positions += kept
        cut += len(inputs.positions) - kept
        if kept:
            rows.append({"input_ids": inputs.input_ids, "labels": inputs.labels(example.labels)})
    return rows, positions, cut


def build_trainer(
    request: TrainingRequest,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    rows: list[dict[str, list[int]]],
    callbacks: Sequence[TrainerCallback] = (),
) -> Trainer:
    """``Trainer`` over ``rows`` with the job's hyperparameters: a loss logged every step, nothing
    saved or reported elsewhere (the job saves the model itself)."""
    spec = request.spec
    args = TrainingArguments(
        output_dir=str(request.out_dir / ".trainer"),
        max_steps=spec.max_steps,
        per_device_train_batch_size=spec.batch_size,
        learning_rate=spec.learning_rate,
        lr_scheduler_type="linear",
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=request.device == "cpu",
        bf16=request.device == "cuda" and torch.cuda.is_bf16_supported(),
        seed=spec.seed,
        data_seed=spec.seed,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    collator = DataCollatorForTokenClassification(tokenizer, label_pad_token_id=-100)
    trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=collator, callbacks=list(callbacks))
    trainer.remove_callback(PrinterCallback)  # the losses go to the run (Watch), not to the worker's stdout
    return trainer


def train_rows(request: TrainingRequest) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, list[dict[str, list[int]]], int, int]:
    """The base model, its tokenizer and the request's examples as rows (:func:`encode`)."""
    model, tokenizer = load_base(request)
    layout = Layout.token_classification(request.spec.separator)
    rows, positions, cut = encode(tokenizer, request.examples, layout, request.spec.max_length)
    if not rows:
        raise ValueError(f"no labelled step fits in {request.spec.max_length} tokens: raise max_length")
    return model, tokenizer, rows, positions, cut


def train_prm(
    request: TrainingRequest, on_loss: Callable[[int, float], None], should_stop: Callable[[], bool]
) -> TrainingOutcome:
    """Train on the request's examples and save the model and its tokenizer into ``request.out_dir``
    (unless stopped)."""
    model, tokenizer, rows, positions, cut = train_rows(request)
    watch = Watch(on_loss, should_stop)
    trainer = build_trainer(request, model, tokenizer, rows, callbacks=[watch])
    started, cpu = time.perf_counter(), time.process_time()
    result = trainer.train()
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    if not watch.stopped:
        trainer.save_model(str(request.out_dir))
        tokenizer.save_pretrained(str(request.out_dir))
    return TrainingOutcome(
        steps=result.global_step,
        seconds=seconds,
        cpu_seconds=cpu_seconds,
        final_loss=float(losses[-1]) if losses else None,
        stopped=watch.stopped,
        positions=positions,
        cut=cut,
    )
