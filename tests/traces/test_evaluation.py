"""Evaluating an automatic labeller against a reference (issue 7, item 4): the pure scoring, the
ORM collection on a real ProcessBench sample, the command, the API endpoint and the UI page.

Expected figures are computed here by hand from the sample file and the labelling the test writes.
"""

from __future__ import annotations

import json
from collections import Counter
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from traces.actions.exports import RequestRejected
from traces.actions.imports import do_import
from traces.exports.policy import SourcedLabel
from traces.exports.records import ExportStep, ExportTrace
from traces.models import Label, Membership, Project, Role, Step, Trace
from traces.queries.evaluation import evaluate_labeller, labelling_policy, score_labeller

REFERENCE = "import:processbench"
SHIFTED = "heuristic:shifted"


def trace_of(*steps: tuple[SourcedLabel, ...], trace_id: int = 1) -> ExportTrace:
    return ExportTrace(
        id=trace_id, prompt="p", reference_answer="", problem_id=trace_id, problem_hash="h", model="m", run_id=1,
        steps=tuple(ExportStep(i, f"step {i}", labels) for i, labels in enumerate(steps)),
    )  # fmt: skip


def labels(**values: int | None) -> tuple[SourcedLabel, ...]:
    """``labels(a=1, b=-1)``: one label per source (``a`` → "auto", ``b`` → "human")."""
    names = {"a": "auto", "b": "human"}
    return tuple(SourcedLabel(names[key], value) for key, value in values.items())


def test_scoring_counts_first_errors_steps_and_missing_labellings() -> None:
    traces = [
        # both rate every step; the method finds the error one step late
        trace_of(labels(a=1, b=1), labels(a=1, b=-1), labels(a=-1, b=None), trace_id=1),
        # neutral is not an error: both say "no error"; the 0/+1 step is a confusion off the diagonal
        trace_of(labels(a=0, b=1), labels(a=1, b=1), trace_id=2),
        # the method leaves step 0 unrated before its error: its first error is undetermined
        trace_of(labels(b=1), labels(a=-1, b=-1), trace_id=3),
        trace_of(labels(b=1), trace_id=4),  # reference only
        trace_of(labels(a=1), trace_id=5),  # method only
        trace_of((), trace_id=6),  # nobody
    ]
    result = score_labeller(labelling_policy("auto", "method"), labelling_policy("human", "reference"), traces)
    assert (result.traces_read, result.traces_compared, result.missing_method, result.missing_reference) == (6, 3, 1, 1)
    assert result.first_errors_compared == 2  # traces 1 and 2
    assert result.processbench is not None
    assert (result.processbench.n_erroneous, result.processbench.n_error_free) == (1, 1)
    assert (result.processbench.erroneous_accuracy, result.processbench.error_free_accuracy) == (0.0, 1.0)
    assert result.processbench.f1 == 0.0
    # steps rated by both: (1,1) (1,-1) | (0,1) (1,1) | (-1,-1): rows reference, columns method (-1, 0, +1)
    assert result.confusion is not None
    assert result.confusion.counts == ((1, 0, 1), (0, 0, 0), (0, 1, 2))
    assert result.step_accuracy == pytest.approx(3 / 5)


def test_several_people_on_a_step_count_as_their_majority() -> None:
    people = (
        SourcedLabel("human", -1, user_id=1),
        SourcedLabel("human", 1, user_id=2),
        SourcedLabel("human", 1, user_id=3),
    )
    traces = [trace_of((*people, SourcedLabel("auto", 1)))]
    result = score_labeller(labelling_policy("auto", "method"), labelling_policy("human", "reference"), traces)
    assert result.confusion is not None and result.confusion.counts == ((0, 0, 0), (0, 0, 0), (0, 0, 1))


def test_nothing_in_common_leaves_the_figures_undefined() -> None:
    result = score_labeller(
        labelling_policy("auto", "method"), labelling_policy("human", "reference"), [trace_of(labels(a=1))]
    )
    assert (result.processbench, result.confusion, result.step_accuracy) == (None, None, None)
    assert result.as_dict()["steps_compared"] == 0 and result.as_dict()["confusion"] is None


