"""``manage.py demo``: the demo user, project, problems, traces and labels, and its idempotence."""

from __future__ import annotations

import stat
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from traces.actions.demo import (
    DEMO_LABEL_NOTE,
    DEMO_LABEL_SOURCE,
    answer_step,
    do_demo_project,
    do_demo_user,
    do_seed_demo_labels,
)
from traces.actions.demo_team import ANNOTATORS, DEMO_TEAM_NOTE, LABELED_ITEMS, QUEUE_NAME
from traces.actions.store import store_traces
from traces.demo_problems import demo_problems
from traces.formats.base import ParsedTrace
from traces.generation import THINKING_SYSTEM_PROMPT
from traces.models import (
    HUMAN,
    Label,
    LanguageModel,
    MembershipChange,
    Problem,
    Project,
    Queue,
    Role,
    Run,
    RunKind,
    RunStatus,
    Trace,
)
from traces.queries.adjudication import traces_to_adjudicate
from traces.queries.agreement import queue_agreement
from traces.queries.queues import annotator_progress
from workers.backends.embedded import EMBEDDED_MODEL_NAME
from workers.management.commands.demo import SEED, Command, demo_password, login_url

pytestmark = pytest.mark.django_db


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_password_is_generated_once_into_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "demo_password"
    password = demo_password(path)
    assert len(password) >= 16 and path.read_text() == password + "\n"
    assert _mode(path) == 0o600
    path.chmod(0o644)
    assert demo_password(path) == password
    assert _mode(path) == 0o600
    path.write_text("\n")
    assert demo_password(path) not in ("", password)


def test_the_demo_user_gets_the_saved_password_back() -> None:
    user, changed = do_demo_user("first secret")
    assert changed and user.check_password("first secret")
    assert do_demo_user("first secret")[1] is False
    user.set_password("changed in the UI")
    user.save()
    user, changed = do_demo_user("first secret")
    assert changed and get_user_model().objects.get(username="demo").check_password("first secret")


def test_the_login_address_is_where_make_run_serves(monkeypatch) -> None:
    monkeypatch.delenv("HOST", raising=False)
    monkeypatch.delenv("PORT", raising=False)
    assert login_url() == "http://127.0.0.1:8000/"
    monkeypatch.setenv("PORT", "8765")
    assert login_url() == "http://127.0.0.1:8765/"


def test_bad_counts_are_refused() -> None:
    with pytest.raises(CommandError, match="not a positive integer"):
        call_command("demo", "--problems", "0")
    with pytest.raises(CommandError, match="not a whole number"):
        call_command("demo", "--samples", "two")


def _stored_run(texts: list[str], answer: str = "12") -> Run:
    user, _ = do_demo_user("pw")
    project = do_demo_project(user, EMBEDDED_MODEL_NAME)
    run = Run.objects.create(project=project, kind=RunKind.GENERATION)
    parsed = [
        ParsedTrace(line_no=i, prompt=f"Problem {i}", text=text, reference_answer=answer, think_format="none")
        for i, text in enumerate(texts)
    ]
    store_traces(project, run, parsed)
    return run


def test_answer_step_is_the_step_stating_the_final_answer() -> None:
    run = _stored_run(
        ["First, 3 times 4.\n\nSo it is twelve.\n\nThe answer is 12.\n\nThat was fun.", "No answer here."]
    )
    with_answer, without = Trace.objects.filter(run=run).order_by("pk")
    step = answer_step(with_answer)
    assert step is not None and "The answer is 12." in with_answer.raw_text[step.char_start : step.char_end]
    assert answer_step(without) is None


ANSWERS = (12, 7, 12, 12, 12, 5, 9, 8)


