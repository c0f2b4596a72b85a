"""The import pages of the browser UI: upload a file, preview it in a format, then import it.

Uploading stores the file where API uploads wait (``traces/actions/uploads.py``) and opens its
preview page, which reads its first records with the chosen format (``preview_import``) and writes
nothing. Changing the format re-previews the same stored file (the htmx branch renders the
``preview`` fragment). Confirming queues the import job exactly as the API does and opens its job
page; cancelling deletes the file. Each pending upload is remembered in the uploader's session,
bound to its project, so nobody else can preview, import or delete it; one never confirmed is
deleted by ``sweep_uploads`` after the retention period.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from traces import access
from traces.actions.imports import count_import_lines, do_enqueue_import, preview_import
from traces.actions.uploads import discard_upload, save_upload
from traces.formats import FORMATS
from traces.models import Project, Run, RunKind, ThinkFormat
from traces.queries.runs import project_runs
from traces.views.access import member_project
from traces.views.job_reports import display_status
from traces.views.requests import SignedInRequest
from traces.views.traces import wants_fragment

#: The session key holding the person's pending uploads: ``{upload id: [project id, path]}``.
PENDING = "pending_imports"

#: The formats a file can be read in (the page shows each with its description).
FORMAT_CHOICES = [(name, name) for name in FORMATS]
#: How many earlier import jobs the upload page lists.
RECENT_IMPORTS = 6
#: The format a preview reads a file in until the person picks one.
DEFAULT_FORMAT = "jsonl"


class FormatForm(forms.Form):
    """How to read a stored upload."""

    format = forms.ChoiceField(choices=FORMAT_CHOICES, initial=DEFAULT_FORMAT)
    skip_invalid = forms.BooleanField(
        required=False, label="Skip invalid lines", help_text="import the valid lines and list each skipped one"
    )
    think_format = forms.ChoiceField(choices=ThinkFormat.choices, required=False, label="Thinking")

    def read_as(self) -> tuple[str, bool, str]:
        """The chosen format, whether to skip invalid lines and the think format; the defaults when
        the choice is not valid."""
        if not self.is_valid():
            return DEFAULT_FORMAT, False, ThinkFormat.AUTO
        data = self.cleaned_data
        return data["format"], data["skip_invalid"], data["think_format"] or ThinkFormat.AUTO


class UploadForm(FormatForm):
    """A file to import and how to read it; a file over ``THINKSCOPE_MAX_UPLOAD_BYTES`` is refused."""

    file = forms.FileField()

    field_order = ["file", "format", "skip_invalid"]

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        limit = settings.THINKSCOPE_MAX_UPLOAD_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                f"The file is {filesizeformat(upload.size)} ({upload.size} bytes); files are limited to "
                f"{filesizeformat(limit)} ({limit} bytes)."
            )
        return upload


def importing_project(request: HttpRequest, slug: str) -> tuple[Project, str]:
    """The project and, when the person's role does not allow imports, why not (404 for non-members)."""
    project = member_project(request, slug)
    try:
        access.require(project, request.user, access.Action.IMPORT)
    except access.PermissionDenied as denied:
        return project, str(denied)
    return project, ""


def page_context(project: Project) -> dict[str, Any]:
    """What every import page shows: the project, the formats with their descriptions, the size limit."""
    formats = {name: module.DESCRIPTION for name, module in FORMATS.items()}
    return {"project": project, "formats": formats, "max_bytes": settings.THINKSCOPE_MAX_UPLOAD_BYTES}


def recent_imports(project: Project) -> list[tuple[Run, tuple[str, str]]]:
    """The project's latest import jobs, each with the status its badge shows."""
    return [(run, display_status(run)) for run in project_runs(project, RunKind.IMPORT)[:RECENT_IMPORTS]]


@login_required
def import_upload(request: SignedInRequest, slug: str) -> HttpResponse:
    """The upload form; a valid upload is stored and its preview opens."""
    project, forbidden = importing_project(request, slug)
    if forbidden:
        return refused(request, project, forbidden)
    if request.method != "POST":
        return upload_page(request, project, UploadForm())
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return upload_page(request, project, form, status=400)
    upload = remember_upload(request, project, save_upload(form.cleaned_data["file"]))
    read_as = {"format": form.cleaned_data["format"], "skip_invalid": form.cleaned_data["skip_invalid"] or ""}
    return redirect(f"{reverse_preview(project, upload)}?{urlencode(read_as)}")


