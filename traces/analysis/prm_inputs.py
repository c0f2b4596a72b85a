"""How a process reward model reads a trace: the token layout of its steps (docs/concepts.md §5.1).

Pure: a tokenizer's ``encode`` (text → token ids, no special tokens) in, token ids and the position
of each step's score out. Training and scoring both build their inputs here, so a trained PRM is
scored on exactly the layout it learnt.

Two conventions (``CONVENTIONS``):

* ``token_classification`` — the layout of TRL's ``PRMTrainer`` (TRL ≤ 1.13): the beginning-of-text
  token when the tokenizer has one, the prompt, then each step followed by the step separator
  (``"\\n"`` by default); a step's score is read at its separator's last token, and in training
  that is the only labelled position (−100 everywhere else, so no loss is taken there).
* ``step_tag`` — Math-Shepherd-style PRMs, causal language models that answer a tag with ``+`` or
  ``-``: the prompt and a space, then each step followed by a space and the tag (``ки``), steps
  joined by a newline; a step's score is read at its tag's last token.

Each piece is tokenized on its own, so a score's position is known exactly, never searched for. A
sequence longer than ``max_length`` is cut; the steps whose scoring position falls past the cut
get no position (None), and so no score.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

TOKEN_CLASSIFICATION = "token_classification"
STEP_TAG = "step_tag"
CONVENTIONS = (TOKEN_CLASSIFICATION, STEP_TAG)

#: TRL's default step separator (``PRMConfig.step_separator``), also thinkscope's TRL export's.
DEFAULT_SEPARATOR = "\n"
#: Math-Shepherd's step tag and its answers.
DEFAULT_STEP_TAG = "ки"
DEFAULT_POSITIVE, DEFAULT_NEGATIVE = "+", "-"
#: Label ids of a token-classification PRM: class 1 is "this step is right".
NEGATIVE_CLASS, POSITIVE_CLASS = 0, 1
#: What a position carries when it takes no loss (PyTorch's cross-entropy ``ignore_index``).
IGNORED = -100

Encode = Callable[[str], list[int]]


@dataclass(frozen=True)
class Layout:
    """Where a PRM's steps and scores go: what follows each step (``marker``, whose last token is
    scored), what joins the prompt to the first step and each step to the next."""

    convention: str
    marker: str
    after_prompt: str = ""
    between_steps: str = ""

    @classmethod
    def token_classification(cls, separator: str = DEFAULT_SEPARATOR) -> Layout:
        if not separator:
            raise ValueError("the step separator must not be empty")
        return cls(TOKEN_CLASSIFICATION, separator)

    @classmethod
    def step_tag(cls, tag: str = DEFAULT_STEP_TAG) -> Layout:
        if not tag.strip():
            raise ValueError("the step tag must not be empty")
        return cls(STEP_TAG, f" {tag}", after_prompt=" ", between_steps="\n")


@dataclass(frozen=True)
class StepInput:
    """A trace as the PRM reads it: its token ids and, per step, the scored position (None when cut)."""

    input_ids: list[int]
    positions: list[int | None]

    def labels(self, values: Sequence[bool]) -> list[int]:
        """Training labels: the step's class at its position, ``IGNORED`` everywhere else."""
        if len(values) != len(self.positions):
            raise ValueError(f"{len(values)} labels for {len(self.positions)} steps")
        labels = [IGNORED] * len(self.input_ids)
        for position, value in zip(self.positions, values, strict=True):
            if position is not None:
                labels[position] = POSITIVE_CLASS if value else NEGATIVE_CLASS
        return labels


def step_input(
    encode: Encode,
    layout: Layout,
    prompt: str,
    steps: Sequence[str],
    *,
    bos_token_id: int | None = None,
    max_length: int | None = None,
) -> StepInput:
    """The token ids of ``prompt`` and ``steps`` under ``layout`` and each step's scored position
    (module docstring); ``bos_token_id`` starts the sequence (token classification only)."""
    if max_length is not None and max_length < 1:
        raise ValueError(f"max_length must be at least 1, got {max_length}")
    ids: list[int] = []
    if bos_token_id is not None and layout.convention == TOKEN_CLASSIFICATION:
        ids.append(bos_token_id)
    ids += encode(prompt + layout.after_prompt)
    positions: list[int | None] = []
    for index, step in enumerate(steps):
        if index and layout.between_steps:
            ids += encode(layout.between_steps)
        ids += encode(step + layout.marker)
        positions.append(len(ids) - 1)
    if max_length is not None and len(ids) > max_length:
        ids = ids[:max_length]
        positions = [position if position is not None and position < max_length else None for position in positions]
    return StepInput(ids, positions)