def test_demo_labels_mark_the_answer_step_once_as_an_automatic_source() -> None:
    """A rule chose them: they are no person's labels, so no human export or agreement counts them."""
    run = _stored_run([f"Step one.\n\nThe answer is {n}." for n in ANSWERS] + ["No answer."])
    assert do_seed_demo_labels(run) == 6  # three correct and three incorrect traces
    labels = Label.objects.filter(trace__run=run).select_related("trace", "step")
    assert sorted(label.value for label in labels) == [-1, -1, -1, 1, 1, 1]
    for label in labels:
        assert (label.source, label.user, label.note) == (DEMO_LABEL_SOURCE, None, DEMO_LABEL_NOTE)
        assert label.value == (1 if label.trace.is_correct else -1)
        assert label.trace.raw_text[label.step.char_start : label.step.char_end].startswith("The answer is")
        assert label.trace.has_labels
    assert do_seed_demo_labels(run) == 0
    assert Label.objects.filter(trace__run=run).count() == 6
    assert not Label.objects.filter(source=HUMAN).exists()


def test_the_demo_team_worked_a_queue_that_agreement_and_adjudication_can_show(settings, tmp_path: Path) -> None:
    settings.DATA_DIR = tmp_path
    run = _stored_run([f"Read the problem.\n\nMultiply.\n\nThe answer is {n}." for n in ANSWERS])
    do_seed_demo_labels(run)
    owner = get_user_model().objects.get(username="demo")
    out = StringIO()
    Command(stdout=out)._demo_team(run.project, run, owner)

    passwords = {name: (tmp_path / f"{name}_password").read_text().strip() for name in ANNOTATORS}
    assert f"annotator1 / {passwords['annotator1']}, annotator2 / {passwords['annotator2']}" in out.getvalue()
    for name in ANNOTATORS:
        user = get_user_model().objects.get(username=name)
        assert user.check_password(passwords[name]) and run.project.role_of(user) == Role.ANNOTATOR
    changes = MembershipChange.objects.filter(project=run.project).order_by("id")
    assert [(c.actor, c.subject_name, c.new_role) for c in changes] == [
        (None, "annotator1", "annotator"),
        (None, "annotator2", "annotator"),
    ]

    queue = Queue.objects.get(project=run.project, name=QUEUE_NAME)
    assert queue.overlap == 2 and queue.items.exclude(gold_source="").exists()
    progress = {row.username: row for row in annotator_progress(queue)}
    assert {name: progress[name].done for name in ANNOTATORS} == {name: LABELED_ITEMS for name in ANNOTATORS}
    assert queue.items.filter(done_count__lt=2).exists()  # items left for the demo user to try
    seeded = Label.objects.filter(source=HUMAN, user__username__in=ANNOTATORS)
    assert seeded.exists() and set(seeded.values_list("note", flat=True)) == {DEMO_TEAM_NOTE}

    agreement = queue_agreement(queue, ())
    assert agreement.annotators == list(ANNOTATORS)
    assert agreement.overall.alpha is not None and 0 < agreement.overall.alpha < 1
    assert agreement.pairs and agreement.pairs[0].agreement.steps > 5
    assert sum(row.disagreeing for row in traces_to_adjudicate(queue)) >= 2

    again = StringIO()
    Command(stdout=again)._demo_team(run.project, run, owner)  # a second start changes nothing
    assert "Seeded" not in again.getvalue() and seeded.count() == Label.objects.filter(source=HUMAN).count()
    assert MembershipChange.objects.filter(project=run.project).count() == 2


