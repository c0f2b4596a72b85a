"""Turn one parsed completion into the fields of a stored trace (docs/concepts.md §1 Trace, §3.1, §3.2).

Pure: no ORM. ``build_trace_fields`` decides the raw text, the think/answer spans, the steps, the
token counts, the extracted answers and the correctness verdict; ``traces.actions.store`` writes
what it returns.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from traces.analysis.answers import canonical_answer_type, extract_answer, grade, infer_answer_type
from traces.analysis.segmentation import choose_segmenter, segment
from traces.analysis.think import ThinkSplit, has_separate_reasoning, split_format, split_think
from traces.analysis.tokens import token_offsets_from_starts, token_starts, tokens_in
from traces.formats.base import ParsedTrace

#: Separates a separate ``reasoning_content`` from the answer inside the stored raw text.
REASONING_SEPARATOR = "\n\n"

_NOT_SPACE = re.compile(r"\S")


@dataclass(frozen=True)
class BuiltStep:
    index: int
    char_start: int
    char_end: int
    token_start: int
    token_end: int
    part: str  # "think" | "answer"
    label: int | None = None
    flagged: bool | None = None
    alternatives: dict[str, Any] | list[dict[str, Any]] = field(default_factory=list)  # ParsedStep's
    human_written: bool = False


@dataclass(frozen=True)
class BuiltTrace:
    raw_text: str
    think_start: int
    think_end: int
    answer_start: int
    answer_end: int
    think_closed: bool
    think_tokens: int
    answer_tokens: int
    tokens_exact: bool
    final_answer: str
    think_answer: str
    is_correct: bool | None
    grading_method: str
    segmenter: str
    steps: list[BuiltStep]


def problem_hash(prompt: str, answer: str) -> str:
    """Content hash of a problem: the same prompt and reference answer is the same problem."""
    return hashlib.sha256(json.dumps([prompt, answer], ensure_ascii=False).encode()).hexdigest()


def trace_hash(parsed: ParsedTrace) -> str:
    """Content hash of an imported or generated trace: re-importing a file finds the same hashes.

    It covers everything a line says (text, steps, labels, metadata), so the same completion
    labelled by two different people stays two traces.
    """
    steps = [(s.text, s.label, s.flagged) for s in parsed.steps] if parsed.steps is not None else None
    payload = [
        parsed.prompt,
        parsed.reference_answer,
        parsed.model_name,
        parsed.text,
        parsed.reasoning_content,
        steps,
        parsed.first_error,
        parsed.meta,
        parsed.sample_index,
    ]
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str).encode()).hexdigest()


def separate_reasoning(parsed: ParsedTrace) -> bool:
    """Whether the trace's thinking came apart from its completion (``think.has_separate_reasoning``):
    then it is the think part whatever the model's format, which says how to read a completion that
    holds its thinking inline (docs/concepts.md §1)."""
    return parsed.steps is None and has_separate_reasoning(parsed.text, parsed.reasoning_content)


def compose_raw_text(parsed: ParsedTrace) -> str:
    """The stored raw text: the file's steps joined, or the completion (after its separate
    reasoning_content; an empty one, or a copy of the completion's own thinking, adds nothing)."""
    if parsed.steps is not None:
        return parsed.step_separator.join(step.text for step in parsed.steps)
    if separate_reasoning(parsed):
        return f"{parsed.reasoning_content}{REASONING_SEPARATOR}{parsed.text}"
    return parsed.text


def think_split(parsed: ParsedTrace, raw_text: str) -> ThinkSplit:
    """The think and answer spans of the raw text, read with the trace's think format (which an
    import decides once per model, ``traces.actions.imports``; ``auto`` reads the text alone)."""
    if separate_reasoning(parsed):
        think_end = len(parsed.reasoning_content or "")
        return ThinkSplit(0, think_end, think_end + len(REASONING_SEPARATOR), len(raw_text), True)
    return split_think(raw_text, split_format(parsed.think_format), parsed.finish_reason)


def given_step_spans(parsed: ParsedTrace) -> list[tuple[int, int]]:
    """Character spans of the file's own steps inside ``compose_raw_text``'s output."""
    spans = []
    offset = 0
    for step in parsed.steps or []:
        spans.append((offset, offset + len(step.text)))
        offset += len(step.text) + len(parsed.step_separator)
    return spans