@pytest.mark.parametrize(
    ("source", "message"), [("human-else-auto", "name one label source"), ("two words", "without spaces")]
)
def test_a_source_must_be_one_name(source: str, message: str) -> None:
    with pytest.raises(RequestRejected, match=message) as rejected:
        labelling_policy(source, "method")
    assert rejected.value.field == "method"


# --- on the real ProcessBench sample -----------------------------------------------------------


def shifted_first_error(record: dict[str, Any]) -> int:
    """The deliberately shifted labelling: an error one step later when there is a later step."""
    label, steps = record["label"], len(record["steps"])
    return label + 1 if 0 <= label < steps - 1 else label


def step_values(first_error: int, steps: int) -> list[int | None]:
    """ProcessBench's convention: +1 before the first error, −1 at it, unrated after it."""
    if first_error == -1:
        return [1] * steps
    return [1] * first_error + [-1] + [None] * (steps - first_error - 1)


@pytest.fixture
def records(shared_data: Path) -> list[dict[str, Any]]:
    path = shared_data / "processbench" / "olympiadbench.jsonl"
    return [json.loads(line) for line in path.open(encoding="utf-8")]


@pytest.fixture
def imported(db, shared_data: Path, records: list[dict[str, Any]]) -> Project:
    """The sample imported, plus a ``heuristic:shifted`` labelling written step by step."""
    project = Project.objects.create(name="Bench", slug="bench")
    do_import(project, shared_data / "processbench" / "olympiadbench.jsonl", "processbench")
    traces = Trace.objects.filter(project=project).order_by("id")
    assert [t.meta["id"] for t in traces] == [r["id"] for r in records]
    rows = []
    for trace, record in zip(traces, records, strict=True):
        steps = Step.objects.filter(segmentation_id=trace.current_segmentation_id).order_by("index")
        values = step_values(shifted_first_error(record), len(record["steps"]))
        rows += [
            Label(step=s, trace=trace, value=v, source=SHIFTED)
            for s, v in zip(steps, values, strict=True)
            if v is not None
        ]
    Label.objects.bulk_create(rows)
    return project


def by_hand(records: list[dict[str, Any]]) -> dict[str, Any]:
    """ProcessBench F1 and the step confusion of the shifted labelling, counted from the file."""
    erroneous = [r for r in records if r["label"] >= 0]
    error_free = [r for r in records if r["label"] == -1]
    erroneous_accuracy = sum(shifted_first_error(r) == r["label"] for r in erroneous) / len(erroneous)
    f1 = 2 * erroneous_accuracy / (erroneous_accuracy + 1.0)  # every error-free trace stays error-free
    confusion: Counter[tuple[int, int]] = Counter()
    for r in records:
        steps = len(r["steps"])
        for truth, mine in zip(step_values(r["label"], steps), step_values(shifted_first_error(r), steps), strict=True):
            if truth is not None and mine is not None:
                confusion[truth, mine] += 1
    matrix = [[confusion[truth, mine] for mine in (-1, 0, 1)] for truth in (-1, 0, 1)]
    return {"f1": f1, "n_erroneous": len(erroneous), "n_error_free": len(error_free), "confusion": matrix}


def test_imported_labels_against_themselves_score_one(imported: Project, records: list[dict[str, Any]]) -> None:
    result = evaluate_labeller(imported, REFERENCE, REFERENCE)
    assert result.traces_compared == result.first_errors_compared == len(records)
    assert result.processbench is not None and result.processbench.f1 == 1.0
    assert result.step_accuracy == 1.0


