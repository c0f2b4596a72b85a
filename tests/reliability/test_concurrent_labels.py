"""Concurrent label saves through the live server lose nothing (issue 9 item 4).

Two logged-in browser sessions (``requests`` sessions, CSRF token and all) save labels on one trace
at the same time through the labeling endpoint, 100 saves each: on different steps, on the same step
as two people, and on the same step as one person in two tabs. Every save is acknowledged (200), and
the database ends holding each session's last acknowledged value, with one label row per person and
step (no duplicate from a race on the unique constraint). Each saver cycles the values from its own
offset, so savers that could be confused (one person on two steps, two people on one step, two tabs)
end on different values, and a save landing on the wrong row cannot pass for the right one.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

import pytest
import requests
from django.urls import reverse

from traces.actions.store import store_traces
from traces.formats.base import ParsedStep, ParsedTrace
from traces.models import HUMAN, Label, Membership, Project, Role, Run, RunKind, Step, Trace

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct horse battery"
SAVES = 100
VALUES = (1, -1, 0)


def seed(make_user) -> tuple[Trace, list[Step]]:
    project = Project.objects.create(name="Concurrent", slug="concurrent")
    for name in ("ann", "bea"):
        Membership.objects.create(project=project, user=make_user(name, PASSWORD), role=Role.ANNOTATOR)
    run = Run.objects.create(project=project, kind=RunKind.IMPORT, name="c.jsonl")
    parsed = ParsedTrace(line_no=1, prompt="What is 2+2?", reference_answer="4", text="", model_name="m",
                         steps=[ParsedStep(text=f"step {i}") for i in range(3)])  # fmt: skip
    store_traces(project, run, [parsed])
    trace = Trace.objects.get()
    return trace, list(Step.objects.filter(trace=trace).order_by("index"))


def session(live_server, username: str) -> requests.Session:
    """Log in through the login form, as a browser does."""
    browser = requests.Session()
    login = live_server.url + reverse("login")
    page = browser.get(login, timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]
    answer = browser.post(login, {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
                          headers={"Referer": login}, timeout=30, allow_redirects=False)  # fmt: skip
    assert answer.status_code == 302, answer.text[:300]
    return browser


def saver(
    live_server, browser: requests.Session, trace: Trace, step: Step, acknowledged: list[int], offset: int
) -> Callable[[], None]:
    url = live_server.url + reverse("trace-label-step", args=[trace.project.slug, trace.pk])

    def save_many() -> None:
        for i in range(SAVES):
            value = VALUES[(i + offset) % len(VALUES)]
            answer = browser.post(url, {"action": "rate", "step": step.pk, "value": value},
                                  headers={"X-CSRFToken": browser.cookies["csrftoken"], "HX-Request": "true",
                                           "Referer": url}, timeout=60)  # fmt: skip
            assert answer.status_code == 200, answer.text[:300]
            acknowledged.append(value)

    return save_many


def run_together(*jobs: Callable[[], None]) -> None:
    errors: list[BaseException] = []

    def guarded(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as error:  # noqa: BLE001 - reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not errors, errors


def my_value(username: str, step: Step) -> list[int | None]:
    return list(Label.objects.filter(step=step, source=HUMAN, user__username=username).values_list("value", flat=True))


def test_two_people_on_different_and_same_steps(live_server, make_user) -> None:
    trace, steps = seed(make_user)
    ann, bea = session(live_server, "ann"), session(live_server, "bea")
    acks: dict[str, list[int]] = {"ann0": [], "bea1": [], "ann2": [], "bea2": []}
    run_together(
        saver(live_server, ann, trace, steps[0], acks["ann0"], offset=0),
        saver(live_server, bea, trace, steps[1], acks["bea1"], offset=1),
        saver(live_server, ann, trace, steps[2], acks["ann2"], offset=1),
        saver(live_server, bea, trace, steps[2], acks["bea2"], offset=2),
    )
    assert all(len(values) == SAVES for values in acks.values())
    assert acks["ann0"][-1] != acks["ann2"][-1] != acks["bea2"][-1], "the finals must tell the rows apart"
    assert my_value("ann", steps[0]) == [acks["ann0"][-1]]
    assert my_value("bea", steps[1]) == [acks["bea1"][-1]]
    assert my_value("ann", steps[2]) == [acks["ann2"][-1]], "one person's saves on a shared step were lost"
    assert my_value("bea", steps[2]) == [acks["bea2"][-1]]


def test_one_person_in_two_tabs_on_one_step(live_server, make_user) -> None:
    trace, steps = seed(make_user)
    first, second = session(live_server, "ann"), session(live_server, "ann")
    acks: dict[str, list[int]] = {"first": [], "second": []}
    run_together(
        saver(live_server, first, trace, steps[0], acks["first"], offset=0),
        saver(live_server, second, trace, steps[0], acks["second"], offset=1),
    )
    assert len(acks["first"]) == len(acks["second"]) == SAVES
    assert acks["first"][-1] != acks["second"][-1], "the tabs' finals must differ"
    final = my_value("ann", steps[0])
    assert len(final) == 1, f"{len(final)} label rows for one person and step"
    assert final[0] in (acks["first"][-1], acks["second"][-1])
