"""What the project pages read (docs/concepts.md §1 Project, Model, Run): the user's projects with
their counts, a project's members and the history of their roles, and the models, runs, problem
sources and score names its forms offer.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from traces.models import (
    Backend,
    LanguageModel,
    Membership,
    MembershipChange,
    Problem,
    Project,
    ProjectScoreName,
    Run,
    RunKind,
    Trace,
)


def _count_per_project(queryset: QuerySet) -> Coalesce:
    """A correlated ``COUNT`` of ``queryset``'s rows in the outer project (index on project_id)."""
    counted = (
        queryset.filter(project_id=OuterRef("pk")).order_by().values("project_id").annotate(n=Count("id")).values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def projects_for(user: User) -> QuerySet[Project]:
    """The user's projects, each annotated with ``role``, ``trace_count`` and ``run_count``."""
    role = Membership.objects.filter(project_id=OuterRef("pk"), user=user).values("role")[:1]
    return (
        Project.objects.visible_to(user)
        .annotate(
            role=Subquery(role),
            trace_count=_count_per_project(Trace.objects.all()),
            run_count=_count_per_project(Run.objects.all()),
        )
        .order_by("name")
    )


def members_of(project: Project) -> list[Membership]:
    """The project's memberships as the Members page lists them."""
    return list(Membership.objects.filter(project=project).listed())


def membership_changes(project: Project) -> QuerySet[MembershipChange]:
    """Who added, changed or removed whom in the project, newest first."""
    return MembershipChange.objects.filter(project=project).newest_first()


def project_models(project: Project) -> QuerySet[LanguageModel]:
    """The project's models by name (ids and names only: the trace filter's choices)."""
    return LanguageModel.objects.filter(project=project).only("id", "name").order_by("name")


def generating_models(project: Project) -> QuerySet[LanguageModel]:
    """The project's models that can generate (not imported)."""
    return LanguageModel.objects.filter(project=project).exclude(backend=Backend.IMPORTED)


def trace_runs(project: Project) -> QuerySet[Run]:
    """The project's runs that hold traces (every kind but exports), newest first."""
    return Run.objects.filter(project=project).exclude(kind=RunKind.EXPORT).only("id", "name", "kind").order_by("-id")


def problem_sources(project: Project) -> list[tuple[str, int]]:
    """Each source dataset of the project's problems with how many problems it has, by source."""
    rows = Problem.objects.filter(project=project).values("source").annotate(count=Count("id")).order_by("source")
    return [(row["source"], row["count"]) for row in rows]


def score_names(project: Project) -> list[tuple[str, str]]:
    """The (method, name) of every trace-level score the project's traces have had, by name (one small query)."""
    rows = ProjectScoreName.objects.filter(project=project).order_by("name", "method")
    return list(rows.values_list("method", "name"))