def test_a_shifted_labelling_scores_what_is_counted_by_hand(imported: Project, records: list[dict[str, Any]]) -> None:
    expected = by_hand(records)
    result = evaluate_labeller(imported, SHIFTED, REFERENCE)
    assert result.processbench is not None and result.confusion is not None
    assert result.processbench.f1 == pytest.approx(expected["f1"])
    assert (result.processbench.n_erroneous, result.processbench.n_error_free) == (
        expected["n_erroneous"],
        expected["n_error_free"],
    )
    assert [list(row) for row in result.confusion.counts] == expected["confusion"]
    assert 0 < result.processbench.f1 < 1


def test_command_prints_the_figures(imported: Project, records: list[dict[str, Any]]) -> None:
    out = StringIO()
    call_command(
        "evaluate_labels", "--project", "bench", "--method", SHIFTED, "--reference", REFERENCE, "--json", stdout=out
    )
    figures = json.loads(out.getvalue())
    expected = by_hand(records)
    assert figures["processbench"]["f1"] == pytest.approx(expected["f1"])
    assert figures["confusion"]["counts"] == expected["confusion"]
    text = StringIO()
    call_command("evaluate_labels", "--project", "bench", "--method", SHIFTED, "--reference", REFERENCE, stdout=text)
    assert f"ProcessBench F1: {100 * expected['f1']:.1f}%" in text.getvalue()


def test_command_rejects_unknown_projects_and_bad_sources(imported: Project) -> None:
    with pytest.raises(CommandError, match="No project 'nope'"):
        call_command("evaluate_labels", "--project", "nope", "--method", SHIFTED, "--reference", REFERENCE)
    with pytest.raises(CommandError, match="--reference: name one label source"):
        call_command("evaluate_labels", "--project", "bench", "--method", SHIFTED, "--reference", "human-else-auto")


def test_api_evaluates_for_members_only(imported: Project, records: list[dict[str, Any]], make_user) -> None:
    from rest_framework.test import APIClient

    viewer, outsider = make_user("viewer"), make_user("outsider")
    Membership.objects.create(project=imported, user=viewer, role=Role.VIEWER)
    url = reverse("project-evaluate", args=["bench"])
    client = APIClient()
    client.force_authenticate(viewer)
    body = client.get(url, {"method": SHIFTED, "reference": REFERENCE}).json()
    expected = by_hand(records)
    assert (
        body["processbench"]["f1"] == pytest.approx(expected["f1"])
        and body["confusion"]["counts"] == expected["confusion"]
    )
    missing = client.get(url, {"method": SHIFTED})
    assert missing.status_code == 400 and "required" in missing.json()["reference"][0]
    bad = client.get(url, {"method": SHIFTED, "reference": REFERENCE, "model": "nope"})
    assert bad.status_code == 400 and "no model named 'nope'" in bad.json()["model"][0]
    client.force_authenticate(outsider)
    assert client.get(url, {"method": SHIFTED, "reference": REFERENCE}).status_code == 404


def test_ui_page_shows_the_table_and_the_confusion_matrix(
    imported: Project, records: list[dict[str, Any]], make_user
) -> None:
    viewer = make_user("viewer")
    Membership.objects.create(project=imported, user=viewer, role=Role.VIEWER)
    client = Client()
    client.force_login(viewer)
    url = reverse("label-evaluation", args=["bench"])
    empty = client.get(url)
    assert empty.status_code == 200 and f'<option value="{SHIFTED}" title="{SHIFTED}">Heuristic shifted</option>' in empty.content.decode()
    page = client.get(url, {"method": SHIFTED, "reference": REFERENCE}).content.decode()
    assert f'<h2><abbr class="key-name" title="{SHIFTED}">Heuristic shifted</abbr> against' in page
    expected = by_hand(records)
    assert f"{expected['f1']:.3f}" in page
    matrix = page.split('id="confusion-matrix"')[1].split("</table>")[0]
    for row in expected["confusion"]:
        assert "".join(f'<td class="num">{count}</td>' for count in row) in matrix
    bad = client.get(url, {"method": SHIFTED, "reference": "import:unknown"})
    assert bad.status_code == 400 and "not one of the available choices" in bad.content.decode()
    outsider = make_user("outsider")
    client.force_login(outsider)
    assert client.get(url).status_code == 404
