"""Keyboard-only labeling in a real browser (issue 6 items 1 and 6) against a live server.

Two real ProcessBench traces (../shared/data, imported by the importer): an annotator labels every
step of the first by keyboard alone (accepting the imported suggestion on one step), reloads and
checks that the page and the database agree; goes on with ``n`` to the second trace, uses
first-error mode, undoes it, marks "no error" and fills the trace-level form. Expected values come from the JSON records
and ProcessBench's rule written out here. Console errors, failed requests and JS dialogs fail the
test (the CSP forbids inline scripts and handlers, so one would show up as a console error).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect
from test_trace_viewer import watch

from traces.actions.store import store_traces
from traces.formats.processbench import parse_record
from traces.models import HUMAN, Label, Membership, Project, Role, Run, RunKind, Step, TraceAnnotation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PROCESSBENCH = Path("processbench") / "gsm8k.jsonl"
PASSWORD = "correct horse battery"
#: The keys pressed on the steps of the first trace, in turn (1: −1, 2: 0, 3: +1).
KEY_VALUES = {"3": 1, "2": 0, "1": -1}


def erroneous_records(shared_data: Path, count: int) -> list[dict]:
    """The first ``count`` records with an erroneous step after the first one and 4 to 8 steps."""
    records = []
    with (shared_data / PROCESSBENCH).open(encoding="utf-8") as fp:
        for line in fp:
            record = json.loads(line)
            if record["label"] >= 1 and 4 <= len(record["steps"]) <= 8:
                records.append(record)
            if len(records) == count:
                return records
    raise AssertionError(f"{PROCESSBENCH} has fewer than {count} such records")


def processbench_values(count: int, first_error: int) -> list[int | None]:
    """+1 before the first error, −1 at it, nothing after; −1 means no error: all +1."""
    if first_error == -1:
        return [1] * count
    return [1 if i < first_error else -1 if i == first_error else None for i in range(count)]


def human_values(trace_id: int, user) -> list[int | None]:
    steps = Step.objects.filter(trace_id=trace_id).order_by("index")
    labels = dict(Label.objects.filter(trace_id=trace_id, source=HUMAN, user=user).values_list("step_id", "value"))
    return [labels.get(step.pk) for step in steps]


def shown_values(page: Page) -> list[int | None]:
    """The person's label of each step as the page shows it (each cell's data-value)."""
    raw = page.eval_on_selector_all(".my-label", "cells => cells.map(c => c.getAttribute('data-value'))")
    return [None if value == "" else int(value) for value in raw]


def wait_until_saved(page: Page) -> None:
    expect(page.locator("#labeling[data-saving]")).to_have_count(0)


def test_label_a_processbench_trace_by_keyboard_only(live_server, browser, make_user, shared_data, artifacts) -> None:
    user = make_user("ann", PASSWORD)
    project = Project.objects.create(name="Labeling", slug="lab")
    Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
    run = Run.objects.create(project=project, kind=RunKind.IMPORT, name=PROCESSBENCH.name)
    first, second = erroneous_records(shared_data, 2)
    parsed = [*parse_record(second, 2), *parse_record(first, 1)]
    second_id, first_id = store_traces(project, run, parsed).trace_ids  # the list shows the newest (first) on top

    page = browser.new_page(viewport={"width": 1360, "height": 900})
    problems, dialogs = watch(page)
    page.goto(live_server.url + reverse("trace-label", args=["lab", first_id]))
    page.fill("#id_username", "ann")
    page.fill("#id_password", PASSWORD)
    page.press("#id_password", "Enter")
    expect(page.locator("h1")).to_have_text(f"Label trace #{first_id}")

    # Label every step by keyboard: "a" accepts the imported ProcessBench label of step 1, then
    # 3/2/1 in turn on the others (each rating moves on); then "k" back one step and "f" flags it.
    count = len(first["steps"])
    steps = page.locator("[data-label-step]")
    expect(steps).to_have_count(count)
    expect(steps.first).to_have_class("step label-step is-current")
    imported = processbench_values(count, first["label"])
    keys = list(KEY_VALUES) * count
    expected = [imported[0]] + [KEY_VALUES[key] for key in keys[: count - 1]]
    page.keyboard.press("a")
    for key in keys[: count - 1]:
        page.keyboard.press(key)
    page.keyboard.press("k")
    page.keyboard.press("f")
    expect(page.locator("#label-progress")).to_have_text(f"{count} / {count} rated by you")
    wait_until_saved(page)
    assert human_values(first_id, user) == expected
    accepted = Label.objects.get(trace_id=first_id, user=user, step__index=0)
    assert accepted.params["accepted"]["source"] == "import:processbench"
    flagged = Label.objects.filter(trace_id=first_id, user=user, flagged=True).values_list("step__index", flat=True)
    assert list(flagged) == [count - 2]

    page.reload()
    assert shown_values(page) == expected
    expect(page.locator(f"#step-{count - 1}")).to_have_class("step label-step is-current")  # the address keeps it
    expect(page.locator(f"#step-{count - 1} .my-label .flag")).to_be_visible()
    page.keyboard.press("?")
    expect(page.locator("#label-help")).to_be_visible()
    page.screenshot(path=str(artifacts / "labeling-help.png"))
    page.keyboard.press("Escape")
    expect(page.locator("#label-help")).to_be_hidden()
    page.screenshot(path=str(artifacts / "labeling.png"), full_page=True)

    # "n": the next trace without my labels is the other one. First-error mode there, undo, no error.
    page.keyboard.press("n")
    expect(page.locator("h1")).to_have_text(f"Label trace #{second_id}")
    count = len(second["steps"])
    error_at = second["label"]
    for _ in range(error_at):
        page.keyboard.press("j")
    page.keyboard.press("e")
    expect(page.locator("#my-first-error")).to_have_text(f"⚠ your first error: step {error_at + 1}")
    wait_until_saved(page)
    assert human_values(second_id, user) == processbench_values(count, error_at)
    assert shown_values(page) == processbench_values(count, error_at)
    assert TraceAnnotation.objects.get(trace_id=second_id, user=user, source=HUMAN).first_error_step == error_at
    page.screenshot(path=str(artifacts / "labeling-first-error.png"), full_page=True)

    page.keyboard.press("u")
    expect(page.locator("#label-progress")).to_have_text(f"0 / {count} rated by you")
    wait_until_saved(page)
    assert human_values(second_id, user) == [None] * count
    assert not TraceAnnotation.objects.filter(trace_id=second_id, user=user).exists()

    page.keyboard.press("Shift+E")
    expect(page.locator("#my-first-error")).to_have_text("✓ you: no erroneous step")
    wait_until_saved(page)
    assert human_values(second_id, user) == [1] * count
    # The trace-level form saves through htmx; keys typed into its fields label nothing.
    with page.expect_response(lambda response: response.url.endswith("/label/verdicts/")):
        page.select_option("#id_final_answer_verdict", "incorrect")
    page.click("#id_note")
    page.keyboard.type("e 1 u n")
    with page.expect_response(lambda response: response.url.endswith("/label/verdicts/")):
        page.keyboard.press("Escape")  # leaves the field, whose change saves the form
    expect(page.locator("#trace-verdicts")).to_contain_text("Saved.")
    annotation = TraceAnnotation.objects.get(trace_id=second_id, user=user, source=HUMAN)
    assert (annotation.final_answer_verdict, annotation.note, annotation.first_error_step) == ("incorrect", "e 1 u n", -1)
    assert human_values(second_id, user) == [1] * count

    page.reload()
    assert shown_values(page) == [1] * count
    expect(page.locator("#id_note")).to_have_value("e 1 u n")
    assert human_values(first_id, user) == expected  # the first trace is as it was left

    assert dialogs == []
    assert problems == []
