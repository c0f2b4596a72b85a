"""The labeling view (issue 6 item 1) and its actions: keys, first-error mode, undo, suggestions, roles, concurrency.

Expected labels are computed here from the specs each test writes (ProcessBench's first-error rule
spelled out again below), never read back from the code under test.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from trace_factory import LabelSpec, TraceSpec

from traces.actions.labels import LabelInput, do_rate_step, do_save_labels
from traces.models import HUMAN, Label, LabelChange, Membership, Project, Role, Step, Trace, TraceAnnotation

pytestmark = pytest.mark.django_db

PAYLOAD = '<script>alert(1)</script> <img src=x onerror=alert(1)> " onfocus="alert(1)'


@pytest.fixture
def member(make_user, project) -> Callable[[str, Role], tuple[object, Client]]:
    """``member(name, role)``: a user of that role in the project and a client logged in as them."""

    def make(name: str, role: Role = Role.ANNOTATOR) -> tuple[object, Client]:
        user = make_user(name)
        Membership.objects.create(project=project, user=user, role=role)
        client = Client()
        client.force_login(user)
        return user, client

    return make


URL_NAMES = {
    "page": "trace-label",
    "step": "trace-label-step",
    "undo": "trace-label-undo",
    "verdicts": "trace-label-verdicts",
    "next": "trace-label-next",
}


def urls(trace: Trace) -> dict[str, str]:
    return {key: reverse(name, args=[trace.project.slug, trace.pk]) for key, name in URL_NAMES.items()}


def steps_of(trace: Trace) -> list[Step]:
    return list(Step.objects.filter(segmentation_id=trace.current_segmentation_id).order_by("index"))


def my_values(trace: Trace, user: object) -> list[int | None]:
    """The person's human label value of each step in order (None: no label)."""
    by_step = dict(Label.objects.filter(trace=trace, source=HUMAN, user=user).values_list("step__index", "value"))
    return [by_step.get(step.index) for step in steps_of(trace)]


def post_key(client: Client, trace: Trace, action: str, step: Step | None = None, **extra: object):
    data = {"action": action, **extra}
    if step is not None:
        data["step"] = step.pk
    return client.post(urls(trace)["step"], data, HTTP_HX_REQUEST="true")


def swapped_cells(body: str) -> dict[int, str]:
    """The label cells a keystroke's answer brings (in its hidden holder): step id → the cell's data-value."""
    status, _, holder = body.partition("<div hidden data-label-cells>")
    assert 'class="my-label"' not in status
    cells = re.findall(r'<div class="my-label" id="my-label-(\d+)" data-value="([^"]*)"', holder)
    return {int(step_id): value for step_id, value in cells}


def five_steps(make_traces, **spec: object) -> Trace:
    """A trace of two think steps and three answer steps."""
    steps = ["a2", "a3", "So the answer is 4."]
    return make_traces([TraceSpec(key="five", think=["t0", "t1"], steps=steps, **spec)])["five"]


def processbench_values(count: int, first_error: int) -> list[int | None]:
    """ProcessBench (SPEC §2): +1 before the first error, −1 at it, nothing after; −1 = no error, all +1."""
    if first_error == -1:
        return [1] * count
    return [1 if i < first_error else -1 if i == first_error else None for i in range(count)]


# --- Roles --------------------------------------------------------------------------------------------------


ENDPOINTS = [
    ("page", "get", {}),
    ("next", "get", {}),
    ("step", "post", {"action": "no_error"}),
    ("undo", "post", {}),
    ("verdicts", "post", {"note": "x"}),
]


@pytest.mark.parametrize("endpoint, method, data", ENDPOINTS)
def test_anonymous_is_sent_to_login(client, make_traces, endpoint, method, data) -> None:
    trace = five_steps(make_traces)
    url = urls(trace)[endpoint]
    response = getattr(client, method)(url, data)
    assert response.status_code == 302 and response["Location"] == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize("endpoint, method, data", ENDPOINTS)
def test_non_member_gets_404(outsider_client, make_traces, endpoint, method, data) -> None:
    trace = five_steps(make_traces)
    assert getattr(outsider_client, method)(urls(trace)[endpoint], data).status_code == 404
    assert not Label.objects.filter(source=HUMAN).exists() and not TraceAnnotation.objects.exists()


