"""The project list (docs/concepts.md §4 browser UI): the user's projects with counts and their role."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render

from traces.queries.projects import projects_for
from traces.views.requests import SignedInRequest


@login_required
def project_list(request: SignedInRequest) -> HttpResponse:
    """Every project the user is a member of."""
    return render(request, "traces/project_list.html", {"projects": projects_for(request.user)})
