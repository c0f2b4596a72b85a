"""The web process stays small: loading the URL configuration and rendering the main pages imports
none of the scientific stack (scipy, statsmodels, scikit-learn, pandas, pyarrow, torch,
transformers: ~250 MB in each gunicorn worker when they were imported at start).

Those libraries are imported inside the functions that compute with them (Parquet and CSV exports,
the Brier score, PRM training and scoring, the model backends), which run on the workers; the
agreement figures of the annotation dashboard need none of them. The pages are rendered by Django's test client in a
fresh process, as a gunicorn worker would serve them, against this session's test database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.urls import reverse

from tests.conftest import REPO_ROOT, env_for_test_database
from traces.actions.analysis import analyze_traces
from traces.actions.labels import LabelInput, do_save_labels
from traces.actions.store import store_traces
from traces.formats.base import ParsedTrace
from traces.models import Label, Membership, Project, Role, Run, RunKind, Step, Trace

pytestmark = pytest.mark.django_db(transaction=True)

SCIENTIFIC = ("scipy", "statsmodels", "sklearn", "pandas", "pyarrow", "torch", "transformers")

#: Runs in a fresh process: sys.argv = [username, URL, …]; prints each URL's status and the
#: scientific modules the process holds afterwards.
RENDER_PAGES = f"""
import json, sys
import django
django.setup()
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import get_resolver
get_resolver().resolve("/")  # the whole URL configuration, with every view module it names
client = Client()
client.force_login(get_user_model().objects.get(username=sys.argv[1]))
statuses = {{url: client.get(url).status_code for url in sys.argv[2:]}}
loaded = sorted(name for name in {SCIENTIFIC!r} if name in sys.modules)
print(json.dumps({{"statuses": statuses, "loaded": loaded}}))
"""


def seed(user, annotator) -> tuple[str, list[int]]:
    """A project with two analysed samples of one problem whose steps ``user`` and ``annotator``
    rated, and an automatic method too (so the annotation dashboard has agreement to compute)."""
    project = Project.objects.create(name="Web process", slug="web")
    Membership.objects.create(project=project, user=user, role=Role.OWNER)
    Membership.objects.create(project=project, user=annotator, role=Role.ANNOTATOR)
    run = Run.objects.create(project=project, kind=RunKind.IMPORT, name="web.jsonl")
    samples = [
        ParsedTrace(line_no=n, prompt="What is $2 + 3$?", reference_answer="5", model_name="model-a", sample_index=n,
                    text=f"<think>2 + 3 = {answer}. Let me check: $2 + 3 = {answer}$.</think>The answer is {answer}.")
        for n, answer in enumerate((5, 6))
    ]
    ids = store_traces(project, run, samples).trace_ids
    analyze_traces(Trace.objects.filter(pk__in=ids))
    steps = list(Step.objects.filter(trace_id__in=ids).order_by("pk"))
    for person, first_value in ((user, 1), (annotator, -1)):  # they disagree on the first step only
        do_save_labels(person, [LabelInput(step=step, value=first_value if n == 0 else 1) for n, step in enumerate(steps)])
    Label.objects.bulk_create(Label(step=step, trace_id=step.trace_id, value=1, source="mc_rollout") for step in steps)
    return project.slug, ids


def test_the_main_pages_never_import_the_scientific_stack(make_user) -> None:
    user = make_user("reader")
    slug, (first, second) = seed(user, make_user("annotator"))
    urls = [
        reverse("project-list"),
        reverse("trace-list", args=[slug]),
        reverse("trace-detail", args=[slug, first]),
        reverse("trace-label", args=[slug, first]),
        reverse("trace-compare", args=[slug]) + f"?traces={first},{second}",
        reverse("job-list", args=[slug]),
        reverse("queue-list", args=[slug]),
        reverse("member-list", args=[slug]),
        *(reverse(name, args=[slug, kind]) for kind in ("models", "annotation") for name in ("dashboard", "dashboard-data")),
    ]
    done = subprocess.run(
        [sys.executable, "-c", RENDER_PAGES, user.username, *urls],
        cwd=REPO_ROOT, env={**os.environ, **env_for_test_database()}, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["statuses"] == dict.fromkeys(urls, 200)
    assert report["loaded"] == []
