"""The automatic-label forms (issue 5 items 4, 5): from the trace viewer (one trace, an htmx
fragment) and from the trace list's filters; who may start them; refused requests; auto labels
showing in the viewer and the labeling view as suggestions with their source and confidence."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse
from trace_factory import LabelSpec, TraceSpec

from traces.models import LanguageModel, Membership, Project, Role, Run, RunKind, Trace

pytestmark = pytest.mark.django_db


@pytest.fixture
def traces(make_traces: Callable[..., dict[str, Trace]], project: Project, declare_endpoints) -> dict[str, Trace]:
    made = make_traces([TraceSpec("alpha", model="gen"), TraceSpec("beta", model="gen", is_correct=False)])
    declare_endpoints(judges={"backend": "openai", "base_url": "http://127.0.0.1:9/v1"})
    LanguageModel.objects.create(project=project, name="roller", backend="transformers", endpoint="embedded")
    LanguageModel.objects.create(project=project, name="judge", backend="openai", endpoint="judges")
    return made


def url(project: Project, query: str = "") -> str:
    return reverse("auto-label-form", args=[project.slug]) + (f"?{query}" if query else "")


def test_the_viewer_and_the_list_link_to_the_forms(
    member_client: Client, project: Project, traces: dict[str, Trace]
) -> None:
    trace = traces["alpha"]
    viewer = member_client.get(reverse("trace-detail", args=[project.slug, trace.pk])).content.decode()
    assert f'hx-get="{url(project, f"trace={trace.pk}")}"' in viewer
    listing = member_client.get(reverse("trace-list", args=[project.slug]) + "?correct=no").content.decode()
    assert f'href="{url(project, "correct=no")}"' in listing


def test_the_fragment_for_one_trace(member_client: Client, project: Project, traces: dict[str, Trace]) -> None:
    response = member_client.get(url(project, f"trace={traces['alpha'].pk}"), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200 and body.lstrip().startswith('<div id="auto-label-forms"')
    assert "<html" not in body and "Start Monte Carlo labels" in body and "Start judges" in body
    assert '<option value="' in body and ">gen<" not in body  # imported models cannot roll out or judge


def test_starting_mc_for_one_trace_redirects_to_its_job(
    member_client: Client, project: Project, traces: dict[str, Trace], django_capture_on_commit_callbacks
) -> None:
    roller = LanguageModel.objects.get(name="roller")
    data = {
        "method": "mc",
        "mc-model": roller.pk,
        "mc-k": 4,
        "mc-mode": "binary",
        "mc-max_new_tokens": 64,
        "mc-temperature": 0.7,
    }
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = member_client.post(url(project, f"trace={traces['alpha'].pk}"), data)
    run = Run.objects.get(kind=RunKind.MC_ROLLOUT)
    assert response.status_code == 302 and response["Location"] == reverse("job-detail", args=[project.slug, run.pk])
    assert len(queued) == 1
    assert run.params["trace_ids"] == [traces["alpha"].pk] and (run.params["k"], run.params["mode"]) == (4, "binary")


def test_a_judge_job_over_the_list_filter(
    member_client: Client, project: Project, traces: dict[str, Trace], django_capture_on_commit_callbacks
) -> None:
    judge = LanguageModel.objects.get(name="judge")
    page = member_client.get(url(project, "correct=no")).content.decode()
    assert "<div><dt>Traces selected</dt><dd>1</dd></div>" in page
    data = {
        "method": "judge",
        "judge-judges": [judge.pk],
        "judge-mode": "first_error",
        "judge-max_new_tokens": 256,
        "judge-temperature": 0,
    }
    with django_capture_on_commit_callbacks(execute=False):
        response = member_client.post(url(project, "correct=no"), data)
    assert response.status_code == 302
    run = Run.objects.get(kind=RunKind.JUDGE)
    assert (
        run.params["filters"]["correct"] == "no" and run.progress_total == 1 and run.params["judge_ids"] == [judge.pk]
    )


def test_self_judging_is_refused_beside_the_field(
    member_client: Client, project: Project, traces: dict[str, Trace]
) -> None:
    gen = LanguageModel.objects.get(name="gen")
    gen.backend, gen.endpoint = "transformers", "embedded"
    gen.save()
    data = {
        "method": "judge",
        "judge-judges": [gen.pk],
        "judge-mode": "steps",
        "judge-max_new_tokens": 256,
        "judge-temperature": 0,
    }
    response = member_client.post(url(project), data)
    assert response.status_code == 400
    assert "does not judge its own traces unless self-judging is allowed" in response.content.decode()
    assert not Run.objects.filter(kind=RunKind.JUDGE).exists()


def test_bad_input_is_shown_not_started(member_client: Client, project: Project, traces: dict[str, Trace]) -> None:
    data = {"method": "mc", "mc-k": 0, "mc-mode": "sideways", "mc-max_new_tokens": 64, "mc-temperature": 0.7}
    response = member_client.post(url(project), data)
    body = response.content.decode()
    assert (
        response.status_code == 400
        and "K (rollouts per prefix): Ensure this value is greater than or equal to 1" in body
    )
    assert "Rollout model: This field is required." in body and not Run.objects.filter(kind=RunKind.MC_ROLLOUT).exists()


def test_annotators_may_not_start_jobs_and_outsiders_see_nothing(
    make_user, project: Project, traces: dict[str, Trace], outsider_client: Client
) -> None:
    annotator = make_user("ann")
    Membership.objects.create(project=project, user=annotator, role=Role.ANNOTATOR)
    client = Client()
    client.force_login(annotator)
    assert client.get(url(project)).status_code == 403
    assert client.post(url(project), {"method": "mc"}).status_code == 403
    assert outsider_client.get(url(project)).status_code == 404
    assert outsider_client.get(url(project, f"trace={traces['alpha'].pk}")).status_code == 404


def test_auto_labels_show_as_suggestions_with_source_and_confidence(
    member_client: Client, project: Project, make_traces: Callable[..., dict[str, Trace]]
) -> None:
    made = make_traces(
        [
            TraceSpec(
                "gamma",
                labels=[
                    LabelSpec(0, 1, source="mc_rollout", confidence=0.75),
                    LabelSpec(1, -1, source="llm_judge:judge"),
                ],
            )
        ]
    )
    trace = made["gamma"]
    for page in ("trace-detail", "trace-label"):
        body = member_client.get(reverse(page, args=[project.slug, trace.pk])).content.decode()
        assert "mc_rollout" in body and "0.75" in body and "llm_judge:judge" in body


def test_the_rollout_model_is_preselected_only_when_there_is_no_choice(
    member_client: Client, project: Project, traces: dict[str, Trace]
) -> None:
    def selected_rollout_model() -> str | None:
        """The text of the selected option of the Monte Carlo form's model select."""
        body = member_client.get(url(project)).content.decode()
        select = body[body.index('name="mc-model"') : body.index("</select>", body.index('name="mc-model"'))]
        chosen = [option for option in select.split("<option")[1:] if " selected" in option.split(">")[0]]
        return chosen[0].split(">")[1].split("<")[0] if chosen else None

    assert selected_rollout_model() == "---------"  # two generating models (roller, judge): the user picks
    LanguageModel.objects.filter(project=project, name="judge").delete()
    assert selected_rollout_model() == "roller"