def segmented_spans(raw_text: str, split: ThinkSplit) -> tuple[str, list[tuple[int, int, str]]]:
    """Segment the think part and the answer part separately (docs/concepts.md §3.1); returns
    (method, [(start, end, part)]). Each part's first and last steps stretch over its delimiters
    and the text around it (``ThinkSplit.regions``), so the steps cover every character of the
    text; a part whose content has no step but whose delimiters show is one step of them."""
    spans: list[tuple[int, int, str]] = []
    methods = []
    parts = zip(("think", "answer"), ((split.think_start, split.think_end), (split.answer_start, split.answer_end)))
    for (part, (start, end)), (region_start, region_end) in zip(parts, split.regions(len(raw_text))):
        if not _NOT_SPACE.search(raw_text, region_start, region_end):
            continue
        pieces = []
        if end > start:
            method = choose_segmenter(raw_text[start:end])
            methods.append(method)
            pieces = [[span.start, span.end] for span in segment(raw_text, method, start, end)]
        if not pieces:
            pieces = [[region_start, region_end]]
        pieces[0][0], pieces[-1][1] = region_start, region_end
        spans.extend((piece_start, piece_end, part) for piece_start, piece_end in pieces)
    return "+".join(dict.fromkeys(methods)) or "none", spans


def grade_trace(parsed: ParsedTrace, final_answer: str | None, answer_type: str) -> tuple[bool | None, str]:
    """Correctness vs the reference answer (docs/concepts.md §3.2); the file's own grading when there is none."""
    if not parsed.reference_answer.strip():
        if parsed.is_correct is not None:
            return parsed.is_correct, "source"
        return None, "no_reference"
    if not final_answer:
        return False, "no_answer"
    verdict = grade(final_answer, parsed.reference_answer, canonical_answer_type(answer_type), problem=parsed.prompt)
    return verdict.correct, verdict.method


def resolve_answer_type(parsed: ParsedTrace) -> str:
    """The file's answer type, else one inferred from the reference answer."""
    if parsed.answer_type:
        return parsed.answer_type
    if parsed.reference_answer.strip():
        return infer_answer_type(parsed.reference_answer)
    return "math"


def build_trace_fields(parsed: ParsedTrace) -> BuiltTrace:
    """Everything a stored trace needs, computed from one parsed completion."""
    raw_text = compose_raw_text(parsed)
    split = think_split(parsed, raw_text)
    think_start, think_end = split.think_start, split.think_end
    answer_start, answer_end = split.answer_start, split.answer_end
    if parsed.steps is not None:
        segmenter = "source"
        spans = [
            (start, end, "think" if think_end > think_start and start < think_end else "answer")
            for start, end in given_step_spans(parsed)
        ]
    else:
        segmenter, spans = segmented_spans(raw_text, split)
    starts = token_starts(raw_text)  # tokenised once: step offsets and part counts come from it
    token_offsets = token_offsets_from_starts(starts, [(start, end) for start, end, _ in spans])
    given = parsed.steps or []
    steps = [
        BuiltStep(
            index=i,
            char_start=start,
            char_end=end,
            token_start=tok_start,
            token_end=tok_end,
            part=part,
            label=given[i].label if given else None,
            flagged=given[i].flagged if given else None,
            alternatives=given[i].alternatives if given else [],
            human_written=given[i].human_written if given else False,
        )
        for i, ((start, end, part), (tok_start, tok_end)) in enumerate(zip(spans, token_offsets))
    ]
    think_text = raw_text[think_start:think_end]
    answer_text = raw_text[answer_start:answer_end]
    final = extract_answer(answer_text) if answer_end > answer_start else None
    in_think = extract_answer(think_text) if think_end > think_start else None
    answer_type = resolve_answer_type(parsed)
    is_correct, method = grade_trace(parsed, final.text if final else None, answer_type)
    if parsed.think_tokens is not None and parsed.answer_tokens is not None:
        think_tokens, answer_tokens, exact = parsed.think_tokens, parsed.answer_tokens, True
    else:
        think_tokens, answer_tokens = tokens_in(starts, think_start, think_end), tokens_in(starts, answer_start, answer_end)
        exact = False
    return BuiltTrace(
        raw_text=raw_text,
        think_start=think_start,
        think_end=think_end,
        answer_start=answer_start,
        answer_end=answer_end,
        think_closed=split.think_closed,
        think_tokens=think_tokens,
        answer_tokens=answer_tokens,
        tokens_exact=exact,
        final_answer=final.text if final else "",
        think_answer=in_think.text if in_think else "",
        is_correct=is_correct,
        grading_method=method,
        segmenter=segmenter,
        steps=steps,
    )
