"""The generation run loop: chunks, resumption, cancellation, failures and the run's status (issue 5 §1)."""

from __future__ import annotations

import pytest
from scripted_backend import ScriptedBackend

from traces import jobs
from traces.actions.generation import BatchDone, generate_run, missing_samples
from traces.backends import GenerationBackend, SamplingParams
from traces.demo_problems import DemoProblem
from traces.models import LanguageModel, Project, Run, RunKind, RunStatus, Trace


def _problems(count: int) -> list[DemoProblem]:
    return [
        DemoProblem(problem_id=f"p-{i}", prompt=f"Problem {i}: what is 0 + {i % 2}?", answer=str(i % 2), template="t")
        for i in range(count)
    ]


@pytest.fixture
def generation_run(db):
    project = Project.objects.create(name="Gen", slug="gen")
    model = LanguageModel.objects.create(project=project, name="scripted", backend="transformers", endpoint="embedded", think_format="none")
    run = Run.objects.create(project=project, model=model, kind=RunKind.GENERATION)
    return run, model


def test_scripted_backend_satisfies_the_protocol() -> None:
    assert isinstance(ScriptedBackend(), GenerationBackend)


def test_generate_run_stores_every_sample_and_keeps_the_run_current(generation_run) -> None:
    run, model = generation_run
    problems, params = _problems(5), SamplingParams(n=2, seed=1)
    backend, batches = ScriptedBackend(), []
    generate_run(
        run, model, backend, missing_samples(run, problems, 2), params, prompts_per_batch=2, on_batch=batches.append
    )

    assert backend.calls == [2, 2, 1]
    assert [batch.traces for batch in batches] == [4, 4, 2]
    run.refresh_from_db()
    assert (run.status, run.progress_done, run.progress_total, run.error) == (RunStatus.SUCCEEDED, 10, 10, "")
    assert run.tokens_generated == 5 * (3 + 4) == sum(batch.tokens for batch in batches)
    assert run.started_at is not None and run.finished_at is not None
    assert run.report["engine_seconds"] >= 0
    traces = Trace.objects.filter(run=run)
    assert sorted(traces.values_list("problem__external_id", "sample_index")) == [
        (f"p-{i}", k) for i in range(5) for k in range(2)
    ]
    # Stored like imports: steps, an extracted answer, a verdict, exact token counts.
    sample_one = traces.get(problem__external_id="p-1", sample_index=1)
    assert (sample_one.final_answer, sample_one.is_correct, sample_one.tokens_exact) == ("1", True, True)
    assert sample_one.answer_tokens == 4 and sample_one.steps.count() >= 1
    assert traces.get(problem__external_id="p-1", sample_index=0).is_correct is False
    assert missing_samples(run, problems, 2) == []


def test_a_failed_run_keeps_its_finished_batches_and_resumes(generation_run) -> None:
    run, model = generation_run
    problems, params = _problems(5), SamplingParams(n=1, seed=1)
    with pytest.raises(RuntimeError, match="engine crashed"):
        generate_run(
            run, model, ScriptedBackend(fail_on_call=2), missing_samples(run, problems, 1), params, prompts_per_batch=2
        )
    run.refresh_from_db()
    assert (run.status, run.error, run.progress_done, run.progress_total) == (RunStatus.FAILED, "engine crashed", 2, 5)

    pending = missing_samples(run, problems, 1)
    assert [(item.problem.problem_id, item.sample_indices) for item in pending] == [
        ("p-2", (0,)),
        ("p-3", (0,)),
        ("p-4", (0,)),
    ]
    generate_run(run, model, ScriptedBackend(), pending, params, prompts_per_batch=2)
    run.refresh_from_db()
    assert (run.status, run.error, run.progress_done, run.progress_total) == (RunStatus.SUCCEEDED, "", 5, 5)
    assert Trace.objects.filter(run=run).count() == 5


