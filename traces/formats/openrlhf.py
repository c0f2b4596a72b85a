"""OpenRLHF process-reward data (docs/concepts.md §2, "Exports"): written, never read.

OpenRLHF trained PRMs with ``openrlhf.cli.train_prm`` on ``ProcessRewardDataset`` until its
0.9.5 release (later releases dropped both). A record is Math-Shepherd's layout with its step tag
replaced by a placeholder token and its labels given as a list of reward tokens::

    {"input": "<problem> Step 1: … ки\\nStep 2: … ки", "label": ["+", "-"]}

The dataset tokenizes ``input``, finds every placeholder token and puts the token id of the
matching ``label`` entry there; every other position is ignored. So the keys are OpenRLHF's
defaults (``--input_key input --label_key label``) and the options are the flags it is run with:

* ``placeholder_token`` (default ``ки``, as ``--placeholder_token ки``): must be one token of the
  model's tokenizer where it stands (after a space);
* ``positive_token`` / ``negative_token`` (default ``+`` / ``-``, as ``--reward_tokens + -``, the
  positive one first).

Steps are those of the Math-Shepherd export (``traces.formats.math_shepherd``): the labelled
prefix under the policy, numbered ``"Step k: "`` after removing a numbering of their own. A trace
whose problem or steps hold the placeholder itself is skipped: the dataset would count one
label too many.
"""

from __future__ import annotations

from typing import Any

from traces.exports.policy import LabelPolicy
from traces.exports.records import (
    ExportFormat,
    ExportTrace,
    FormatOption,
    RenderSettings,
    SkipTrace,
    labelled_prefix_or_skip,
)
from traces.formats.math_shepherd import tagged_solution

NAME = "openrlhf"

PLACEHOLDER_OPTION = FormatOption(
    "placeholder_token", "ки", "the token that ends each step, as OpenRLHF's --placeholder_token", blank_ok=False
)
POSITIVE_OPTION = FormatOption(
    "positive_token", "+", "the label of a correct step, first of --reward_tokens", blank_ok=False
)
NEGATIVE_OPTION = FormatOption(
    "negative_token", "-", "the label of a wrong step, second of --reward_tokens", blank_ok=False
)
PLACEHOLDER_IN_TEXT = "the placeholder token occurs in the problem or a step"


def render_openrlhf_record(trace: ExportTrace, policy: LabelPolicy, settings: RenderSettings) -> dict[str, Any]:
    """``{input, label}`` of the labelled prefix (module docstring)."""
    placeholder = settings.value(PLACEHOLDER_OPTION)
    steps = labelled_prefix_or_skip(trace, policy)
    tagged = tagged_solution(trace, steps, f" {placeholder}")
    if tagged["input"].count(placeholder) != len(steps):
        raise SkipTrace(PLACEHOLDER_IN_TEXT)
    rewards = {True: settings.value(POSITIVE_OPTION), False: settings.value(NEGATIVE_OPTION)}
    return {"input": tagged["input"], "label": [rewards[bool(step.label)] for step in steps]}


EXPORTS = (
    ExportFormat(
        NAME,
        render_openrlhf_record,
        "jsonl",
        "OpenRLHF PRM data (<= 0.9.5 train_prm): input with a placeholder token per step, reward tokens",
        fields=("input", "label"),
        options=(PLACEHOLDER_OPTION, POSITIVE_OPTION, NEGATIVE_OPTION),
    ),
)
