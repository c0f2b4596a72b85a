"""The live job page of a generation run in a real browser (issue 5 §3; SPEC §4 "job pages with live
progress"): the progress fragment refreshes itself while the run advances, stops polling once it is
over, and the cancel button stops a running run. The run's progress is advanced by the test, as a
worker's chunks advance it, so the test exercises the page and not the model."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect
from test_trace_viewer import watch

from traces.models import LanguageModel, Membership, Project, Role, Run, RunKind, RunStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"


def test_the_job_page_follows_a_run_live_and_cancels_it(live_server, browser, make_user, artifacts) -> None:
    project = Project.objects.create(name="Live", slug="live")
    Membership.objects.create(project=project, user=make_user("lead", PASSWORD), role=Role.REVIEWER)
    model = LanguageModel.objects.create(project=project, name="smol <b>model</b>", backend="transformers", endpoint="embedded")
    run = Run.objects.create(
        project=project, model=model, kind=RunKind.GENERATION, status=RunStatus.RUNNING, progress_total=40,
        started_at=timezone.now() - timedelta(seconds=20), params={"problem_ids": [], "n": 1},
    )  # fmt: skip

    page = browser.new_page()
    problems, dialogs = watch(page)
    page.goto(live_server.url + reverse("job-detail", args=[project.slug, run.pk]))
    page.fill("#id_username", "lead")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#run-done")).to_contain_text("0 / 40")
    expect(page.locator("dd", has_text="smol <b>model</b>")).to_be_visible()  # escaped, shown as text

    # The worker stores a batch: the fragment refreshes itself without a reload.
    Run.objects.filter(pk=run.pk).update(progress_done=10, tokens_generated=1234, report={"tokens_per_second": 61.7})
    expect(page.locator("#run-done")).to_contain_text("10 / 40 (25.0 %)", timeout=10_000)
    expect(page.locator("#run-speed")).to_have_text("61.7")
    expect(page.locator("#run-eta")).not_to_have_text("—")
    assert page.evaluate("document.querySelector('#run-bar').value") == 10
    # The bar spans its card (a bare <progress> is ~10em wide, which read as a quarter done when full).
    assert page.evaluate("(bar => bar.offsetWidth / bar.parentElement.clientWidth)(document.querySelector('#run-bar'))") > 0.9
    page.screenshot(path=str(artifacts / "run-page-running.png"), full_page=True)

    page.click("#run-cancel")
    expect(page.locator("#run-status")).to_have_text("cancelled")
    expect(page.locator("#run-error")).to_contain_text("Cancelled by a user")
    expect(page.locator("#run-resume")).to_be_visible()
    assert Run.objects.get(pk=run.pk).status == RunStatus.CANCELLED
    # Over: the fragment no longer polls.
    assert page.locator("#run-progress").get_attribute("hx-trigger") is None
    page.screenshot(path=str(artifacts / "run-page-cancelled.png"), full_page=True)
    assert problems == [] and dialogs == []
