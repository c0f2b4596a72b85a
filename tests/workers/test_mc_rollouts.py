"""Monte Carlo step labels on real engines (issue 5 items 4, 6): ``continue_from`` on the openai
backend (the local fake server) and on SmolLM2; a job on the real model whose every label agrees
with its rollouts; a job run end to end by a real worker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fake_openai_server import FakeBehaviour, FakeOpenAIServer, fake_continuation

from traces.actions.auto_labels import MC_SOURCE, McSpec, Selection, do_start_mc, run_auto_labels
from traces.actions.store import store_traces
from traces.analysis.rollouts import hard_label, judge_rollout
from traces.backends import ChatPrompt, RolloutBackend, SamplingParams
from traces.formats.base import ParsedStep, ParsedTrace
from traces.generation import build_prompt
from traces.models import Label, LanguageModel, Project, Run, RunKind, RunStatus, Trace, TraceAnnotation
from workers.backends.openai_compat import OpenAIBackend

QUESTION = "Tom has 3 apples and buys 4 more. How many apples does he have?"
STEPS = ["Tom starts with 3 apples.", "He buys 4 more, so 3 + 4 = 7.", "The answer is 7."]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as running:
        yield running


def store(project: Project, steps: list[str], answer: str = "7") -> Trace:
    run = Run.objects.create(project=project, kind=RunKind.IMPORT, name="import")
    parsed = ParsedTrace(
        line_no=1,
        prompt=QUESTION,
        text="\n\n".join(steps),
        model_name="gen",
        reference_answer=answer,
        steps=[ParsedStep(step) for step in steps],
    )
    return Trace.objects.get(pk=store_traces(project, run, [parsed]).trace_ids[0])


def test_openai_continue_from_sends_the_partial_answer_and_returns_the_continuation(server: FakeOpenAIServer) -> None:
    backend = OpenAIBackend(server.base_url, model="fake-model", backoff_base=0.01, timeout=5.0)
    assert isinstance(backend, RolloutBackend)
    prompt = ChatPrompt.of("What is 2 + 2 ?")
    results = backend.continue_from(
        [prompt, prompt], ["Two plus", "Two plus two"], SamplingParams(n=2, max_new_tokens=50)
    )

    assert [[c.text for c in samples] for samples in results] == [
        [fake_continuation([{"content": "What is 2 + 2 ?"}, {}], i) for i in range(2)]
    ] * 2
    bodies = sorted(server.record.chat_requests, key=lambda body: body["messages"][-1]["content"])
    assert [body["messages"][-1] for body in bodies] == [
        {"role": "assistant", "content": "Two plus"},
        {"role": "assistant", "content": "Two plus two"},
    ]
    assert all(body["continue_final_message"] is True and body["add_generation_prompt"] is False for body in bodies)
    with pytest.raises(ValueError, match="2 prompts but 1 prefixes"):
        backend.continue_from([prompt, prompt], ["x"], SamplingParams())


@pytest.mark.model
def test_transformers_continue_from_renders_the_opened_turn_and_the_prefix(smollm2) -> None:
    assert isinstance(smollm2, RolloutBackend)
    prompt = build_prompt(QUESTION)
    greedy = SamplingParams(max_new_tokens=6, temperature=0)
    ((from_nothing,),) = smollm2.continue_from([prompt], [""], greedy)
    ((generated,),) = smollm2.generate([prompt], greedy)
    assert from_nothing.text == generated.text  # an empty prefix is plain generation
    ((continued,),) = smollm2.continue_from([prompt], [STEPS[0]], greedy)
    rendered = smollm2.render(prompt) + STEPS[0]
    assert continued.prompt_tokens == len(smollm2.tokenizer(rendered, add_special_tokens=False)["input_ids"])
    assert not continued.text.startswith(STEPS[0])  # only the continuation comes back


@pytest.mark.model
def test_transformers_rollouts_from_the_shared_cache_equal_rollouts_from_scratch(smollm2) -> None:
    """The shared-prefix path (every prefix continues from the longest one's KV cache) gives the
    tokens a full run of each input gives: nested prefixes, a prefix that leaves the others' path,
    and a second prompt in the same call."""
    prompt, other = build_prompt(QUESTION), build_prompt("What is 2 + 2?")
    prefixes = [STEPS[0], "\n\n".join(STEPS[:2]), "\n\n".join(STEPS), "Tom has no apples at all.", "2 + 2"]
    prompts = [prompt] * 4 + [other]
    greedy = SamplingParams(max_new_tokens=12, temperature=0)
    shared = smollm2.continue_from(prompts, prefixes, greedy)
    texts = [smollm2.render(p) + prefix for p, prefix in zip(prompts, prefixes, strict=True)]
    from_scratch = smollm2.generate_texts(texts[:4], greedy, None) + smollm2.generate_texts(texts[4:], greedy, None)
    assert [c.text for (c,) in shared] == [c.text for (c,) in from_scratch]
    assert [c.prompt_tokens for (c,) in shared] == [c.prompt_tokens for (c,) in from_scratch]


@pytest.mark.model
@pytest.mark.django_db(transaction=True)
def test_mc_labels_on_the_real_model_agree_with_their_rollouts(project: Project, smollm2) -> None:
    """Each stored label is what its rollouts say, and the rollouts are what the model samples."""
    trace = store(project, STEPS)
    roller = LanguageModel.objects.create(project=project, name="smollm2", backend="transformers", endpoint="embedded")
    spec = McSpec(k=2, mode="linear", max_new_tokens=32, temperature=0.7, seed=3)
    run = do_start_mc(project, roller, spec, Selection(trace_ids=(trace.pk,)))
    run = run_auto_labels(run.pk, lambda model: smollm2)
    assert run is not None and run.status == RunStatus.SUCCEEDED, run.error

    labels = list(Label.objects.filter(trace=trace, source=MC_SOURCE).select_related("step").order_by("step__index"))
    assert [label.step.index for label in labels] == [0, 1, 2]
    # The same inputs and seed sample the same continuations again (one batch, seeded).
    steps = [label.step for label in labels]
    prefixes = [trace.raw_text[: step.char_end] for step in steps]
    again = smollm2.continue_from([build_prompt(QUESTION, roller.system_prompt)] * 3, prefixes, spec.sampling())
    for label, prefix, samples in zip(labels, prefixes, again, strict=True):
        rollouts = [judge_rollout(prefix, c.text, "7") for c in samples]
        assert label.params["answers"] == [r.answer[:80] if r.answer else None for r in rollouts]
        assert label.params["outcomes"] == [r.correct for r in rollouts]
        value = sum(label.params["outcomes"]) / 2
        assert (label.params["rollouts"], label.params["correct"]) == (2, sum(label.params["outcomes"]))
        assert label.confidence == value and label.value == hard_label(value)
    first_error = next((label.step.index for label in labels if label.confidence == 0), -1)
    assert TraceAnnotation.objects.get(trace=trace, source=MC_SOURCE).first_error_step == first_error
    assert run.report["rollouts"] == 6 and run.tokens_generated > 0


def scripted_rollout(body: dict[str, Any], index: int) -> str:
    """A rollout model that finishes right unless the partial answer went wrong."""
    prefix = body["messages"][-1]["content"]
    return "So the answer is 5." if "WRONG" in prefix else "So the answer is 7."


@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_an_mc_job_end_to_end(project: Project, declare_endpoints, start_workers, wait_for) -> None:
    with FakeOpenAIServer(FakeBehaviour(responder=scripted_rollout)) as server:
        start_workers(env=declare_endpoints(fake={"backend": "openai", "base_url": server.base_url + "/v1"}))
        trace = store(project, ["3 + 4 = 7.", "WRONG: 3 + 4 = 8.", "The answer is 8."])
        roller = LanguageModel.objects.create(
            project=project, name="served", backend="openai", endpoint="fake", served_model="fake-model"
        )
        run = do_start_mc(
            project, roller, McSpec(k=3, mode="linear", max_new_tokens=20), Selection(trace_ids=(trace.pk,))
        )
        wait_for(lambda: Run.objects.get(pk=run.pk).status not in (RunStatus.QUEUED, RunStatus.RUNNING), timeout=120)

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert (run.progress_done, run.report["rollouts"]) == (1, 9)
    values = Label.objects.filter(trace=trace, source=MC_SOURCE).order_by("step__index")
    assert [(label.value, label.confidence) for label in values] == [(1, 1.0), (-1, 0.0), (-1, 0.0)]
    assert len(server.record.chat_requests) == 3
    assert all(body["n"] == 3 and body["continue_final_message"] for body in server.record.chat_requests)
