"""Score every step of traces with a process reward model, in batches (docs/concepts.md §5.3).

A PRM folder is read by one of the two conventions of ``traces.analysis.prm_inputs``:

* ``token_classification``: ``AutoModelForTokenClassification``; a step's score is the softmax
  probability of class 1 ("right") at the separator that ends it.
* ``step_tag``: ``AutoModelForCausalLM`` (Math-Shepherd style); a step's score is the probability
  of the positive token against the negative one (a softmax over those two logits) at its tag.

Traces are sorted by length and cut into batches of ``batch_size`` so padding stays small; padding
is on the right, so every scored position is where the layout put it. A worker keeps each model it
loaded (:func:`prm_for`), as it keeps generation backends.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see workers.backends.transformers

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoModelForTokenClassification, AutoTokenizer  # noqa: E402

from traces.actions.prm_scorers import Scorer  # noqa: E402
from traces.analysis.prm_inputs import POSITIVE_CLASS, STEP_TAG, StepInput, step_input  # noqa: E402
from traces.backends import BackendUnavailable  # noqa: E402

#: (prompt, step texts) of one trace.
Item = tuple[str, Sequence[str]]


class PrmModel:
    """A loaded PRM: builds each trace's input by its layout and reads a score per step."""

    def __init__(self, scorer: Scorer) -> None:
        folder = Path(scorer.path)
        if not (folder / "config.json").is_file():
            raise BackendUnavailable(f"scorer '{scorer.name}': no model folder on this worker (config.json missing)")
        if scorer.device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"scorer '{scorer.name}' is declared on device 'cuda', but this worker has no GPU")
        self.scorer = scorer
        self.version = scorer.version or hashlib.sha256((folder / "config.json").read_bytes()).hexdigest()[:12]
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        loader = AutoModelForCausalLM if scorer.layout.convention == STEP_TAG else AutoModelForTokenClassification
        # transformers' decorator on PreTrainedModel.to types it as the unbound function (self first).
        self.model = loader.from_pretrained(folder, dtype=torch.float32).to(scorer.device).eval()  # type: ignore[arg-type]
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self.answer_ids = [self._token(scorer.positive), self._token(scorer.negative)]

    def _token(self, text: str) -> int:
        """The token a step-tag PRM answers with (the last of ``text``'s tokens)."""
        return self.tokenizer.encode(text, add_special_tokens=False)[-1]

    def inputs(self, items: Sequence[Item]) -> list[StepInput]:
        """Each trace's token ids and scored positions (the layout of ``traces.analysis.prm_inputs``)."""
        encode = lambda text: self.tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
        return [
            step_input(
                encode,
                self.scorer.layout,
                prompt,
                steps,
                bos_token_id=self.tokenizer.bos_token_id,
                max_length=self.scorer.max_length,
            )
            for prompt, steps in items
        ]

    def score(self, items: Sequence[Item], on_batch: Callable[[int], None] | None = None) -> list[list[float | None]]:
        """A score in [0, 1] per step of each item (None for a step cut at ``max_length``)."""
        return self.score_inputs(self.inputs(items), on_batch)

    @torch.inference_mode()
    def score_inputs(
        self, inputs: Sequence[StepInput], on_batch: Callable[[int], None] | None = None
    ) -> list[list[float | None]]:
        """The model calls on prepared inputs, longest first in batches of ``batch_size``;
        ``on_batch(items)`` after each batch."""
        order = sorted(range(len(inputs)), key=lambda i: -len(inputs[i].input_ids))
        scores: list[list[float | None]] = [[] for _ in inputs]
        size = self.scorer.batch_size
        for start in range(0, len(order), size):
            batch = [inputs[i] for i in order[start : start + size]]
            for i, row in zip(order[start : start + size], self._forward(batch), strict=True):
                scores[i] = row
            if on_batch is not None:
                on_batch(len(batch))
        return scores

    def _forward(self, batch: Sequence[StepInput]) -> list[list[float | None]]:
        longest = max(len(item.input_ids) for item in batch)
        ids = torch.full((len(batch), longest), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), longest), dtype=torch.long)
        for row, item in enumerate(batch):
            ids[row, : len(item.input_ids)] = torch.tensor(item.input_ids)
            mask[row, : len(item.input_ids)] = 1
        logits = self.model(input_ids=ids.to(self.scorer.device), attention_mask=mask.to(self.scorer.device)).logits
        if self.scorer.layout.convention == STEP_TAG:
            chances = logits[..., self.answer_ids].float().softmax(dim=-1)[..., 0]
        else:
            chances = logits.float().softmax(dim=-1)[..., POSITIVE_CLASS]
        chances = chances.cpu()
        return [
            [None if position is None else float(chances[row, position]) for position in item.positions]
            for row, item in enumerate(batch)
        ]


_LOADED: dict[Scorer, PrmModel] = {}


def prm_for(scorer: Scorer) -> PrmModel:
    """The loaded model of ``scorer``, loaded on first use and kept for this process's lifetime."""
    if scorer not in _LOADED:
        _LOADED[scorer] = PrmModel(scorer)
    return _LOADED[scorer]
