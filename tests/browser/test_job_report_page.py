"""Job pages read their reports in words in a real browser: a panel of two judges over three traces,
one judge's replies parsing and the other's not, is "finished with problems", names each reply
that gave no label with its reason, and lists each trace's verdicts; a Monte Carlo job lists each
step's rollouts; a re-import says it added nothing. The generation form estimates a run and asks
to confirm a long one. Screenshots at 1440×900."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect
from rollout_backend import RolloutScript
from test_trace_viewer import watch

from traces.actions.auto_labels import JudgeSpec, McSpec, Selection, do_start_judge, do_start_mc, run_auto_labels
from traces.actions.imports import do_import
from traces.actions.store import store_traces
from traces.backends import ChatPrompt, Completion, ProgressCallback, SamplingParams
from traces.formats.base import ParsedStep, ParsedTrace
from traces.models import LanguageModel, Membership, Project, Role, Run, RunKind, Trace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"


class Judge:
    """A judge that names paragraph 1 as the first error, or, when ``parses`` is off, rambles."""

    def __init__(self, parses: bool) -> None:
        self.parses = parses

    def generate(
        self, prompts: Sequence[ChatPrompt], params: SamplingParams, progress: ProgressCallback | None = None
    ) -> list[list[Completion]]:
        text = "Paragraph 1 adds wrongly: \\boxed{1}" if self.parses else "The solution looks fine to me overall."
        return [[Completion(text=text, completion_tokens=9)] for _ in prompts]

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def store(project: Project, key: int) -> Trace:
    run, _ = Run.objects.get_or_create(project=project, kind=RunKind.IMPORT, name="import")
    steps = [f"Problem {key}: two plus two.", "WRONG: it is 5.", "So the answer is 5."]
    parsed = ParsedTrace(line_no=key, prompt=f"What is 2 + 2? ({key})", text="\n\n".join(steps), model_name="gen",
                         reference_answer="4", steps=[ParsedStep(step) for step in steps])  # fmt: skip
    return Trace.objects.get(pk=store_traces(project, run, [parsed]).trace_ids[0])


def log_in(page, url: str) -> None:
    page.goto(url)
    page.fill("#id_username", "lead")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")


def test_job_pages_read_their_reports_in_words(live_server, browser, make_user, artifacts, tmp_path) -> None:
    project = Project.objects.create(name="Reasoning evals", slug="evals")
    Membership.objects.create(project=project, user=make_user("lead", PASSWORD), role=Role.REVIEWER)
    traces = [store(project, key) for key in range(1, 4)]
    careful, rambling = (
        LanguageModel.objects.create(project=project, name=name, backend="openai", endpoint="embedded")
        for name in ("qwen-critic", "small-critic")
    )
    run = do_start_judge(project, JudgeSpec((careful.pk, rambling.pk)),
                         Selection(trace_ids=tuple(t.pk for t in traces)), queue=False)  # fmt: skip
    run_auto_labels(run.pk, lambda model: Judge(parses=model.pk == careful.pk))
    roller = LanguageModel.objects.create(project=project, name="roller", backend="transformers", endpoint="embedded")
    mc = do_start_mc(project, roller, McSpec(k=8), Selection(trace_ids=tuple(t.pk for t in traces)), queue=False)
    run_auto_labels(mc.pk, lambda model: RolloutScript())

    page = browser.new_page(viewport={"width": 1440, "height": 900})
    problems, dialogs = watch(page)
    log_in(page, live_server.url + reverse("job-detail", args=[project.slug, run.pk]))

    expect(page.locator("#run-status")).to_have_text("finished with problems")
    expect(page.locator("#run-headline")).to_contain_text("Judged 3 traces. 3 replies did not parse and gave no label.")
    expect(page.locator("#run-counts")).to_contain_text("3 replies that did not parse (no label)")
    failures = page.locator("#run-problems tbody tr")
    expect(failures).to_have_count(3)
    expect(failures.first).to_contain_text("small-critic")
    expect(failures.first).to_contain_text("reply did not parse")
    expect(page.locator("#run-traces tbody tr").first).to_contain_text("qwen-critic: first error at step 2")
    expect(page.locator("#run-settings")).to_contain_text("first error (ProcessBench critic)")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1440  # nothing overflows sideways
    page.screenshot(path=str(artifacts / "job-report-judges.png"))
    page.screenshot(path=str(artifacts / "job-report-judges-full.png"), full_page=True)

    page.goto(live_server.url + reverse("job-detail", args=[project.slug, mc.pk]))
    expect(page.locator("#run-status")).to_have_text("succeeded")
    expect(page.locator("#run-traces .job-details").first).to_have_text("step 1: 8/8step 2: 0/8step 3: 0/8")
    page.screenshot(path=str(artifacts / "job-report-mc.png"), full_page=True)
    path = tmp_path / "traces.jsonl"
    path.write_text("".join(
        f'{{"prompt": "What is {i} + 1?", "reference_answer": "{i + 1}", "completion": "The answer is {i + 1}."}}\n'
        for i in range(175)
    ) + '{"prompt": 7}\n', encoding="utf-8")  # fmt: skip
    do_import(project, path, "jsonl", skip_invalid=True)
    again = do_import(project, path, "jsonl", skip_invalid=True).run
    page.goto(live_server.url + reverse("job-detail", args=[project.slug, again.pk]))
    expect(page.locator("#run-headline")).to_have_text(
        "Imported 0 new traces, skipped 175 traces already in the project, skipped 1 invalid line. "
        "Nothing new: this file had been imported before."
    )
    expect(page.locator("#run-problems")).to_contain_text("line 176")
    page.screenshot(path=str(artifacts / "job-report-reimport.png"), full_page=True)
    page.goto(live_server.url + reverse("job-list", args=[project.slug]))
    expect(page.locator("#run-table")).to_contain_text("finished with problems")
    page.screenshot(path=str(artifacts / "job-report-list.png"))
    assert problems == [] and dialogs == []


def test_the_generation_form_estimates_the_run_and_asks_to_confirm_a_long_one(live_server, browser, make_user, artifacts) -> None:
    project = Project.objects.create(name="Reasoning evals", slug="evals")
    Membership.objects.create(project=project, user=make_user("lead", PASSWORD), role=Role.REVIEWER)
    for key in range(1, 41):
        store(project, key)
    model = LanguageModel.objects.create(project=project, name="smol", backend="transformers", endpoint="embedded")
    Run.objects.create(project=project, model=model, kind=RunKind.GENERATION, status="succeeded",
                       tokens_generated=900, report={"engine_seconds": 100.0})  # fmt: skip

    page = browser.new_page(viewport={"width": 1440, "height": 900})
    problems, dialogs = watch(page)
    log_in(page, live_server.url + reverse("job-new", args=[project.slug]))
    expect(page.locator("#run-estimate")).to_contain_text("At most 1 min 54 s")  # 4 problems × 256 tokens at 9/s
    page.fill("#id_limit", "")
    expect(page.locator("#run-estimate")).to_contain_text("At most 18 min 58 s")
    expect(page.locator("#run-estimate")).to_contain_text("over 10 minutes")
    page.click("#job-new button[type=submit]")
    expect(page.locator("#job-new .form-errors")).to_contain_text("This run may take over 10 minutes")
    expect(page.locator("#id_confirm")).not_to_be_checked()
    assert not Run.objects.filter(kind=RunKind.GENERATION, status="queued").exists()
    page.screenshot(path=str(artifacts / "generation-form-estimate.png"), full_page=True)
    assert [problem for problem in problems if "400" not in problem] == [] and dialogs == []  # but the refusal


def test_a_running_generation_shows_the_engines_batch_in_flight(live_server, browser, make_user, artifacts) -> None:
    project = Project.objects.create(name="Reasoning evals", slug="evals")
    Membership.objects.create(project=project, user=make_user("lead", PASSWORD), role=Role.REVIEWER)
    model = LanguageModel.objects.create(project=project, name="smol", backend="transformers", endpoint="embedded")
    started = timezone.now() - timedelta(seconds=30)
    engine = {"done": 0, "total": 2, "units": 2, "tokens": 0, "seconds": 0.0, "started": started.isoformat()}
    run = Run.objects.create(
        project=project, model=model, kind=RunKind.GENERATION, status="running", progress_total=2, started_at=started,
        name="smol × 2 problems", params={"max_new_tokens": 256, "temperature": 0.7, "n": 1, "problem_ids": [1, 2]},
        report={"engine": engine},
    )  # fmt: skip

    page = browser.new_page(viewport={"width": 1440, "height": 900})
    problems, dialogs = watch(page)
    log_in(page, live_server.url + reverse("job-detail", args=[project.slug, run.pk]))
    expect(page.locator("#run-engine")).to_contain_text("The engine is working on 2 completions: 0 done, for 3")
    engine.update(done=1, tokens=240, seconds=26.0)  # the first request of the batch came back
    Run.objects.filter(pk=run.pk).update(report={"engine": engine})
    expect(page.locator("#run-done")).to_contain_text("0 / 2 (50.0 %)")
    expect(page.locator("#run-speed")).to_have_text("9.2")
    expect(page.locator("#run-tokens")).to_have_text("240")
    expect(page.locator("#run-headline")).to_have_text("Generating 2 traces: 0 stored so far.")
    page.screenshot(path=str(artifacts / "job-report-running.png"))
    assert problems == [] and dialogs == []

