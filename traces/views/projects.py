"""The project list (docs/concepts.md §4 browser UI): the user's projects with counts and their role."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from traces.models import Membership, Project, Run, Trace


def _count_per_project(queryset: QuerySet) -> Coalesce:  # type: ignore[type-arg]
    """A correlated ``COUNT`` of ``queryset``'s rows in the outer project (index on project_id)."""
    counted = (
        queryset.filter(project_id=OuterRef("pk")).order_by().values("project_id").annotate(n=Count("id")).values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def projects_for(user: object) -> QuerySet[Project]:
    """The user's projects, each annotated with ``role``, ``trace_count`` and ``run_count``."""
    role = Membership.objects.filter(project_id=OuterRef("pk"), user=user).values("role")[:1]
    return (
        Project.objects.visible_to(user)
        .annotate(
            role=Subquery(role),
            trace_count=_count_per_project(Trace.objects),
            run_count=_count_per_project(Run.objects),
        )
        .order_by("name")
    )


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    """Every project the user is a member of."""
    return render(request, "traces/project_list.html", {"projects": projects_for(request.user)})
