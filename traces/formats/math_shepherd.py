"""Math-Shepherd reader and writer (docs/concepts.md §2, "Math-Shepherd"; peiyi9979/Math-Shepherd).

A line is ``{"input": str, "label": str, "task": str}``:

* ``input`` is the problem, then the solution: steps ``"Step k: …"``, each ending with the step
  tag ``" ки"`` (space, Cyrillic ``ки``), separated by ``"\\n"``;
* ``label`` is the same text with each tag's ``ки`` replaced by ``+`` or ``-`` (the Math-Shepherd
  hard Monte-Carlo label of that step: ``+`` some rollout from it reaches the right answer);
* ``task`` names the source set (``GSM8K``, ``MATH``).

Rules (decisions, docs/concepts.md §2 is silent):

* **Problem/solution split**: at the *first* occurrence of ``"Step 1:"`` in ``input`` (a line
  without one is a FormatError on ``input``). The prompt is the text before it with trailing
  whitespace removed; that whitespace (``" "`` in the real data) is kept in
  ``meta["problem_separator"]``. A problem that itself contains ``"Step 1:"`` is therefore
  mis-split; none is known in Math-Shepherd.
* **Steps**: a tag is ``" ки"`` immediately followed by ``"\\n"`` or the end of ``input``; each
  step is the text up to its tag (without the tag), and the ``"\\n"`` after a tag separates it
  from the next step (so a step may itself contain a newline). The solution must end with a
  tag. The step text keeps its ``"Step k: "`` prefix, so the steps joined by ``"\\n"`` are the
  solution verbatim without tags.
* **Labels**: ``+`` → +1, ``-`` → −1 (stored under ``import:math_shepherd``). ``label`` must be
  ``input`` with exactly each tag replaced, otherwise a FormatError on ``label`` names the step
  where they differ.
* ``source`` is ``task.lower()`` (``task`` kept verbatim in ``meta["task"]``); ``model_name`` is
  ``"math-shepherd-generator"`` (the file does not say which generator wrote a solution);
  there is no reference answer. ``is_correct`` is the last step's label (its Monte-Carlo
  estimate is the final answer's own correctness); ``first_error`` is the first step labeled −1,
  else −1.

``render_math_shepherd`` is the exporter's half: from the prompt, the step texts, their labels and
the ``meta`` the reader kept it rebuilds ``input`` and ``label`` byte for byte.

The export (``EXPORTS``: ``math_shepherd``) writes the labelled prefix of each trace under the
policy. Traces imported from Math-Shepherd keep their own step text, tag and problem separator
(byte-exact round trip); other traces get ``"Step k: "`` before each step, k its position, and
``task`` is their problem's source in upper case. A step that already opens with a numbering of
its own (``"Step 3:"``, ``"step 3."``, ``"### Step 3:"``, ``"**Step 3:**"`` as Qwen and Llama models
write in ProcessBench, or ``"3."``, ``"3)"`` as enumerated solutions do) has it removed first, so no step reads ``"Step 2: Step 1: …"``: the consumers split a
solution at ``"Step 1:"`` (TRL's Math-Shepherd converter, openr's preprocessor) and refuse or drop
a line where it occurs twice. For the same reason a trace whose problem or steps still hold
``"Step 1:"`` after renumbering is skipped, under its own reason.
"""

from __future__ import annotations

import re
from typing import Any

from traces.exports.policy import LabelPolicy, PolicyStep
from traces.exports.records import ExportFormat, ExportTrace, RenderSettings, SkipTrace, labelled_prefix_or_skip, signs
from traces.formats.base import FormatError, ParsedStep, ParsedTrace, extra_fields, require_str

NAME = "math_shepherd"
#: What the format is, in one line (the import page's format choice).
DESCRIPTION = "Math-Shepherd: problem and steps tagged ки, with +/− labels per step"
LABEL_SOURCE = "import:math_shepherd"
STEP_SEPARATOR = "\n"
FIRST_STEP = "Step 1:"
STEP_TAG = " ки"
LABEL_MARKS = {1: " +", -1: " -"}
DEFAULT_PROBLEM_SEPARATOR = " "
MODEL_NAME = "math-shepherd-generator"

