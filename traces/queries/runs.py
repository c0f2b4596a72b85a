"""What the job pages read (docs/concepts.md §1 Run, §4 job pages): a project's jobs, and what one
job wrote — its traces, and the automatic labels and annotations it recorded under its sources.

An automatic label or annotation names the run that wrote it in ``params["run_id"]`` and has no
person (``user`` null).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from django.db.models import QuerySet

from traces.models import Label, LanguageModel, Project, Run, RunKind, Trace, TraceAnnotation


def project_runs(project: Project, kind: str = "") -> QuerySet[Run]:
    """The project's jobs newest first, of one ``kind`` (a ``RunKind``; "" for every kind), with
    their model and who started them."""
    runs = Run.objects.filter(project=project).select_related("model", "created_by").order_by("-created_at", "-id")
    return runs.filter(kind=kind) if kind in RunKind.values else runs


def run_traces(run: Run) -> QuerySet[Trace]:
    """The traces the run holds."""
    return Trace.objects.filter(run=run)


def run_labels(run: Run, source: str) -> QuerySet[Label]:
    """The automatic step labels of ``source`` that the run wrote."""
    return Label.objects.filter(source=source, params__run_id=run.pk, trace__project=run.project, user__isnull=True)


def run_annotations(run: Run, sources: Collection[str]) -> QuerySet[TraceAnnotation]:
    """The automatic trace annotations (first errors, parse failures) of ``sources`` that the run wrote."""
    return TraceAnnotation.objects.filter(
        source__in=list(sources), params__run_id=run.pk, trace__project=run.project, user__isnull=True
    )


def models_by_ids(ids: Sequence[int]) -> list[LanguageModel]:
    """The models ``ids`` names (a judge run's panel), in id order."""
    return list(LanguageModel.objects.filter(pk__in=list(ids)).order_by("pk"))
