"""The PRM loop in chromium, against a real Celery worker training and scoring SmolLM2 on the CPU.

Seeded: a project owned by ``lead`` with one model's traces of three problems, two samples each (one
right, one wrong), graded against their reference answers.

1. lead labels the steps of four traces by keyboard (right traces +1, the wrong ones' steps −1).
2. On the PRMs page lead trains a PRM from people's labels (a handful of steps: the defaults take
   about a minute); the job page draws the loss curve while it trains.
3. lead scores the traces with it from the PRMs page; the job page lists each trace's step scores.
4. The labeller evaluation shows its ProcessBench F1 against people's labels, the model dashboard its
   best-of-N curves by aggregation, and the viewer its labels beside people's.

Screenshots (1440×900) go to test-artifacts/prm-*.png.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect
from test_trace_viewer import watch

from traces.actions.prm_scorers import prm_dir
from traces.actions.store import store_traces
from traces.formats.base import ParsedStep, ParsedTrace
from traces.models import Label, Membership, Project, Role, Run, RunKind, Step, Trace, TrainedPrm

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"
VIEWPORT = {"width": 1440, "height": 900}
PROBLEMS = [
    ("Tom has 3 apples and buys 4 more. How many apples does he have?", "7", "3 + 4 = 7.", "3 + 4 = 8."),
    ("A box holds 5 pens. How many pens are in 2 boxes?", "10", "2 * 5 = 10.", "2 * 5 = 12."),
    ("Sam reads 6 pages a day. How many pages in 3 days?", "18", "6 * 3 = 18.", "6 * 3 = 16."),
]


def seed(project: Project) -> list[Trace]:
    run = Run.objects.create(project=project, kind=RunKind.IMPORT, name="samples.jsonl")
    parsed = []
    for p, (prompt, answer, right, wrong) in enumerate(PROBLEMS):
        for s, step in enumerate((right, wrong)):
            result = step.split(" = ")[1].rstrip(".")
            steps = [step, f"The answer is {result}."]
            parsed.append(ParsedTrace(line_no=2 * p + s + 1, prompt=prompt, text="\n\n".join(steps), model_name="gen",
                                      reference_answer=answer, steps=[ParsedStep(t) for t in steps]))  # fmt: skip
    return list(Trace.objects.filter(pk__in=store_traces(project, run, parsed).trace_ids).order_by("pk"))


def shoot(page: Page, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"prm-{name}.png"), full_page=True)


def test_label_train_score_evaluate_and_compare_in_the_browser(
    live_server, browser, make_user, artifacts, start_workers
) -> None:
    project = Project.objects.create(name="PRM flow", slug="prm-flow")
    Membership.objects.create(project=project, user=make_user("lead", PASSWORD), role=Role.OWNER)
    traces = seed(project)
    assert [t.is_correct for t in traces] == [True, False] * 3
    start_workers()

    page = browser.new_context(viewport=VIEWPORT).new_page()
    problems, dialogs = watch(page)
    page.goto(live_server.url + reverse("trace-list", args=[project.slug]))
    page.fill("#id_username", "lead")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")

    # 1. Label the steps of four traces by keyboard: every step of a right trace +1, of a wrong one −1.
    for trace in traces[:4]:
        page.goto(live_server.url + reverse("trace-label", args=[project.slug, trace.pk]))
        page.wait_for_load_state("load")  # the keyboard script is deferred
        count = Step.objects.filter(trace=trace).count()
        for step in range(1, count + 1):
            page.keyboard.press("3" if trace.is_correct else "1")
            expect(page.locator("#label-progress")).to_have_text(f"{step} / {count} rated by you")
    assert Label.objects.filter(source="human").count() == 8

    # 2. Train a PRM on people's labels from the PRMs page, with a handful of steps.
    page.click("nav >> text=PRMs")
    expect(page.locator("h1")).to_have_text("Process reward models")
    expect(page.locator("#train-labels")).to_contain_text("4 traces")
    shoot(page, artifacts, "page-empty")
    page.fill("#id_name", "browser-prm")
    page.fill("#id_max_steps", "3")
    page.fill("#id_batch_size", "2")
    page.fill("#id_max_length", "96")
    page.fill("#id_trainable_layers", "1")
    page.fill("#id_learning_rate", "0.001")
    page.click("text=Start training")
    expect(page.locator("h1")).to_contain_text("Train PRM browser-prm")
    expect(page.locator("#run-loss polyline")).to_be_visible(timeout=240_000)
    shoot(page, artifacts, "training")
    expect(page.locator("#run-status")).to_have_text("succeeded", timeout=240_000)
    expect(page.locator("#run-headline")).to_contain_text("Trained the PRM 'browser-prm' in 3 steps")
    expect(page.locator("#run-loss")).to_contain_text("step 3")
    shoot(page, artifacts, "trained")
    prm = TrainedPrm.objects.get(project=project, name="browser-prm")

    try:
        # 3. Score every trace with it.
        page.click("text=Score traces with browser-prm")
        row = page.locator("#score-browser-prm")
        expect(row).to_contain_text("trained here")
        shoot(page, artifacts, "page-trained")
        row.locator("text=Score").click()
        expect(page.locator("#run-status")).to_have_text("succeeded", timeout=240_000)
        expect(page.locator("#run-headline")).to_have_text(f"Scored the steps of 6 traces with 'browser-prm' (version {prm.version}).")
        expect(page.locator("#run-traces tbody tr")).to_have_count(6)
        shoot(page, artifacts, "scored")

        # 4. Its ProcessBench F1 against people's labels, its best-of-N curves, its labels in the viewer.
        page.click("text=Evaluate against people's labels")
        expect(page.locator("#evaluation-figures")).to_contain_text("ProcessBench F1")
        shoot(page, artifacts, "evaluation")
        page.go_back()
        page.click("text=Best-of-N curves")
        expect(page.locator("#dashboard")).to_have_attribute("data-ready", "true", timeout=30_000)
        summary = page.locator("#chart-best_of_n")
        expect(summary).to_contain_text("best-of-N · min")
        expect(summary).to_contain_text("weighted vote · product")
        expect(page.locator("[id^='chart-best_of_n-'] canvas")).to_be_visible()
        shoot(page, artifacts, "dashboard")
        summary.screenshot(path=str(artifacts / "prm-dashboard-summary.png"))
        page.locator("[id^='chart-best_of_n-']").first.screenshot(path=str(artifacts / "prm-dashboard-best-of-n.png"))
        page.goto(live_server.url + reverse("trace-detail", args=[project.slug, traces[1].pk]))
        chips = page.locator("#step-1 .chips")
        expect(chips).to_contain_text("People")
        expect(chips).to_contain_text("PRM browser-prm")
        shoot(page, artifacts, "viewer")
        assert problems == [] and dialogs == []
    finally:
        shutil.rmtree(prm_dir() / prm.folder, ignore_errors=True)
