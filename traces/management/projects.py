"""What several management commands share: the ``--project`` lookup and the trace-list filter options."""

from __future__ import annotations

from django.core.management.base import CommandError, CommandParser

from traces.models import Project
from traces.models.trace import CORRECTNESS_FILTER, FinishReason


def project_or_error(slug: str, hint: str = "") -> Project:
    """The project with ``slug``; else a ``CommandError`` naming the existing slugs (and ``hint``)."""
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        known = ", ".join(Project.objects.values_list("slug", flat=True)) or "none yet"
        raise CommandError(f"No project '{slug}' (known: {known}).{' ' + hint if hint else ''}")
    return project


def add_filter_arguments(parser: CommandParser) -> None:
    """The trace list's filters as options (``--model``, ``--run``, ``--correct``, ``--finish-reason``)."""
    filters = parser.add_argument_group("filters (all optional; combined with AND)")
    filters.add_argument("--model", default="", help="Model name")
    filters.add_argument("--run", type=int, default=None, help="Run id")
    filters.add_argument("--correct", choices=list(CORRECTNESS_FILTER), default="", help="Final-answer correctness")
    filters.add_argument("--finish-reason", choices=list(FinishReason.values), default="", help="How generation ended")
    filters.add_argument("--labeled", choices=["yes", "no"], default="", help="Whether the trace has any label")