_TAG = re.compile(re.escape(STEP_TAG) + r"(?=\n|\Z)")
_MARK_VALUES = {mark: value for value, mark in LABEL_MARKS.items()}
_KNOWN = frozenset({"input", "label", "task"})


def split_solution(solution: str, line_no: int) -> list[tuple[int, int]]:
    """Character spans ``(start, tag_start)`` of each step of ``solution`` (module docstring rules)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _TAG.finditer(solution):
        spans.append((start, match.start()))
        start = match.end() + 1  # past the "\n" that follows a non-final tag
    if not spans or spans[-1][1] + len(STEP_TAG) != len(solution):
        raise FormatError(
            f"the solution must end with the step tag {STEP_TAG!r} (step {len(spans) + 1} has none)",
            line_no=line_no,
            field="input",
        )
    return spans


def _first_difference(expected: str, actual: str) -> int:
    for i, (a, b) in enumerate(zip(expected, actual)):
        if a != b:
            return i
    return min(len(expected), len(actual))


def read_labels(input_text: str, label_text: str, solution_start: int, cuts: list[int], line_no: int) -> list[int]:
    """Check ``label`` is ``input`` with each tag (at offsets ``cuts``) replaced; return the labels."""
    labels: list[int] = []
    in_pos = 0
    out_pos = 0
    for k, tag_start in enumerate(cuts):
        segment = input_text[in_pos:tag_start]
        if not label_text.startswith(segment, out_pos):
            offset = _first_difference(segment, label_text[out_pos : out_pos + len(segment)])
            where = "in the problem text" if k == 0 and offset < solution_start else f"at step {k + 1}"
            raise FormatError(f"differs from input {where}", line_no=line_no, field="label")
        out_pos += len(segment)
        mark = label_text[out_pos : out_pos + 2]
        if mark not in _MARK_VALUES:
            raise FormatError(
                f"at step {k + 1}: expected ' +' or ' -' where input has the tag, got {mark!r}",
                line_no=line_no,
                field="label",
            )
        labels.append(_MARK_VALUES[mark])
        out_pos += 2
        in_pos = tag_start + len(STEP_TAG)
    if out_pos != len(label_text):
        raise FormatError(
            f"has {len(label_text) - out_pos} characters after the last step's label", line_no=line_no, field="label"
        )
    return labels


def parse_record(record: dict[str, Any], line_no: int) -> list[ParsedTrace]:
    """Read one Math-Shepherd line (docs/concepts.md §2) into one trace with ±1 step labels."""
    input_text = require_str(record, "input", line_no)
    label_text = require_str(record, "label", line_no)
    task = require_str(record, "task", line_no)

    solution_start = input_text.find(FIRST_STEP)
    if solution_start < 0:
        raise FormatError(f"no {FIRST_STEP!r}: cannot split the problem from the solution", line_no=line_no, field="input")
    problem_part = input_text[:solution_start]
    prompt = problem_part.rstrip()
    if not prompt.strip():
        raise FormatError(f"empty problem before {FIRST_STEP!r}", line_no=line_no, field="input")

    solution = input_text[solution_start:]
    spans = split_solution(solution, line_no)
    step_texts = [solution[start:end] for start, end in spans]
    labels = read_labels(input_text, label_text, solution_start, [solution_start + end for _, end in spans], line_no)

    meta: dict[str, Any] = {
        "task": task,
        "problem_separator": problem_part[len(prompt) :],
        "step_tag": STEP_TAG,
    }
    if extra := extra_fields(record, _KNOWN):
        meta["extra_fields"] = extra
    steps = [ParsedStep(text=text, label=label) for text, label in zip(step_texts, labels)]
    return [
        ParsedTrace(
            line_no=line_no,
            prompt=prompt,
            text=STEP_SEPARATOR.join(step_texts),
            model_name=MODEL_NAME,
            source=task.lower(),
            steps=steps,
            step_separator=STEP_SEPARATOR,
            first_error=next((i for i, label in enumerate(labels) if label == -1), -1),
            is_correct=labels[-1] == 1,
            label_source=LABEL_SOURCE,
            meta=meta,
        )
    ]


def render_math_shepherd(prompt: str, step_texts: list[str], labels: list[int | None], meta: dict[str, Any]) -> dict[str, str]:
    """A Math-Shepherd line ``{"input", "label", "task"}`` from a trace's steps (docs/concepts.md §2 export).

    ``meta`` is what ``parse_record`` kept (``problem_separator``, ``step_tag``, ``task``; the
    defaults are ``" "``, ``" ки"`` and ``""``). Every label must be +1 or −1: the export's label
    policy (how 0 and unrated steps map, truncation after the first error) is applied before.
    Raises ValueError otherwise, or when there are no steps or the counts differ.
    """
    if not step_texts:
        raise ValueError("a Math-Shepherd line needs at least one step")
    if len(step_texts) != len(labels):
        raise ValueError(f"{len(step_texts)} steps but {len(labels)} labels")
    marks = []
    for i, label in enumerate(labels):
        if isinstance(label, bool) or label not in LABEL_MARKS:
            raise ValueError(f"step {i}: Math-Shepherd labels are +1 or -1, got {label!r}")
        marks.append(LABEL_MARKS[label])
    head = prompt + str(meta.get("problem_separator", DEFAULT_PROBLEM_SEPARATOR))
    tag = str(meta.get("step_tag", STEP_TAG))
    return {
        "input": head + STEP_SEPARATOR.join(text + tag for text in step_texts),
        "label": head + STEP_SEPARATOR.join(text + mark for text, mark in zip(step_texts, marks)),
        "task": str(meta.get("task", "")),
    }


#: A numbering a step opens with: "Step 3:" or "step 3." (any case), "3." or "3)", possibly as a
#: Markdown heading ("### Step 3:") or in bold ("**Step 3:**"), then blanks.
_NUMBER = r"(?:step\s*\d+\s*[:.]|\d+\s*[.)](?=\s|\*\*))"
_OWN_NUMBERING = re.compile(rf"\A\s*(?:#{{1,6}}\s*)?(?:\*\*{_NUMBER}\*\*|{_NUMBER})\s*", re.IGNORECASE)
SPLIT_MARKER_TWICE = f"{FIRST_STEP!r} in the problem or a step's text (Math-Shepherd readers split there)"


def numbered_steps(texts: list[str]) -> list[str]:
    """Math-Shepherd step text for steps that lack it: ``"Step k: "`` before each step, k its
    position, after removing a numbering the step opens with (module docstring)."""
    return [f"Step {k}: {_OWN_NUMBERING.sub('', text, count=1).strip()}" for k, text in enumerate(texts, start=1)]


def tagged_solution(trace: ExportTrace, steps: list[PolicyStep], tag: str = STEP_TAG) -> dict[str, str]:
    """``{input, label, task}`` of ``steps`` of ``trace``, each step ending with ``tag`` (module
    docstring: a trace imported from Math-Shepherd keeps its own text, others are renumbered);
    SkipTrace when "Step 1:" would occur twice."""
    texts = [trace.steps[step.position].text for step in steps]
    if trace.source_format == NAME:
        return render_math_shepherd(trace.prompt, texts, signs(steps), {**trace.meta, "step_tag": tag})
    meta = {"task": trace.problem_source.upper(), "step_tag": tag}
    record = render_math_shepherd(trace.prompt, numbered_steps(texts), signs(steps), meta)
    if record["input"].count(FIRST_STEP) != 1:
        raise SkipTrace(SPLIT_MARKER_TWICE)
    return record


def render_math_shepherd_record(trace: ExportTrace, policy: LabelPolicy, settings: RenderSettings) -> dict[str, Any]:
    """Math-Shepherd ``{input, label, task}`` of the labelled prefix (module docstring)."""
    tag = str(trace.meta.get("step_tag", STEP_TAG)) if trace.source_format == NAME else STEP_TAG
    return tagged_solution(trace, labelled_prefix_or_skip(trace, policy), tag)


EXPORTS = (
    ExportFormat(
        NAME,
        render_math_shepherd_record,
        "jsonl",
        "Math-Shepherd JSONL (step tags and +/- labels)",
        fields=("input", "label", "task"),
    ),
)