def upload_page(request: HttpRequest, project: Project, form: UploadForm, status: int = 200, **extra: Any) -> HttpResponse:
    """The upload form with the project's recent imports (``extra``: what else the page says)."""
    context = {**page_context(project), "form": form, "recent": recent_imports(project), **extra}
    return render(request, "traces/import_upload.html", context, status=status)


@vary_on_headers("HX-Request")
@login_required
def import_preview(request: SignedInRequest, slug: str, upload: str) -> HttpResponse:
    """GET: the upload's first records read in the chosen format. POST: queue its import and open the job."""
    project, forbidden = importing_project(request, slug)
    if forbidden:
        return refused(request, project, forbidden)
    path = pending_upload(request, project, upload)
    if path is None:
        return upload_gone(request, project)
    form = FormatForm(request.POST if request.method == "POST" else request.GET)
    fmt, skip_invalid, think_format = form.read_as()
    if request.method == "POST" and form.is_valid():
        run = do_enqueue_import(project, path, fmt, skip_invalid=skip_invalid, think_format=think_format,
                                user=request.user)  # fmt: skip
        forget_upload(request, upload)
        return redirect("job-detail", slug=project.slug, pk=run.pk)
    preview = preview_import(project, path, fmt, think_format)
    context = {
        **page_context(project),
        "upload": upload,
        "file_name": path.name,
        "file_size": path.stat().st_size,
        "lines": count_import_lines(path),
        "preview": preview.records,
        "think_formats": preview.think_formats,
        "fmt": fmt,
        "skip_invalid": skip_invalid,
        "think_format": think_format,
        "think_format_choices": ThinkFormat.choices,
    }
    template = "traces/import_preview.html#preview" if wants_fragment(request) else "traces/import_preview.html"
    return render(request, template, context, status=400 if request.method == "POST" else 200)


@require_POST
@login_required
def import_cancel(request: SignedInRequest, slug: str, upload: str) -> HttpResponse:
    """Delete a pending upload and go back to the upload form."""
    project, forbidden = importing_project(request, slug)
    if forbidden:
        return refused(request, project, forbidden)
    path = pending_upload(request, project, upload)
    if path is not None:
        discard_upload(path)
        forget_upload(request, upload)
    return redirect("import-upload", slug=project.slug)


def refused(request: HttpRequest, project: Project, why: str) -> HttpResponse:
    """403: the upload page saying why the person's role does not allow imports."""
    return render(request, "traces/import_upload.html", {**page_context(project), "forbidden": why}, status=403)


def upload_gone(request: HttpRequest, project: Project) -> HttpResponse:
    """410: the upload form, saying the upload asked for is no longer waiting (imported, cancelled, swept)."""
    return upload_page(request, project, UploadForm(), status=410, gone=True)


def reverse_preview(project: Project, upload: str) -> str:
    """The preview page of the pending upload ``upload``."""
    return reverse("import-preview", kwargs={"slug": project.slug, "upload": upload})


# --- Pending uploads, remembered in the uploader's session ---------------------------------------


def remember_upload(request: HttpRequest, project: Project, path: Path) -> str:
    """Remember ``path`` as the person's pending upload into ``project``; its id (its folder's name)."""
    upload = path.parent.name
    request.session[PENDING] = {**request.session.get(PENDING, {}), upload: [project.pk, str(path)]}
    return upload


def pending_upload(request: HttpRequest, project: Project, upload: str) -> Path | None:
    """The person's pending upload ``upload`` into ``project``, if it is still on disk."""
    project_id, path = request.session.get(PENDING, {}).get(upload, [None, ""])
    if project_id != project.pk or not Path(path).is_file():
        return None
    return Path(path)


def forget_upload(request: HttpRequest, upload: str) -> None:
    """Drop ``upload`` from the person's pending uploads (its file is the caller's to keep or delete)."""
    pending = dict(request.session.get(PENDING, {}))
    pending.pop(upload, None)
    request.session[PENDING] = pending