def test_an_interrupt_cancels_the_run(generation_run) -> None:
    run, model = generation_run
    backend = ScriptedBackend(fail_on_call=1, error=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        generate_run(run, model, backend, missing_samples(run, _problems(1), 1), SamplingParams())
    run.refresh_from_db()
    assert (run.status, run.error) == (RunStatus.CANCELLED, "KeyboardInterrupt")


def test_only_missing_sample_indices_are_stored(generation_run) -> None:
    run, model = generation_run
    problems = _problems(1)
    generate_run(run, model, ScriptedBackend(), missing_samples(run, problems, 1), SamplingParams(n=1))
    pending = missing_samples(run, problems, 3)
    assert [item.sample_indices for item in pending] == [(1, 2)]
    done: list[BatchDone] = []
    generate_run(run, model, ScriptedBackend(), pending, SamplingParams(n=3), on_batch=done.append)
    assert done[0].traces == 2
    assert sorted(Trace.objects.filter(run=run).values_list("sample_index", flat=True)) == [0, 1, 2]


# --- Runs started by users: chunks queued on commit, idempotent chunks, cancel and resume --------

from traces.actions.generation import (  # noqa: E402
    GenerationError,
    do_cancel_run,
    do_resume_run,
    do_start_generation,
    generate_chunk,
    select_problem_ids,
)
from traces.models import Problem  # noqa: E402
from traces.trace_builder import problem_hash  # noqa: E402


@pytest.fixture
def stored_problems(generation_run):
    run, model = generation_run
    problems = [
        Problem.objects.create(
            project=run.project, prompt=f"What is {i} + 0?", answer=str(i), source="tiny" if i < 4 else "other",
            content_hash=problem_hash(f"What is {i} + 0?", str(i)), external_id="",
        )
        for i in range(6)
    ]  # fmt: skip
    return run.project, model, problems


def test_problems_are_selected_by_dataset_ids_and_limit(stored_problems) -> None:
    project, _, problems = stored_problems
    assert select_problem_ids(project, source="tiny") == [p.pk for p in problems[:4]]
    assert select_problem_ids(project, limit=2) == [p.pk for p in problems[:2]]
    assert select_problem_ids(project, problem_ids=[problems[5].pk, problems[1].pk]) == [problems[1].pk, problems[5].pk]
    with pytest.raises(GenerationError, match="no problem \\[999999\\]") as refused:
        select_problem_ids(project, problem_ids=[999999])
    assert refused.value.field == "problems"


def test_start_refuses_what_cannot_run(stored_problems) -> None:
    project, model, problems = stored_problems
    imported = LanguageModel.objects.create(project=project, name="from-a-file", backend="imported")
    with pytest.raises(GenerationError, match="no endpoint chosen"):
        do_start_generation(project, imported, [problems[0].pk], SamplingParams())
    with pytest.raises(GenerationError, match="no problems selected"):
        do_start_generation(project, model, [], SamplingParams())
    other = Project.objects.create(name="Other", slug="other")
    with pytest.raises(GenerationError, match="not a model of project 'other'"):
        do_start_generation(other, model, [problems[0].pk], SamplingParams())
    with pytest.raises(GenerationError, match="at most"):
        do_start_generation(project, model, [problems[0].pk], SamplingParams(n=200_000))
    assert (
        not Run.objects.filter(project=project)
        .exclude(pk__in=Run.objects.filter(kind=RunKind.GENERATION, params={}))
        .exists()
    )


def test_a_started_run_queues_one_task_per_chunk_after_commit(
    stored_problems, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    project, model, problems = stored_problems
    queued: list[tuple[str, int, list[int]]] = []
    monkeypatch.setattr("traces.actions.generation.PROBLEMS_PER_CHUNK", 4)
    monkeypatch.setattr("traces.jobs.enqueue", lambda task, *args: queued.append((task, *args)))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = do_start_generation(project, model, [p.pk for p in problems], SamplingParams(n=2, seed=3), name="sweep")
    assert queued == []  # nothing is queued before the run row is committed
    for callback in callbacks:
        callback()
    ids = [p.pk for p in problems]
    assert queued == [(jobs.GENERATE_CHUNK, run.pk, ids[:4]), (jobs.GENERATE_CHUNK, run.pk, ids[4:])]
    assert (run.status, run.progress_total, run.n_samples, run.seed, run.name) == (RunStatus.QUEUED, 12, 2, 3, "sweep")
    assert run.params["problem_ids"] == ids and run.params["n"] == 2


def _started(project, model, problems, n=1):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("traces.actions.generation.enqueue_missing_chunks", lambda run_id: 0)
        return do_start_generation(project, model, [p.pk for p in problems], SamplingParams(n=n, seed=1))


def test_chunks_are_idempotent_and_the_last_one_finishes_the_run(
    stored_problems, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    project, model, problems = stored_problems
    analysed: list[tuple[str, int]] = []
    monkeypatch.setattr("traces.jobs.enqueue", lambda task, run_id: analysed.append((task, run_id)))
    run = _started(project, model, problems, n=2)
    ids = [p.pk for p in problems]
    backend = ScriptedBackend()
    with django_capture_on_commit_callbacks(execute=True):
        assert generate_chunk(run.pk, ids[:3], lambda m: backend) == 6
    run.refresh_from_db()
    assert (run.status, run.progress_done, run.progress_total) == (RunStatus.RUNNING, 6, 12)
    assert analysed == [(jobs.ANALYZE_RUN, run.pk)]  # each chunk's traces are analysed as soon as it ends
    assert generate_chunk(run.pk, ids[:3], lambda m: backend) == 0  # redelivered: nothing twice
    with django_capture_on_commit_callbacks(execute=True):
        assert generate_chunk(run.pk, ids[3:], lambda m: backend) == 6
    run.refresh_from_db()
    assert (run.status, run.progress_done, run.tokens_generated) == (RunStatus.SUCCEEDED, 12, 6 * (3 + 4))
    assert run.started_at and run.finished_at and run.report["tokens_per_second"] > 0
    assert analysed == [(jobs.ANALYZE_RUN, run.pk)] * 2
    pairs = list(Trace.objects.filter(run=run).values_list("problem_id", "sample_index"))
    assert len(pairs) == len(set(pairs)) == 12
    assert generate_chunk(run.pk, ids, lambda m: backend) == 0  # a finished run does nothing


def test_a_cancelled_run_stops_between_batches_and_resumes_only_what_is_missing(
    stored_problems, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    project, model, problems = stored_problems
    monkeypatch.setattr("traces.actions.generation.PROMPTS_PER_BATCH", 2)
    run = _started(project, model, problems)

    class CancelAfterFirstBatch(ScriptedBackend):
        def generate(self, prompts, params, progress=None):
            done = super().generate(prompts, params, progress)
            if len(self.calls) == 1:
                do_cancel_run(Run.objects.get(pk=run.pk))
            return done

    assert generate_chunk(run.pk, [p.pk for p in problems], lambda m: CancelAfterFirstBatch()) == 2
    run.refresh_from_db()
    assert (run.status, run.progress_done) == (RunStatus.CANCELLED, 2)
    assert do_cancel_run(run) is False  # already over

    queued: list[tuple[str, int, list[int]]] = []
    monkeypatch.setattr("traces.jobs.enqueue", lambda task, *args: queued.append((task, *args)))
    with django_capture_on_commit_callbacks(execute=True):
        assert do_resume_run(run) is True
    assert queued == [(jobs.GENERATE_CHUNK, run.pk, [p.pk for p in problems[2:]])]
    assert run.status == RunStatus.QUEUED and run.error == ""
    generate_chunk(run.pk, queued[0][2], lambda m: ScriptedBackend())
    run.refresh_from_db()
    assert (run.status, run.progress_done) == (RunStatus.SUCCEEDED, 6)
    assert do_resume_run(run) is False  # nothing to resume


def test_a_failing_backend_fails_the_run_with_its_error_and_keeps_finished_batches(
    stored_problems, monkeypatch
) -> None:
    project, model, problems = stored_problems
    monkeypatch.setattr("traces.actions.generation.PROMPTS_PER_BATCH", 2)
    run = _started(project, model, problems)
    backend = ScriptedBackend(fail_on_call=2, error=RuntimeError("CUDA out of memory <script>"))
    with pytest.raises(RuntimeError):
        generate_chunk(run.pk, [p.pk for p in problems], lambda m: backend)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.error == "RuntimeError: CUDA out of memory <script>"
    assert run.progress_done == 2
    assert run.report["failure_count"] == 1
    assert run.report["failures"][0]["error"] == run.error
    assert run.report["failures"][0]["problems"] == [p.pk for p in problems]


def test_a_backend_without_a_tokenizer_endpoint_still_generates(stored_problems, monkeypatch) -> None:
    project, model, problems = stored_problems
    run = _started(project, model, problems[:1])

    class NoTokenizer(ScriptedBackend):
        def count_tokens(self, text: str) -> int:
            raise RuntimeError("404 /tokenize")

    generate_chunk(run.pk, [problems[0].pk], lambda m: NoTokenizer())
    trace = Trace.objects.get(run=run)
    assert trace.tokens_exact is False and trace.answer_tokens > 0
