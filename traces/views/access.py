"""Project access for the browser UI: a non-member gets a 404, never a hint that the project exists."""

from __future__ import annotations

from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from traces.models import Project


def member_project(request: HttpRequest, slug: str) -> Project:
    """The project ``slug`` if the signed-in user is a member of it, else ``Http404``."""
    return get_object_or_404(Project.objects.visible_to(request.user), slug=slug)
