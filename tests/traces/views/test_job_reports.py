"""Job pages read their report in words: an import's new traces, duplicates and invalid lines; a
judge's reply that did not parse, with its reason and no label; a Monte Carlo job's settings and
each trace's rollout outcome; and a run whose work partly failed "finished with problems"."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from rollout_backend import RolloutScript

from traces.actions.auto_labels import JudgeSpec, McSpec, Selection, do_start_judge, do_start_mc, run_auto_labels
from traces.actions.imports import do_import
from traces.actions.store import store_traces
from traces.backends import ChatPrompt, Completion, ProgressCallback, SamplingParams
from traces.formats.base import ParsedStep, ParsedTrace
from traces.models import LanguageModel, Project, Run, RunKind, Trace

pytestmark = pytest.mark.django_db

LINES = [
    '{"prompt": "What is 2+3?", "reference_answer": "5", "model": "m", "completion": "2+3 is 5. The answer is 5."}',
    '{"prompt": "What is 2+4?", "reference_answer": "6", "model": "m", "completion": "2+4 is 6. The answer is 6."}',
]


def page_of(client: Client, run: Run) -> str:
    return client.get(reverse("job-detail", args=[run.project.slug, run.pk])).content.decode()


def store(project: Project, steps: Sequence[str]) -> Trace:
    run, _ = Run.objects.get_or_create(project=project, kind=RunKind.IMPORT, name="import")
    parsed = ParsedTrace(line_no=1, prompt="What is 2 + 2?", text="\n\n".join(steps), model_name="gen",
                         reference_answer="4", steps=[ParsedStep(step) for step in steps])  # fmt: skip
    return Trace.objects.get(pk=store_traces(project, run, [parsed]).trace_ids[0])


def test_a_reimport_says_it_added_nothing_and_skipped_duplicates(member_client: Client, project: Project, tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    do_import(project, path, "jsonl")
    again = do_import(project, path, "jsonl").run

    page = page_of(member_client, again)

    assert "Imported 0 new traces, skipped 2 traces already in the project." in page
    assert "Nothing new: this file had been imported before." in page
    assert "<strong>2</strong> <span>already in the project (skipped)</span>" in page


def test_skipped_invalid_lines_finish_with_problems_and_say_why(member_client: Client, project: Project, tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text(LINES[0] + '\n{"prompt": 7}\n', encoding="utf-8")
    run = do_import(project, path, "jsonl", skip_invalid=True).run

    page = page_of(member_client, run)

    assert 'class="badge status-problems" id="run-status">finished with problems<' in page
    assert "line 2" in page and "prompt" in page
    list_page = member_client.get(reverse("job-list", args=[project.slug])).content.decode()
    assert "finished with problems" in list_page


class UnsureJudge:
    """A judge whose reply never names a first error."""

    def generate(
        self, prompts: Sequence[ChatPrompt], params: SamplingParams, progress: ProgressCallback | None = None
    ) -> list[list[Completion]]:
        return [[Completion(text="I am not sure which step is wrong.", completion_tokens=8)] for _ in prompts]

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def test_a_judge_reply_that_did_not_parse_is_a_problem_with_its_reason(member_client: Client, project: Project) -> None:
    trace = store(project, ["Two plus two.", "It is 4."])
    judge = LanguageModel.objects.create(project=project, name="critic", backend="openai", endpoint="embedded")
    run = do_start_judge(project, JudgeSpec((judge.pk,)), Selection(trace_ids=(trace.pk,)), queue=False)
    run_auto_labels(run.pk, lambda model: UnsureJudge())
    run.refresh_from_db()

    page = page_of(member_client, run)

    assert run.status == "succeeded"
    assert "finished with problems" in page
    assert "1 reply did not parse and gave no label." in page
    assert "critic: no label — " in page and "I am not sure which step is wrong." in page
    assert "first error (ProcessBench critic)" in page


def test_a_monte_carlo_job_shows_its_settings_and_each_traces_rollouts(member_client: Client, project: Project) -> None:
    trace = store(project, ["Two plus two.", "WRONG: it is 5.", "So 5."])
    roller = LanguageModel.objects.create(project=project, name="roller", backend="transformers", endpoint="embedded")
    run = do_start_mc(project, roller, McSpec(k=4, max_new_tokens=16), Selection(trace_ids=(trace.pk,)), queue=False)
    run_auto_labels(run.pk, lambda model: RolloutScript())
    run.refresh_from_db()

    page = page_of(member_client, run)

    assert 'id="run-status">succeeded<' in page
    assert "Labelled the steps of 1 trace from 12 rollouts." in page
    assert "first error at step 2: no rollout from it reaches the reference answer" in page
    assert '<li class="tone-ok">step 1: 4/4</li><li class="tone-bad">step 2: 0/4</li>' in page
    assert "<dt>Rollouts per step (K)</dt><dd>4</dd>" in page and "<dt>Search</dt><dd>every step</dd>" in page
    assert '"max_trace_id"' not in page and "{&quot;" not in page  # no raw JSON