@pytest.mark.parametrize("endpoint, method, data", ENDPOINTS)
def test_viewer_gets_403_and_writes_nothing(member, make_traces, endpoint, method, data) -> None:
    trace = five_steps(make_traces)
    _, client = member("vera", Role.VIEWER)
    assert getattr(client, method)(urls(trace)[endpoint], data).status_code == 403
    assert not Label.objects.filter(source=HUMAN).exists() and not TraceAnnotation.objects.exists()


@pytest.mark.parametrize("role", [Role.ANNOTATOR, Role.REVIEWER, Role.OWNER])
def test_annotator_and_above_may_label(member, make_traces, role) -> None:
    trace = five_steps(make_traces)
    user, client = member("ann", role)
    assert client.get(urls(trace)["page"]).status_code == 200
    assert post_key(client, trace, "rate", steps_of(trace)[0], value=1).status_code == 200
    assert my_values(trace, user) == [1, None, None, None, None]


def test_a_trace_of_another_project_is_404_and_a_step_of_another_trace_is_refused(member, make_traces) -> None:
    trace, other = make_traces([TraceSpec(key="mine"), TraceSpec(key="other")]).values()
    elsewhere = Project.objects.create(name="Elsewhere", slug="elsewhere")
    hidden = make_traces([TraceSpec(key="hidden")], in_project=elsewhere)["hidden"]
    _, client = member("ann")
    wrong_project = reverse("trace-label-step", args=[trace.project.slug, hidden.pk])
    assert client.post(wrong_project, {"action": "no_error"}).status_code == 404
    assert client.get(reverse("trace-label", args=[trace.project.slug, hidden.pk])).status_code == 404

    response = post_key(client, trace, "rate", steps_of(other)[0], value=1)
    assert response.status_code == 400
    assert response.content.decode().startswith("step: Select a valid choice")
    assert not Label.objects.filter(source=HUMAN).exists()


