"""Registering a project's models on the endpoints the operator declared (app/endpoints.py).

A project chooses an endpoint by name and the model id to ask it for; the endpoint's URL, key and
folder stay the operator's. The endpoint is checked when the model is registered and again when a
job starts (the operator may have closed it since), so a job never queues for an endpoint that a
worker would refuse.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import transaction

from app.endpoints import Endpoint, EndpointRefused, endpoint_for
from traces.models import Backend, LanguageModel, Project, ThinkFormat


def usable_endpoints(project: Project) -> list[Endpoint]:
    """The endpoints the operator opened to ``project``, by name."""
    endpoints = settings.MODEL_ENDPOINTS.values()
    return sorted((e for e in endpoints if e.open_to(project.slug)), key=lambda endpoint: endpoint.name)


def why_model_cannot_generate(model: LanguageModel) -> str | None:
    """Why ``model`` cannot generate now (imported, or its endpoint refused), or None when it can."""
    try:
        endpoint_for(settings.MODEL_ENDPOINTS, model.endpoint, model.project.slug, model.model_id)
    except EndpointRefused as refused:
        return f"model '{model.name}': {refused}"
    return None


def do_register_model(
    project: Project,
    name: str,
    *,
    endpoint: str = "",
    served_model: str = "",
    chat_template: str = "",
    system_prompt: str = "",
    think_format: str = ThinkFormat.AUTO,
    default_params: Mapping[str, Any] | None = None,
) -> LanguageModel:
    """Create a model of ``project`` on ``endpoint`` ("" for one that only has imported traces).

    Raises EndpointRefused when the operator did not open that endpoint, or that model id, to the
    project. The model's ``backend`` is the endpoint's.
    """
    backend: str = Backend.IMPORTED
    if endpoint:
        backend = endpoint_for(settings.MODEL_ENDPOINTS, endpoint, project.slug, served_model or name).backend
    with transaction.atomic():
        return LanguageModel.objects.create(
            project=project,
            name=name,
            backend=backend,
            endpoint=endpoint,
            served_model=served_model,
            chat_template=chat_template,
            system_prompt=system_prompt,
            think_format=think_format,
            default_params=dict(default_params or {}),
        )
