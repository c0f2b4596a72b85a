"""The trace list (SPEC §4): filters, keyset pagination, htmx fragments and a bounded query count."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from trace_factory import LabelSpec, TraceSpec

from traces.views.traces import PAGE_SIZE

pytestmark = pytest.mark.django_db

SPECS = [
    TraceSpec(key="alpha", model="model-a", run="run-1", is_correct=True, finish_reason="stop",
              labels=[LabelSpec(step=0, value=1)]),
    TraceSpec(key="bravo", model="model-b", run="run-1", is_correct=False, finish_reason="stop"),
    TraceSpec(key="charlie", model="model-a", run="run-2", is_correct=None, finish_reason="length",
              think=["Let me think about zebras."], think_closed=False, steps=[]),
    TraceSpec(key="delta", model="model-b", run="run-2", is_correct=True, finish_reason="length",
              labels=[LabelSpec(step=1, value=-1)]),
    TraceSpec(key="echo", model="model-a", run="run-1", is_correct=False, finish_reason="error",
              prompt="Problem echo: how many ZEBRA legs?"),
]


def keys_in(response) -> set[str]:
    """The spec keys of the traces a list response shows (each prompt starts "Problem <key>")."""
    return {re.match(r"Problem (\w+)", t.problem_excerpt).group(1) for t in response.context["page"].traces}


@pytest.fixture
def seeded(make_traces):
    return make_traces(SPECS)


def list_url(**params: object) -> str:
    return reverse("trace-list", args=["test"]) + ("?" + urlencode(params) if params else "")


def test_unfiltered_list_shows_every_trace_newest_first(member_client, seeded) -> None:
    response = member_client.get(list_url())
    assert response.status_code == 200
    ids = [t.pk for t in response.context["page"].traces]
    assert ids == sorted((t.pk for t in seeded.values()), reverse=True)
    body = response.content.decode()
    assert reverse("trace-detail", args=["test", seeded["alpha"].pk]) in body


@pytest.mark.parametrize(
    "field, value, predicate",
    [
        ("correct", "yes", lambda s: s.is_correct is True),
        ("correct", "no", lambda s: s.is_correct is False),
        ("correct", "undetermined", lambda s: s.is_correct is None),
        ("finish_reason", "length", lambda s: s.finish_reason == "length"),
        ("finish_reason", "error", lambda s: s.finish_reason == "error"),
        ("labeled", "yes", lambda s: bool(s.labels)),
        ("labeled", "no", lambda s: not s.labels),
        ("q", "zebra", lambda s: "zebra" in (s.prompt + " ".join(s.think + s.steps)).lower()),
    ],
)
def test_each_filter_narrows_the_list(member_client, seeded, field, value, predicate) -> None:
    expected = {spec.key for spec in SPECS if predicate(spec)}
    assert expected and expected != {spec.key for spec in SPECS}  # the case really narrows
    assert keys_in(member_client.get(list_url(**{field: value}))) == expected


def test_model_and_run_filters_take_ids_and_combine(member_client, seeded) -> None:
    model_a = seeded["alpha"].model_id
    run_2 = seeded["charlie"].run_id
    assert keys_in(member_client.get(list_url(model=model_a))) == {s.key for s in SPECS if s.model == "model-a"}
    assert keys_in(member_client.get(list_url(run=run_2))) == {s.key for s in SPECS if s.run == "run-2"}
    both = {s.key for s in SPECS if s.model == "model-a" and s.run == "run-2"}
    assert keys_in(member_client.get(list_url(model=model_a, run=run_2))) == both


def test_a_model_of_another_project_is_a_form_error_not_a_leak(member_client, seeded, make_traces) -> None:
    from traces.models import Project

    other = Project.objects.create(name="Other team", slug="other-team")
    foreign = make_traces([TraceSpec(key="foreign", model="secret-model")], in_project=other)["foreign"]
    response = member_client.get(list_url(model=foreign.model_id))
    assert response.status_code == 200
    assert response.context["page"].traces == []
    body = response.content.decode()
    assert "Some filters are not valid" in body
    assert "secret-model" not in body


def test_no_match_and_empty_project_have_their_own_messages(member_client, seeded, project) -> None:
    assert "No traces match these filters" in member_client.get(list_url(q="nothing like this")).content.decode()
    project.traces.all().delete()
    body = member_client.get(list_url()).content.decode()
    assert "No traces yet" in body
    assert "manage.py import_traces" in body and "--project test" in body


def test_keyset_pages_cover_every_trace_once(member_client, make_traces) -> None:
    total = 2 * PAGE_SIZE + 7
    traces = make_traces([TraceSpec(key=f"t{i}") for i in range(total)])
    seen: list[int] = []
    url = list_url()
    pages = 0
    while url:
        page = member_client.get(url).context["page"]
        seen.extend(t.pk for t in page.traces)
        url = f"{list_url()}?{page.next_query}" if page.next_query else ""
        pages += 1
    assert pages == 3
    assert len(seen) == len(set(seen)) == total
    assert seen == sorted((t.pk for t in traces.values()), reverse=True)


def test_cursor_keeps_the_filters(member_client, make_traces) -> None:
    specs = [TraceSpec(key=f"t{i}", finish_reason="length" if i % 2 else "stop") for i in range(PAGE_SIZE * 2 + 2)]
    make_traces(specs)
    first = member_client.get(list_url(finish_reason="length")).context["page"]
    assert "finish_reason=length" in first.next_query
    second = member_client.get(f"{list_url()}?{first.next_query}").context["page"]
    assert {t.finish_reason for t in first.traces + second.traces} == {"length"}
    assert len(first.traces) + len(second.traces) == sum(1 for s in specs if s.finish_reason == "length")
    assert not {t.pk for t in first.traces} & {t.pk for t in second.traces}


def test_htmx_filter_request_returns_only_the_results_fragment(member_client, seeded) -> None:
    response = member_client.get(list_url(correct="yes"), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="trace-results")
    body = response.content.decode().strip()
    assert body.startswith('<section id="trace-results"')
    assert body.endswith("</section>")
    assert "<html" not in body and 'class="filters"' not in body
    assert "HX-Request" in response["Vary"]


def test_htmx_load_more_returns_only_the_next_rows(member_client, make_traces) -> None:
    make_traces([TraceSpec(key=f"t{i}") for i in range(PAGE_SIZE + 3)])
    first = member_client.get(list_url()).context["page"]
    response = member_client.get(
        f"{list_url()}?{first.next_query}", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="load-more"
    )
    body = response.content.decode().strip()
    assert body.startswith("<tr>")
    assert "<table" not in body and "<section" not in body and "<html" not in body
    assert body.count("<tr>") == 3
    assert 'id="load-more"' not in body  # the last page has no further "Load more"


def test_full_page_has_a_load_more_link_that_works_without_javascript(member_client, make_traces) -> None:
    make_traces([TraceSpec(key=f"t{i}") for i in range(PAGE_SIZE + 1)])
    response = member_client.get(list_url())
    page = response.context["page"]
    body = response.content.decode()
    assert f'href="?{page.next_query}"' in body
    assert 'hx-target="#load-more"' in body


def test_list_query_count_does_not_grow_with_traces(member_client, make_traces, django_assert_max_num_queries) -> None:
    labels = [LabelSpec(step=0, value=1), LabelSpec(step=1, value=0, source="mc_rollout")]
    make_traces([TraceSpec(key=f"t{i}", labels=labels, model=f"m{i % 3}") for i in range(PAGE_SIZE + 10)])
    # session, user, project, the gold sources hidden from the person, the form's models, runs and scores, the page
    with django_assert_max_num_queries(8):
        response = member_client.get(list_url(labeled="yes", q="Problem"))
    assert len(response.context["page"].traces) == PAGE_SIZE
    assert {t.label_count for t in response.context["page"].traces} == {2}
    assert {t.step_count for t in response.context["page"].traces} == {2}