@pytest.mark.parametrize(
    "data, message",
    [
        ({}, "action: This field is required."),
        ({"action": "rate"}, "step: the action 'rate' needs a step of this trace"),
        ({"action": "shout", "step": "STEP"}, "action: Select a valid choice. shout is not one of the available"),
        ({"action": "rate", "step": "STEP"}, "value: rating needs a value: -1, 0 or 1"),
        ({"action": "rate", "step": "STEP", "value": "7"}, "value: Select a valid choice. 7 is not one of the"),
    ],
)
def test_bad_keystrokes_get_400_naming_the_field(member, make_traces, data, message) -> None:
    trace = five_steps(make_traces)
    _, client = member("ann")
    if data.get("step") == "STEP":
        data = {**data, "step": steps_of(trace)[0].pk}
    response = client.post(urls(trace)["step"], data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Label.objects.filter(source=HUMAN).exists()


# --- The page ------------------------------------------------------------------------------------------------


def test_page_shows_own_labels_and_automatic_suggestions_but_not_other_peoples_labels(member, make_user, make_traces) -> None:
    other = make_user("olga")
    trace = five_steps(
        make_traces,
        labels=[
            LabelSpec(step=1, value=-1, source="mc_rollout", confidence=0.25),
            LabelSpec(step=1, value=1, source="llm_judge:qwen", confidence=0.9),
            LabelSpec(step=1, value=0, source=HUMAN, user=other, note="olga's private judgment"),
        ],
    )
    user, client = member("ann")
    steps = steps_of(trace)
    do_save_labels(user, [LabelInput(step=steps[3], value=-1, flagged=True)])

    body = client.get(urls(trace)["page"]).content.decode()

    assert body.count("data-label-step") == 5
    assert "olga" not in body
    cells = re.findall(r'<div class="my-label" id="my-label-(\d+)" data-value="([^"]*)"', body)
    assert cells == [(str(s.pk), "-1" if s.index == 3 else "") for s in steps]
    assert "1 / 5 rated by you" in body
    suggestion_chips = re.findall(
        r'<li class="chip chip-auto( chip-best)?".*?<span class="chip-source">([^<]*)</span>\s*'
        r'<span class="chip-confidence" title="confidence">([^<]*)</span>',
        body,
        re.S,
    )
    # Sorted by source; the highest confidence is the one `a` accepts.
    assert suggestion_chips == [(" chip-best", "llm_judge:qwen", "0.90"), ("", "mc_rollout", "0.25")]
    for key in ("1", "2", "3", "f", "a", "e", "⇧E", "u", "n", "?"):
        assert f"<kbd>{key}</kbd>" in body, key
    page_body = body.split("</head>")[1]
    assert "<script" not in page_body and not re.search(r"\son[a-z]+=", page_body)  # the CSP forbids inline code


def test_everything_a_model_or_a_source_wrote_is_escaped(member, make_traces) -> None:
    spec = TraceSpec(
        key="xss",
        prompt=f"Problem {PAYLOAD}",
        think=[f"think {PAYLOAD}"],
        steps=[f"step {PAYLOAD}"],
        final_answer=f"final {PAYLOAD}",
        labels=[LabelSpec(step=1, value=1, source=f"llm_judge:{PAYLOAD}", confidence=0.5)],
    )
    trace = make_traces([spec])["xss"]
    user, client = member("ann")
    post_key(client, trace, "accept", steps_of(trace)[1])
    do_save_labels(user, [LabelInput(step=steps_of(trace)[0], value=1, note=f"note {PAYLOAD}")])
    body = client.get(urls(trace)["page"]).content.decode()
    assert "<script>alert" not in body and "<img src=x" not in body and 'onfocus="alert(1)"' not in body
    for place in ("Problem", "think", "step", "final", "llm_judge:", "note"):
        assert f"{place} &lt;script&gt;" in body or f"{place}&lt;script&gt;" in body, place


# --- Keys ------------------------------------------------------------------------------------------------------


def test_rate_swaps_only_that_steps_cell_and_keeps_flag_and_note(member, make_traces) -> None:
    trace = five_steps(make_traces)
    user, client = member("ann")
    steps = steps_of(trace)

    response = post_key(client, trace, "rate", steps[2], value=1)
    body = response.content.decode()
    assert response.status_code == 200
    assert swapped_cells(body) == {steps[2].pk: "1"}
    assert "a2" not in body and "<html" not in body  # a fragment: no step text, no page
    assert re.search(r'<span id="label-progress" [^>]*hx-swap-oob="true">1 / 5 rated by you', body)

    post_key(client, trace, "flag", steps[2])
    Label.objects.filter(user=user, step=steps[2]).update(note="kept")
    post_key(client, trace, "rate", steps[2], value=-1)
    label = Label.objects.get(user=user, step=steps[2], source=HUMAN)
    assert (label.value, label.flagged, label.note) == (-1, True, "kept")
    post_key(client, trace, "flag", steps[2])
    assert Label.objects.get(pk=label.pk).flagged is None

    same = post_key(client, trace, "rate", steps[2], value=-1).content.decode()
    assert swapped_cells(same) == {} and "no change" in same
    assert LabelChange.objects.filter(user=user, trace=trace).count() == 4  # the no-op left no history


def test_flag_alone_on_an_unrated_step_and_unflag_leaves_no_empty_label(member, make_traces) -> None:
    trace = five_steps(make_traces)
    user, client = member("ann")
    step = steps_of(trace)[0]
    post_key(client, trace, "flag", step)
    assert Label.objects.get(user=user, step=step).flagged is True
    post_key(client, trace, "flag", step)
    assert not Label.objects.filter(user=user, step=step).exists()


def test_accept_takes_the_most_confident_suggestion_and_records_its_source(member, make_traces) -> None:
    trace = five_steps(
        make_traces,
        labels=[
            LabelSpec(step=0, value=-1, source="mc_rollout", confidence=0.2),
            LabelSpec(step=0, value=1, source="llm_judge:a", confidence=0.8),
            LabelSpec(step=1, value=0, source="heuristic:loops"),  # no confidence
            LabelSpec(step=1, value=-1, source="mc_rollout", confidence=0.1),
        ],
    )
    user, client = member("ann")
    steps = steps_of(trace)
    assert my_values(trace, user) == [None] * 5  # suggestions are not the person's labels
    assert "0 / 5 rated by you" in client.get(urls(trace)["page"]).content.decode()

    post_key(client, trace, "accept", steps[0])
    post_key(client, trace, "accept", steps[1])
    refused = post_key(client, trace, "accept", steps[2])

    first, second = (Label.objects.get(user=user, step=s, source=HUMAN) for s in steps[:2])
    assert (first.value, first.params["accepted"]) == (1, {"source": "llm_judge:a", "value": 1, "confidence": 0.8})
    assert (second.value, second.params["accepted"]["source"]) == (-1, "mc_rollout")  # a confidence beats none
    assert refused.status_code == 200 and "step 3 has no automatic suggestion to accept" in refused.content.decode()
    assert Label.objects.exclude(source=HUMAN).count() == 4  # the automatic labels stay as they were
    page = client.get(urls(trace)["page"]).content.decode()
    assert "accepted from <span class=\"chip-source\">llm_judge:a</span>" in page

    post_key(client, trace, "rate", steps[0], value=0)  # changing it makes it the person's own again
    assert "accepted" not in Label.objects.get(pk=first.pk).params


@pytest.mark.parametrize("first_error", [0, 2, 4, -1])
def test_first_error_mode_follows_processbench(member, make_user, make_traces, first_error) -> None:
    other = make_user("olga")
    trace = five_steps(make_traces, labels=[LabelSpec(step=i, value=0, source=HUMAN, user=other) for i in range(5)])
    user, client = member("ann")
    steps = steps_of(trace)
    do_save_labels(user, [LabelInput(step=steps[i], value=0, flagged=True, note=f"n{i}") for i in (0, 3, 4)])

    if first_error == -1:
        response = post_key(client, trace, "no_error")
    else:
        response = post_key(client, trace, "first_error", steps[first_error])

    expected = processbench_values(5, first_error)
    assert my_values(trace, user) == expected
    annotation = TraceAnnotation.objects.get(trace=trace, user=user, source=HUMAN)
    assert annotation.first_error_step == first_error
    assert my_values(trace, other) == [0] * 5  # another person's labels are untouched
    kept = Label.objects.get(user=user, step=steps[0])
    assert (kept.flagged, kept.note) == (True, "n0")  # a re-rated step keeps its flag and note
    body = response.content.decode()
    before = [0 if step.index in (0, 3, 4) else None for step in steps]
    changed = {s.pk: "" if v is None else str(v) for s, v, old in zip(steps, expected, before, strict=True) if v != old}
    if first_error >= 0:
        changed[steps[first_error].pk] = "-1"  # its first-error mark is new even if the value were the same
    assert swapped_cells(body) == changed
    if first_error >= 0:
        assert f"your first error: step {first_error + 1}" in body
    else:
        assert "you: no erroneous step" in body


def test_undo_goes_back_change_by_change_and_survives_a_new_request(member, make_traces) -> None:
    trace = five_steps(make_traces)
    user, client = member("ann")
    steps = steps_of(trace)
    post_key(client, trace, "rate", steps[3], value=0)
    post_key(client, trace, "flag", steps[3])
    post_key(client, trace, "first_error", steps[1])
    assert my_values(trace, user) == [1, -1, None, None, None]

    undone = client.post(urls(trace)["undo"], HTTP_HX_REQUEST="true").content.decode()
    assert "Undid the last first-error mode." in undone
    assert my_values(trace, user) == [None, None, None, 0, None]
    assert Label.objects.get(user=user, step=steps[3]).flagged is True
    assert not TraceAnnotation.objects.filter(trace=trace, user=user).exists()  # it held only the first error
    assert set(swapped_cells(undone)) == {steps[0].pk, steps[1].pk, steps[3].pk}

    fresh = Client()
    fresh.force_login(user)  # a new session: the history lives in the database
    fresh.post(urls(trace)["undo"])
    assert Label.objects.get(user=user, step=steps[3]).flagged is None
    fresh.post(urls(trace)["undo"])
    assert my_values(trace, user) == [None] * 5
    assert "Nothing to undo." in fresh.post(urls(trace)["undo"]).content.decode()


def test_undo_restores_the_previous_first_error(member, make_traces) -> None:
    trace = five_steps(make_traces)
    user, client = member("ann")
    steps = steps_of(trace)
    post_key(client, trace, "first_error", steps[3])
    post_key(client, trace, "first_error", steps[1])
    body = client.post(urls(trace)["undo"]).content.decode()
    assert my_values(trace, user) == processbench_values(5, 3)
    assert TraceAnnotation.objects.get(trace=trace, user=user).first_error_step == 3
    assert "your first error: step 4" in body


def test_api_saves_are_undone_too(member, make_traces) -> None:
    trace = five_steps(make_traces)
    user, client = member("ann")
    step = steps_of(trace)[0]
    post_key(client, trace, "rate", step, value=1)
    api = client.post(reverse("label-list"), {"step": step.pk, "value": -1}, content_type="application/json")
    assert api.status_code == 201
    client.post(urls(trace)["undo"])
    assert my_values(trace, user)[0] == 1


# --- Two people --------------------------------------------------------------------------------------------------


def test_two_people_interleaving_keep_each_others_labels(member, make_traces) -> None:
    trace = five_steps(make_traces)
    ann, ann_client = member("ann")
    bob, bob_client = member("bob")
    steps = steps_of(trace)

    post_key(ann_client, trace, "rate", steps[0], value=1)
    post_key(bob_client, trace, "rate", steps[0], value=-1)
    post_key(ann_client, trace, "flag", steps[0])
    post_key(bob_client, trace, "first_error", steps[2])
    post_key(ann_client, trace, "rate", steps[4], value=0)
    post_key(bob_client, trace, "rate", steps[4], value=1)
    ann_client.post(urls(trace)["undo"])  # undoes ann's rating of step 5, nothing of bob's

    assert my_values(trace, ann) == [1, None, None, None, None]
    assert Label.objects.get(user=ann, step=steps[0]).flagged is True
    assert my_values(trace, bob) == [1, 1, -1, None, 1]
    first_errors = dict(TraceAnnotation.objects.filter(trace=trace).values_list("user__username", "first_error_step"))
    assert first_errors == {"bob": 2}
    ann_page = ann_client.get(urls(trace)["page"]).content.decode()
    assert "1 / 5 rated by you" in ann_page and "your first error" not in ann_page


@pytest.mark.django_db(transaction=True)
def test_concurrent_saves_on_the_same_step_lose_nothing(make_user, project, make_traces) -> None:
    """Threads with their own connections save at the same moment (PostgreSQL: real row locks)."""
    trace = five_steps(make_traces)
    shared, first_insert = steps_of(trace)[1:3]
    ann, bob = make_user("ann"), make_user("bob")
    rounds = 5
    errors: list[BaseException] = []

    def save_together(step: Step, jobs: list[tuple[object, int]]) -> None:
        barrier = threading.Barrier(len(jobs))

        def run(user: object, value: int) -> None:
            try:
                barrier.wait()
                do_rate_step(user, step, value)
            except BaseException as error:  # reported by the assertion below
                errors.append(error)
            finally:
                connection.close()

        threads = [threading.Thread(target=run, args=job) for job in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    for _ in range(rounds):
        save_together(shared, [(ann, 1), (bob, -1)])  # two people, one step
    save_together(first_insert, [(ann, 0), (ann, 1)])  # one person twice on a new step: both try the first insert
    assert errors == []
    values = dict(Label.objects.filter(step=shared, source=HUMAN).values_list("user__username", "value"))
    assert values == {"ann": 1, "bob": -1}
    people = Label.objects.filter(step=first_insert, source=HUMAN).values_list("user__username", flat=True)
    assert list(people) == ["ann"]
    assert Label.objects.get(step=first_insert, source=HUMAN).value in (0, 1)


# --- Trace-level form and next -------------------------------------------------------------------------------


def test_trace_level_form_saves_through_htmx_and_keeps_the_first_error(member, make_traces) -> None:
    trace = five_steps(make_traces)
    user, client = member("ann")
    post_key(client, trace, "first_error", steps_of(trace)[2])
    data = {
        "final_answer_verdict": "incorrect",
        "mismatch_verdict": "mismatch",
        "overthinking_verdict": "severe",
        "tags": " loop, arithmetic ,loop,, ",
        "note": f"see step 3 {PAYLOAD}",
    }

    response = client.post(urls(trace)["verdicts"], data, HTTP_HX_REQUEST="true")
    body = response.content.decode()

    assert response.status_code == 200
    assert body.startswith('<form id="trace-verdicts"') and "Saved." in body
    annotation = TraceAnnotation.objects.get(trace=trace, user=user, source=HUMAN)
    verdicts = (annotation.final_answer_verdict, annotation.mismatch_verdict, annotation.overthinking_verdict)
    assert verdicts == ("incorrect", "mismatch", "severe")
    assert annotation.tags == ["loop", "arithmetic"]
    assert annotation.first_error_step == 2
    assert "<script>alert" not in body
    assert 'value="loop, arithmetic"' in client.get(urls(trace)["page"]).content.decode()

    plain = client.post(urls(trace)["verdicts"], {**data, "note": ""})
    assert plain.status_code == 302 and plain["Location"] == urls(trace)["page"]
    assert TraceAnnotation.objects.get(pk=annotation.pk).note == ""


@pytest.mark.parametrize(
    "data, error",
    [
        ({"final_answer_verdict": "maybe"}, "Select a valid choice. maybe is not one of the available choices."),
        ({"tags": ",".join(f"t{i}" for i in range(21))}, "tags: at most 20 tags, got 21"),
        ({"tags": "x" * 41}, "tags: each tag is 1 to 40 characters"),
    ],
)
def test_trace_level_form_refuses_bad_values_and_says_which(member, make_traces, data, error) -> None:
    trace = five_steps(make_traces)
    _, client = member("ann")
    body = client.post(urls(trace)["verdicts"], data, HTTP_HX_REQUEST="true").content.decode()
    assert error in body and "Saved." not in body
    assert not TraceAnnotation.objects.exists()


def test_next_goes_to_the_next_trace_without_my_labels_in_list_order(member, make_traces) -> None:
    traces = make_traces([TraceSpec(key=f"t{i}") for i in range(4)])  # list order: newest (t3) first
    t0, t1, t2, t3 = (traces[f"t{i}"] for i in range(4))
    user, client = member("ann")
    do_save_labels(user, [LabelInput(step=steps_of(t1)[0], value=1)])

    def next_of(trace: Trace) -> str:
        return client.get(urls(trace)["next"])["Location"]

    assert next_of(t3) == urls(t2)["page"]
    assert next_of(t2) == urls(t0)["page"]  # t1 has my label
    assert next_of(t0) == urls(t3)["page"]  # wraps around to the top of the list
    for trace in (t0, t2, t3):
        do_save_labels(user, [LabelInput(step=steps_of(trace)[0], value=1)])
    assert next_of(t3) == urls(t3)["page"] + "?finished=1"
    assert "nothing left to label" in client.get(next_of(t3)).content.decode()


def test_a_label_save_costs_the_same_queries_on_a_600_step_trace(member, make_traces) -> None:
    small = five_steps(make_traces)
    big = make_traces([TraceSpec(key="big", think=[f"thought {i}" for i in range(598)])])["big"]
    _, client = member("ann")
    counts = []
    for trace in (small, big):
        step = steps_of(trace)[3]
        post_key(client, trace, "rate", step, value=1)  # the first save creates the row
        with CaptureQueriesContext(connection) as captured:
            response = post_key(client, trace, "rate", step, value=-1)
        counts.append(len(captured.captured_queries))
        assert len(response.content) < 2000  # one cell, the progress and the badge: not the 600 steps
    assert counts[0] == counts[1] and counts[0] <= 16


def test_the_trace_viewer_links_to_the_labeling_page(member, make_traces) -> None:
    trace = five_steps(make_traces)
    _, client = member("ann")
    body = client.get(reverse("trace-detail", args=[trace.project.slug, trace.pk])).content.decode()
    assert f'href="{urls(trace)["page"]}">Label this trace</a>' in body
