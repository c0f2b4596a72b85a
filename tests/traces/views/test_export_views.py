"""The export pages of the browser UI: the form reached from the trace list, the job page and its
htmx status fragment, the downloads, and who may use them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from trace_factory import LabelSpec, TraceSpec

from traces.models import Membership, Role, Run, RunKind, RunStatus

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path
    return tmp_path


def labelled(key: str, correct: bool, second: int) -> TraceSpec:
    return TraceSpec(key=key, is_correct=correct, labels=[LabelSpec(0, 1), LabelSpec(1, second)])


SPECS = [labelled("alpha", True, 1), labelled("bravo", False, -1), labelled("charlie", False, 1)]
POLICY_FORM = {
    "format": "trl", "sources": "import:test", "auto_method": "", "neutral": "negative", "after_error": "keep",
    "test_fraction": "0", "seed": "0", "step_separator": "newline",
}  # fmt: skip


def test_the_trace_list_links_to_the_export_form_with_its_filters(project, make_traces, member_client: Client) -> None:
    make_traces(SPECS)
    page = member_client.get(reverse("trace-list", args=[project.slug]), {"correct": "no"}).content.decode()
    assert f'href="{reverse("export-form", args=[project.slug])}?correct=no"' in page


def test_form_shows_the_selection_and_starts_a_job(
    project, make_traces, member_client: Client, eager_celery, django_capture_on_commit_callbacks
) -> None:
    make_traces(SPECS)
    url = reverse("export-form", args=[project.slug]) + "?correct=no"
    form = member_client.get(url).content.decode()
    incorrect = [spec for spec in SPECS if spec.is_correct is False]
    assert f"<dt>Traces selected</dt><dd>{len(incorrect)}</dd>" in form
    assert '<option value="import:test" title="import:test">test (imported)</option>' in form

    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(url, POLICY_FORM)
    run = Run.objects.get(kind=RunKind.EXPORT)
    assert response.status_code == 302 and response["Location"] == reverse("export-job", args=[project.slug, run.pk])
    assert run.status == RunStatus.SUCCEEDED and run.params["filters"]["correct"] == "no"

    page = member_client.get(response["Location"]).content.decode()
    assert "train.jsonl" in page and 'hx-trigger="every 2s"' not in page
    # The policy reads in words, each row's manifest key on hover; no Python values (None, lists).
    assert '<th title="sources">Labels from</th><td>test (imported)</td>' in page
    assert '<th title="auto_method">Automatic method</th><td>—</td>' in page
    assert '<th title="test_fraction">Test split</th><td>none</td>' in page
    assert "None" not in page and "['import:test']" not in page
    download = member_client.get(reverse("export-job-file", args=[project.slug, run.pk, "train"]))
    rows = [json.loads(line) for line in b"".join(download.streaming_content).decode().splitlines()]
    assert [row["labels"] for row in rows] == [[True, spec.labels[1].value == 1] for spec in incorrect]


def test_a_running_job_polls_its_status_fragment(project, member_client: Client) -> None:
    run = Run.objects.create(project=project, kind=RunKind.EXPORT, status=RunStatus.RUNNING, params={"format": "trl"})
    url = reverse("export-job", args=[project.slug, run.pk])
    fragment = member_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<section id="export-status"') and "<html" not in fragment
    assert 'hx-trigger="every 2s"' in fragment and f'hx-get="{url}"' in fragment
    run.status, run.error = RunStatus.FAILED, "disk full <script>"
    run.save()
    done = member_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 2s"' not in done and "disk full &lt;script&gt;" in done


def test_a_bad_policy_is_shown_beside_its_field(project, make_traces, member_client: Client) -> None:
    make_traces(SPECS)
    response = member_client.post(
        reverse("export-form", args=[project.slug]), {**POLICY_FORM, "sources": "human-else-auto"}
    )
    assert response.status_code == 400
    assert "needs the automatic method named (auto_method)" in response.content.decode()
    assert not Run.objects.filter(kind=RunKind.EXPORT).exists()


def test_viewers_may_not_export_and_outsiders_see_nothing(project, make_user, outsider_client: Client) -> None:
    viewer = make_user("victor")
    Membership.objects.create(project=project, user=viewer, role=Role.VIEWER)
    client = Client()
    client.force_login(viewer)
    response = client.get(reverse("export-form", args=[project.slug]))
    assert response.status_code == 403 and "does not allow export" in response.content.decode()
    run = Run.objects.create(project=project, kind=RunKind.EXPORT, params={"format": "trl"})
    for url in (
        reverse("export-form", args=[project.slug]),
        reverse("export-job", args=[project.slug, run.pk]),
        reverse("export-job-file", args=[project.slug, run.pk, "train"]),
    ):
        assert outsider_client.get(url).status_code == 404
