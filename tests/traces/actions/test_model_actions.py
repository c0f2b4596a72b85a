"""``do_register_model``, called directly: a project's model on an endpoint the operator opened to it."""

from __future__ import annotations

import pytest

from app.endpoints import EndpointRefused
from traces.actions.models import do_register_model
from traces.models import Backend, LanguageModel

pytestmark = pytest.mark.django_db


def test_a_model_takes_its_endpoints_backend(project, declare_endpoints) -> None:
    declare_endpoints(team={"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "projects": ["test"]})
    model = do_register_model(project, "qwq", endpoint="team", served_model="Qwen/QwQ-32B", default_params={"n": 4})
    assert (model.backend, model.endpoint, model.served_model, model.default_params) == (
        Backend.OPENAI, "team", "Qwen/QwQ-32B", {"n": 4},
    )  # fmt: skip
    imported = do_register_model(project, "from-a-file")
    assert (imported.backend, imported.endpoint) == (Backend.IMPORTED, "")


def test_an_endpoint_not_opened_to_the_project_is_refused(project, declare_endpoints) -> None:
    declare_endpoints(theirs={"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "projects": ["another-team"]})
    with pytest.raises(EndpointRefused):
        do_register_model(project, "qwq", endpoint="theirs")
    with pytest.raises(EndpointRefused):
        do_register_model(project, "qwq", endpoint="nowhere")
    assert not LanguageModel.objects.filter(project=project).exists()
