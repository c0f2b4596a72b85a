"""Importing a file in a real browser: from the Runs page, upload a JSONL file, preview it, read it
in another format and back without uploading again, import it, and land on its job page. The
import task runs inline (eager Celery), as a worker would run it."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from playwright.sync_api import expect
from test_trace_viewer import watch

from traces.models import Membership, Project, Role, Run, RunStatus, Trace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"
LINES = [
    {"prompt": "A train leaves at 3 pm and travels 120 km at 60 km/h. When does it arrive?",
     "completion": "<think>120 / 60 = 2 hours, so 3 pm + 2 h = 5 pm.</think>It arrives at 5 pm. The answer is 5.",
     "reference_answer": "5", "model": "qwen3-0.6b", "finish_reason": "stop"},
    {"prompt": "What is 7 × 8? <img src=x onerror=alert(1)>",
     "steps": ["7 × 8 = 7 × 4 × 2.", "7 × 4 = 28, and 28 × 2 = 56.", "The answer is 56."], "labels": [1, 1, 1],
     "reference_answer": "56", "model": "smollm2-360m"},
    {"prompt": "Simplify 12/16.", "completion": "<think>Divide by 4: 3/4.</think>The answer is 3/4.",
     "reference_answer": "3/4", "model": "qwen3-0.6b", "is_correct": True},
]  # fmt: skip


def test_a_file_is_uploaded_previewed_and_imported(live_server, browser, make_user, artifacts, tmp_path, settings, eager_celery) -> None:
    settings.DATA_DIR = tmp_path
    project = Project.objects.create(name="Arithmetic", slug="arith")
    Membership.objects.create(project=project, user=make_user("lead", PASSWORD), role=Role.REVIEWER)
    source = tmp_path / "qwen3-samples.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in LINES), encoding="utf-8")

    page = browser.new_page(viewport={"width": 1440, "height": 900})
    problems, dialogs = watch(page)
    page.goto(live_server.url + reverse("job-list", args=[project.slug]))
    page.fill("#id_username", "lead")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.click("#import-link")
    page.set_input_files("#id_file", str(source))
    page.screenshot(path=str(artifacts / "import-upload.png"), full_page=True)
    page.click("#import-upload")

    rows = page.locator("#preview-table tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(1)).to_contain_text("<img src=x onerror=alert(1)>")  # shown as text
    expect(rows.nth(1)).to_contain_text("3 step labels (+1 ×3)")
    expect(page.locator("#import-confirm")).to_have_text("Import 3 lines")
    # Where each model's thinking is: detected from its traces, and settable for the whole file.
    expect(page.locator("#think-formats li[data-model='qwen3-0.6b']")).to_contain_text("think_tags")
    expect(page.locator("#think-formats li[data-model='smollm2-360m']")).to_contain_text("undetermined")
    page.screenshot(path=str(artifacts / "import-preview.png"))
    page.select_option("#id_think_format", "none")
    expect(rows.nth(0)).to_contain_text("no think part")
    page.select_option("#id_think_format", "auto")
    expect(rows.nth(0)).not_to_contain_text("no think part")

    # Read as ProcessBench: htmx swaps the preview in, the import is refused until the format fits.
    page.locator("input[name=format][value=processbench]").check()
    expect(page.locator("#import-error")).to_contain_text("Line 1, field id")
    expect(page.locator("#import-confirm")).to_be_disabled()
    page.screenshot(path=str(artifacts / "import-preview-error.png"))
    page.locator("input[name=format][value=jsonl]").check()
    expect(page.locator("#import-error")).to_have_count(0)
    assert not Run.objects.exists() and not Trace.objects.exists()

    page.click("#import-confirm")
    expect(page.locator("#run-status")).to_have_text("succeeded", timeout=20_000)
    expect(page.locator("#run-done")).to_contain_text("3 / 3")
    expect(page.locator("#think-formats li[data-model='qwen3-0.6b']")).to_contain_text("detected: of 2 traces")
    page.screenshot(path=str(artifacts / "import-job.png"), full_page=True)
    assert Run.objects.get().status == RunStatus.SUCCEEDED and Trace.objects.count() == 3
    page.goto(live_server.url + reverse("import-upload", args=[project.slug]))
    expect(page.locator("#recent-imports")).to_contain_text("qwen3-samples.jsonl")
    expect(page.locator("#recent-imports")).to_contain_text("3 new traces")
    page.screenshot(path=str(artifacts / "import-upload-after.png"), full_page=True)
    assert problems == [] and dialogs == []
