"""The project a management command's ``--project`` names, or an error that lists the known ones."""

from __future__ import annotations

from django.core.management.base import CommandError

from traces.models import Project


def project_or_error(slug: str, hint: str = "") -> Project:
    """The project with ``slug``; else a ``CommandError`` naming the existing slugs (and ``hint``)."""
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        known = ", ".join(Project.objects.values_list("slug", flat=True)) or "none yet"
        raise CommandError(f"No project '{slug}' (known: {known}).{' ' + hint if hint else ''}")
    return project
