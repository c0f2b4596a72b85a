"""``do_save_trace_verdicts``, called directly: a person's trace-level verdicts, tags and note."""

from __future__ import annotations

import pytest

from traces.actions.annotations import AnnotationError, TraceVerdicts, do_save_trace_verdicts, replace_first_error
from traces.actions.store import store_traces
from traces.formats.base import ParsedTrace
from traces.models import HUMAN, Project, Run, RunKind, Trace, TraceAnnotation

pytestmark = pytest.mark.django_db


@pytest.fixture
def trace(project: Project) -> Trace:
    run = Run.objects.create(project=project, kind=RunKind.IMPORT)
    text = "2 + 2 = 4.\n\nThe answer is 4."
    parsed = ParsedTrace(line_no=0, prompt="What is 2 + 2?", text=text, reference_answer="4")
    (trace_id,) = store_traces(project, run, [parsed]).trace_ids
    return Trace.objects.get(pk=trace_id)


def test_verdicts_are_upserted_and_leave_the_first_error_alone(owner, trace) -> None:
    replace_first_error(owner, trace.pk, HUMAN, 2)
    verdicts = TraceVerdicts(final_answer_verdict="correct", tags=("arith", "short"), note="fine")
    saved = do_save_trace_verdicts(owner, trace, verdicts)
    assert (saved.final_answer_verdict, saved.tags, saved.note, saved.first_error_step) == (
        "correct", ["arith", "short"], "fine", 2,
    )  # fmt: skip
    again = do_save_trace_verdicts(owner, trace, TraceVerdicts(mismatch_verdict="mismatch"))
    assert again.pk == saved.pk and TraceAnnotation.objects.filter(trace=trace).count() == 1
    assert (again.final_answer_verdict, again.mismatch_verdict, again.tags) == ("", "mismatch", [])
    assert again.first_error_step == 2


@pytest.mark.parametrize(
    ("verdicts", "message"),
    [
        (TraceVerdicts(final_answer_verdict="maybe"), "final_answer_verdict: 'maybe' is not one of"),
        (TraceVerdicts(tags=("ok", " ")), "tags: each tag is 1 to"),
        (TraceVerdicts(note="x" * 100_000), "note: at most"),
    ],
)
def test_a_bad_verdict_is_named_and_nothing_is_saved(owner, trace, verdicts, message) -> None:
    with pytest.raises(AnnotationError, match=message):
        do_save_trace_verdicts(owner, trace, verdicts)
    assert not TraceAnnotation.objects.filter(trace=trace).exists()