@pytest.mark.model
def test_demo_end_to_end_then_idempotent_then_forced(settings, tmp_path: Path, monkeypatch) -> None:
    settings.DATA_DIR = tmp_path
    monkeypatch.delenv("HOST", raising=False)
    monkeypatch.delenv("PORT", raising=False)
    args = ["--problems", "3", "--samples", "1", "--think-budget", "48", "--max-new-tokens", "8"]
    out = StringIO()
    call_command("demo", *args, stdout=out, stderr=StringIO())
    assert "3 of 3 think first" in out.getvalue()

    password_file = tmp_path / "demo_password"
    password = password_file.read_text().strip()
    assert _mode(password_file) == 0o600
    assert out.getvalue().splitlines()[-1] == f"Log in at http://127.0.0.1:8000/ as demo / {password}"
    user = get_user_model().objects.get(username="demo")
    assert user.check_password(password)
    project = Project.objects.get(slug="demo")
    assert project.name == "Demo" and project.role_of(user) == Role.OWNER

    expected = {(p.problem_id, p.prompt, p.answer, "numeric", "thinkscope-demo") for p in demo_problems(3, seed=SEED)}
    stored = set(
        Problem.objects.filter(project=project).values_list("external_id", "prompt", "answer", "answer_type", "source")
    )
    assert stored == expected
    model = LanguageModel.objects.get(project=project)
    assert (model.backend, model.think_format, model.system_prompt) == ("transformers", "think_tags", THINKING_SYSTEM_PROMPT)
    assert model.endpoint == "embedded" and any(Path(settings.MODEL_CACHE_DIR).rglob("config.json"))

    run = Run.objects.get(project=project, kind=RunKind.GENERATION)
    assert (run.status, run.progress_done, run.progress_total, run.model) == (RunStatus.SUCCEEDED, 3, 3, model)
    assert run.params["think_budget"] == 48
    traces = list(Trace.objects.filter(run=run))
    assert len(traces) == 3
    assert run.tokens_generated == sum(trace.meta["completion_tokens"] for trace in traces)
    from transformers import AutoTokenizer  # after the backend module has loaded torch

    tokenizer = AutoTokenizer.from_pretrained(next(Path(settings.MODEL_CACHE_DIR).rglob("config.json")).parent)
    for trace in traces:
        # budget forcing: the thinking opened, closed by the model or at the budget, then the answer forced
        assert trace.raw_text.startswith("<think>\n") and trace.think_closed and trace.think_end > trace.think_start
        assert trace.answer_text.strip().startswith("The final answer is")
        forcing = trace.meta["budget_forcing"]
        assert 0 < forcing["think_generated_tokens"] <= 48 and 0 < forcing["answer_generated_tokens"] <= 8
        assert trace.meta["completion_tokens"] == forcing["think_generated_tokens"] + forcing["answer_generated_tokens"]
        assert (trace.finish_reason == "length") == (forcing["answer_generated_tokens"] == 8)
        assert trace.tokens_exact
        for part, tokens in ((trace.think_text, trace.think_tokens), (trace.answer_text, trace.answer_tokens)):
            assert tokens == len(tokenizer.encode(part, add_special_tokens=False)) > 0
        assert trace.steps.filter(part="think").exists()
        assert trace.is_correct is not None  # graded against the reference ("no_answer" counts as wrong)
        assert trace.analysis.version and trace.scores.filter(name="overthinking_ratio").exists()
    # the thinking reaches the reference answer somewhere: the analyses place t* there
    assert any(trace.analysis.verdicts["t_star"] is not None for trace in traces)

    # A second start loads no model (its module cannot even be imported) and changes nothing.
    monkeypatch.setitem(sys.modules, "workers.backends.transformers", None)
    out = StringIO()
    call_command("demo", *args, stdout=out, stderr=StringIO())
    assert "nothing to generate" in out.getvalue()
    assert out.getvalue().splitlines()[-1] == f"Log in at http://127.0.0.1:8000/ as demo / {password}"
    assert password_file.read_text().strip() == password
    assert sorted(Trace.objects.filter(project=project).values_list("pk", flat=True)) == sorted(t.pk for t in traces)
    assert Run.objects.filter(project=project).count() == 1
    monkeypatch.undo()

    call_command("demo", *args, "--force", stdout=StringIO(), stderr=StringIO())
    regenerated = Trace.objects.filter(project=project)
    assert regenerated.count() == 3 and not set(regenerated.values_list("pk", flat=True)) & {t.pk for t in traces}
    assert Run.objects.get(project=project).status == RunStatus.SUCCEEDED
    assert get_user_model().objects.get(username="demo").check_password(password)
