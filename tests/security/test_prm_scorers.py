"""PRM folders and devices are the operator's (app/scorers.py, app/endpoints.py): a tenant names a
scorer or a base endpoint, never a path or a device, and mistakes in the file name the scorer and key."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from app.endpoints import EndpointConfigError, load_endpoints
from app.scorers import load_scorers, parse_scorer
from traces.actions.auto_labels import Selection
from traces.actions.exports import RequestRejected
from traces.actions.prm_scorers import prm_dir, scorer_named, usable_scorers
from traces.actions.prm_training import TrainingSpec, do_start_training
from traces.models import Run, RunKind, TrainedPrm

SCORERS_FILE = """
[endpoints.gpu-box]
backend = "transformers"
path = "/models/smol"
device = "cuda"

[scorers.shepherd]
path = "/models/math-shepherd"
convention = "step_tag"
device = "cuda"
batch_size = 4
projects = ["test"]
"""


def test_the_endpoints_file_declares_scorers_beside_endpoints(tmp_path: Path) -> None:
    file = tmp_path / "endpoints.toml"
    file.write_text(SCORERS_FILE)
    scorers = load_scorers(str(file))
    assert set(scorers) == {"shepherd"} and scorers["shepherd"].device == "cuda"
    assert scorers["shepherd"].layout.marker == " ки" and scorers["shepherd"].open_to("test")
    assert not scorers["shepherd"].open_to("elsewhere")
    assert "gpu-box" in load_endpoints(str(file))
    (tmp_path / "bad.toml").write_text("[scorer.typo]\npath = 'x'\n")
    with pytest.raises(EndpointConfigError, match="unknown top-level key"):
        load_scorers(str(tmp_path / "bad.toml"))


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"convention": "step_tag"}, "'path' .* is required"),
        ({"path": "/m", "convention": "regression"}, "'convention' must be one of"),
        ({"path": "/m", "convention": "step_tag", "device": "tpu"}, "'device' must be one of"),
        ({"path": "/m", "convention": "step_tag", "base_url": "http://x"}, r"unknown key\(s\) \['base_url'\]"),
        ({"path": "/m", "convention": "step_tag", "batch_size": 0}, "'batch_size' must be a positive integer"),
        ({"path": "/m", "convention": "step_tag", "projects": "all"}, "'projects' must be a list"),
        ({"path": "/m", "convention": "step_tag", "step_tag": ""}, "'step_tag' must be a non-empty string"),
    ],
)
def test_each_mistake_names_the_scorer_and_the_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(EndpointConfigError, match=f"scorer 'x'.*{message}"):
        parse_scorer("x", table)


@pytest.mark.django_db
def test_a_trained_prm_runs_on_its_base_endpoints_device_from_the_system_folder(project, declare_endpoints, settings, tmp_path) -> None:
    settings.DATA_DIR = tmp_path
    declare_endpoints(**{"gpu-box": {"backend": "transformers", "path": "/models/smol", "device": "cuda"}})
    TrainedPrm.objects.create(project=project, name="mine", base_endpoint="gpu-box", folder="test-run7", version="v")
    scorer = scorer_named(project, "mine")
    assert (scorer.device, scorer.path) == ("cuda", str(prm_dir() / "test-run7"))
    settings.MODEL_ENDPOINTS = {}  # the operator removed the endpoint: the CPU, never a tenant's choice
    assert scorer_named(project, "mine").device == "cpu"


@pytest.mark.django_db
def test_closed_scorers_and_endpoints_are_refused(project, declare_endpoints, settings) -> None:
    from app.scorers import DeclaredScorer

    settings.PRM_SCORERS = {"theirs": DeclaredScorer(name="theirs", path="/m", convention="step_tag", projects=("other",))}
    assert [s.name for s in usable_scorers(project)] == []
    with pytest.raises(RequestRejected, match="no scorer 'theirs'"):
        scorer_named(project, "theirs")
    declare_endpoints(closed={"backend": "transformers", "path": "/m", "projects": ["other"]})
    with pytest.raises(RequestRejected, match="not an endpoint this project may use"):
        do_start_training(project, TrainingSpec(base="closed"), Selection())
    with pytest.raises(RequestRejected, match="not an endpoint this project may use"):
        do_start_training(project, TrainingSpec(base="/etc/passwd"), Selection())


@pytest.mark.django_db
def test_the_api_keeps_no_path_or_device_a_tenant_sends(project, owner) -> None:
    from traces.actions.store import store_traces
    from traces.formats.base import ParsedTrace

    run = Run.objects.create(project=project, kind=RunKind.IMPORT, name="import")
    store_traces(project, run, [ParsedTrace(line_no=1, prompt="p", text="a\n\nb", model_name="m")])
    client = Client()
    client.force_login(owner)
    body = {"project": project.slug, "path": "/etc", "device": "cuda", "folder": "../../x", "max_steps": 1}
    response = client.post("/api/prms/train/", body, content_type="application/json")
    assert response.status_code == 202, response.content
    params = Run.objects.get(kind=RunKind.PRM_TRAINING).params
    assert not {"path", "device", "folder"} & set(params)
    assert "/etc" not in str(params) and "cuda" not in str(params)
