"""Step labels as a token-classification dataset without token ids (docs/concepts.md §2, "Exports").

Written, never read. One record per trace, independent of any tokenizer::

    {"text": str, "step_spans": [[start, end], ...], "labels": [1 | 0 | null, ...]}

``text`` is the problem, a blank line, then the steps joined by blank lines, each step stripped of
surrounding whitespace; ``step_spans[k]`` is step k's character span in ``text`` (end exclusive);
``labels[k]`` is 1 (correct) or 0 (wrong) under the label policy, null when no source labelled it.
Every step the policy keeps is there (neutral steps may be dropped, steps after the first error
cut), so unlabelled steps stay as context.

Training a token classifier (``AutoModelForTokenClassification``, as PRMs are trained) takes one
pass with any fast tokenizer: tokenize ``text`` with ``return_offsets_mapping=True``, give the
token that covers the last character of each step (``end - 1``) that step's label, and every
other token -100 (ignored), nulls included. That is where TRL's and OpenRLHF's PRM trainers put
the label too: on the step's last token.
"""

from __future__ import annotations

from typing import Any

from traces.exports.policy import LabelPolicy
from traces.exports.records import NO_LABELLED_STEP, ExportFormat, ExportTrace, RenderSettings, SkipTrace, policy_steps

NAME = "token_classification"
SEPARATOR = "\n\n"
BLANK_STEP = "a step is blank (no last character to label)"


def render_token_classification_record(
    trace: ExportTrace, policy: LabelPolicy, settings: RenderSettings
) -> dict[str, Any]:
    """``{text, step_spans, labels}`` of every step the policy keeps (module docstring)."""
    steps = policy_steps(trace, policy)
    if all(step.label is None for step in steps):
        raise SkipTrace(NO_LABELLED_STEP)
    text = trace.prompt.strip()
    spans: list[list[int]] = []
    for step in steps:
        text += SEPARATOR
        step_text = trace.steps[step.position].text.strip()
        if not step_text:
            raise SkipTrace(BLANK_STEP)
        spans.append([len(text), len(text) + len(step_text)])
        text += step_text
    labels = [None if step.label is None else int(step.label) for step in steps]
    return {"text": text, "step_spans": spans, "labels": labels}


EXPORTS = (
    ExportFormat(
        NAME,
        render_token_classification_record,
        "jsonl",
        "token classification without token ids: text, each step's character span and 1/0 label",
        fields=("text", "step_spans", "labels"),
    ),
)
