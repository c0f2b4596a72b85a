"""API viewsets: scoped to the user's projects in ``get_queryset``; writes go through actions."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch, QuerySet
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, PermissionDenied, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from app.endpoints import EndpointRefused
from traces import access
from traces.actions.exports import RequestRejected, do_start_export, download_name, export_file, export_sources
from traces.actions.generation import GenerationError, do_cancel_run, do_start_generation
from traces.actions.imports import do_enqueue_import
from traces.actions.labels import LabelInput, do_save_labels
from traces.actions.models import do_register_model, usable_endpoints
from traces.actions.preferences import PreferenceError, do_save_preference
from traces.actions.projects import CREATION_REFUSED, do_create_project, may_create_projects
from traces.actions.queues import next_item_for
from traces.actions.resume import NOT_RESUMABLE, do_resume
from traces.actions.uploads import oversized_request, save_upload
from traces.api import serializers as s
from traces.api.filters import LabelFilter, PreferenceFilter, ScoreFilter, TraceFilter
from traces.models import (
    Label,
    LanguageModel,
    Preference,
    Problem,
    Project,
    Queue,
    Run,
    RunKind,
    Score,
    Trace,
    TraceAnnotation,
)
from traces.queries.evaluation import evaluate_labeller


class SignedInApiRequest(Request):
    """A request that ``IsAuthenticated`` let through (the API's default permission, ``app/settings.py``):
    its user is an account, never AnonymousUser. Typing only: the views that need it declare it."""

    user: User


class NewestFirstCursor(CursorPagination):
    """Cursor pagination by id: constant time at any depth (no OFFSET, no COUNT)."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def require_role(project: Project, user: User | AnonymousUser | None, needed: access.Action) -> None:
    """Translate the access rule into DRF's 403."""
    try:
        access.require(project, user, needed)
    except access.PermissionDenied as denied:
        raise PermissionDenied(str(denied)) from None


def require_visible(project: Project, user: User | AnonymousUser | None, sources: Any) -> None:
    """Translate the gold rule (``access.require_visible``) into DRF's 403."""
    try:
        access.require_visible(project, user, sources)
    except access.PermissionDenied as denied:
        raise PermissionDenied(str(denied)) from None


class MayCreateProjects(permissions.BasePermission):
    """Creating is for the people ``THINKSCOPE_PROJECT_CREATORS`` allows, checked before the body is
    read (so a refusal tells nothing of which slugs are taken); reading is for anyone signed in."""

    message = CREATION_REFUSED

    def has_permission(self, request: Request, view: Any) -> bool:
        return view.action != "create" or may_create_projects(request.user)


class ProjectViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    request: SignedInApiRequest

    serializer_class = s.ProjectSerializer
    permission_classes = [permissions.IsAuthenticated, MayCreateProjects]
    lookup_field = "slug"
    lookup_value_regex = s.SLUG_PATTERN

    def get_queryset(self) -> QuerySet[Project]:
        return Project.objects.visible_to(self.request.user).order_by("name")

    def perform_create(self, serializer: BaseSerializer) -> None:
        """The project with the caller as its owner, written together."""
        data = serializer.validated_data
        try:
            serializer.instance = do_create_project(
                slug=data["slug"], name=data["name"], description=data.get("description", ""), owner=self.request.user
            )
        except DjangoValidationError as invalid:
            raise ValidationError(invalid.message_dict) from None

    @extend_schema(responses=s.EndpointSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def endpoints(self, request: Request, slug: str) -> Response:
        """The endpoints the operator opened to this project: what its models may generate on."""
        project = self.get_object()
        endpoints = [
            {"name": e.name, "backend": e.backend, "description": e.description, "models": list(e.models)}
            for e in usable_endpoints(project)
        ]
        return Response(s.EndpointSerializer(endpoints, many=True).data)

    @extend_schema(parameters=[s.EvaluationRequestSerializer], responses=s.EvaluationSerializer)
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def evaluate(self, request: Request, slug: str) -> Response:
        """Score one label source against a reference source over the project's (filtered) traces:
        ProcessBench F1 of the first errors, step accuracy and the step confusion matrix; 403 for a
        gold source the caller may not see."""
        project = self.get_object()
        query = s.EvaluationRequestSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        require_visible(project, request.user, (data["method"], data["reference"]))
        hidden = access.hidden_labels(request.user)
        try:
            evaluation = evaluate_labeller(project, data["method"], data["reference"], s.selection(data), hidden)
        except RequestRejected as rejected:
            raise ValidationError({rejected.field: [rejected.message]}) from None
        return Response(s.EvaluationSerializer(evaluation.as_dict()).data)


class ProblemViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.ProblemSerializer
    pagination_class = NewestFirstCursor
    filterset_fields = {"project__slug": ["exact"], "source": ["exact"], "split": ["exact"]}

    def get_queryset(self) -> QuerySet[Problem]:
        return Problem.objects.filter(project__in=Project.objects.visible_to(self.request.user)).select_related("project")


class LanguageModelViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = s.LanguageModelSerializer
    filterset_fields = {"project__slug": ["exact"], "backend": ["exact"]}

    def get_queryset(self) -> QuerySet[LanguageModel]:
        return LanguageModel.objects.filter(project__in=Project.objects.visible_to(self.request.user)).select_related(
            "project"
        )

    def perform_create(self, serializer: BaseSerializer) -> None:
        """Register the model on its endpoint (owners); 400 naming the endpoints the project may use."""
        data = dict(serializer.validated_data)
        project = data.pop("project")
        require_role(project, self.request.user, access.Action.MANAGE)
        try:
            serializer.instance = do_register_model(project, data.pop("name"), **data)
        except EndpointRefused as refused:
            raise ValidationError({"endpoint": [str(refused)]}) from None


class RunViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Jobs of every kind; POST starts a generation run, ``cancel`` and ``resume`` control one."""

    request: SignedInApiRequest

    pagination_class = NewestFirstCursor
    filterset_fields = {"project__slug": ["exact"], "kind": ["exact"], "status": ["exact"]}

    def get_queryset(self) -> QuerySet[Run]:
        return Run.objects.filter(project__in=Project.objects.visible_to(self.request.user)).select_related("project")

    def get_serializer_class(self) -> type[s.RunSerializer] | type[s.GenerationRequestSerializer]:
        return s.GenerationRequestSerializer if self.action == "create" else s.RunSerializer

    @extend_schema(request=s.GenerationRequestSerializer, responses={202: s.RunSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Start a generation run (reviewers and owners); poll the run for its progress."""
        serializer = s.GenerationRequestSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = self.request.user  # the same request, as the signed-in one the class declares
        require_role(data["project"], user, access.Action.GENERATE)
        try:
            run = do_start_generation(
                data["project"], data["model"], data["selected"], data["params"], name=data["name"], user=user
            )
        except GenerationError as error:
            raise ValidationError({error.field: [error.message]}) from None
        return Response(s.RunSerializer(run, context=self.get_serializer_context()).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=s.RunSerializer)
    @action(detail=True, methods=["post"], filter_backends=[])
    def cancel(self, request: Request, pk: str) -> Response:
        """Cancel a queued or running job; 409 when it had already finished."""
        return self._control(do_cancel_run, "the run has already finished")

    @extend_schema(request=None, responses=s.RunSerializer)
    @action(detail=True, methods=["post"], filter_backends=[])
    def resume(self, request: Request, pk: str) -> Response:
        """Resume a cancelled or failed generation run, or an import whose analysis stopped; 409 for any other run."""
        return self._control(do_resume, NOT_RESUMABLE)

    def _control(self, change: Any, refusal: str) -> Response:
        run = self.get_object()
        require_role(run.project, self.request.user, access.Action.GENERATE)
        body_status = status.HTTP_200_OK if change(run) else status.HTTP_409_CONFLICT
        body: dict[str, Any] = s.RunSerializer(run, context=self.get_serializer_context()).data
        if body_status == status.HTTP_409_CONFLICT:
            body = {"detail": refusal, "run": body}
        return Response(body, status=body_status)


class TraceViewSet(viewsets.ReadOnlyModelViewSet):
    pagination_class = NewestFirstCursor
    filterset_class = TraceFilter

    def get_queryset(self) -> QuerySet[Trace]:
        hidden = access.hidden_labels(self.request.user)
        queryset = Trace.objects.visible_to(self.request.user).with_labeled(hidden).select_related("project", "model")
        if self.action == "retrieve":
            annotations = TraceAnnotation.objects.exclude(hidden).select_related("user")
            queryset = queryset.select_related("problem", "current_segmentation").prefetch_related(
                Prefetch("annotations", queryset=annotations), "scores"
            )
        return queryset

    def get_serializer_class(self) -> type[s.TraceListSerializer]:
        return s.TraceDetailSerializer if self.action == "retrieve" else s.TraceListSerializer


class LabelViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Step labels of every source; people create (or update) their own labels here."""

    request: SignedInApiRequest

    serializer_class = s.LabelSerializer
    pagination_class = NewestFirstCursor
    filterset_class = LabelFilter

    def get_queryset(self) -> QuerySet[Label]:
        visible = Label.objects.filter(trace__in=Trace.objects.visible_to(self.request.user))
        return visible.exclude(access.hidden_labels(self.request.user)).select_related("user")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        labels = self._save([serializer.validated_data])
        return Response(s.LabelSerializer(labels[0]).data, status=status.HTTP_201_CREATED)

    @action(detail=False, methods=["post"], serializer_class=s.BulkLabelSerializer)
    def bulk(self, request: Request) -> Response:
        """Create or update many labels at once: all are saved, or none (first error reported)."""
        serializer = s.BulkLabelSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        labels = self._save(serializer.validated_data["labels"])
        return Response(s.LabelSerializer(labels, many=True).data, status=status.HTTP_201_CREATED)

    def _save(self, rows: list[dict[str, Any]]) -> list[Label]:
        for project in {row["step"].trace.project for row in rows}:
            require_role(project, self.request.user, access.Action.LABEL)
        items = [
            LabelInput(step=row["step"], value=row.get("value"), flagged=row.get("flagged"), note=row.get("note", ""))
            for row in rows
        ]
        return do_save_labels(self.request.user, items)


class ScoreViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.ScoreSerializer
    pagination_class = NewestFirstCursor
    filterset_class = ScoreFilter

    def get_queryset(self) -> QuerySet[Score]:
        return Score.objects.filter(trace__in=Trace.objects.visible_to(self.request.user))


class UploadTooLarge(APIException):
    """413: the upload is over ``THINKSCOPE_MAX_UPLOAD_BYTES``."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "upload_too_large"


class ImportViewSet(viewsets.GenericViewSet):
    """Upload a file in any importable format; it is imported by a worker as a job (a Run)."""

    serializer_class = s.ImportSerializer
    permission_classes = [permissions.IsAuthenticated]

    def create(self, request: SignedInApiRequest) -> Response:
        limit = settings.THINKSCOPE_MAX_UPLOAD_BYTES
        # Refused from its declared length, before the body is read, when it says it is too large.
        refusal = oversized_request(request.META.get("CONTENT_LENGTH"))
        if refusal:
            raise UploadTooLarge({"file": refusal})
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        require_role(data["project"], request.user, access.Action.IMPORT)
        upload = data["file"]
        if upload.size > limit:
            raise UploadTooLarge({"file": f"file is {upload.size} bytes; the limit is {limit}"})
        path = save_upload(upload)
        run = do_enqueue_import(data["project"], path, data["format"], skip_invalid=data["skip_invalid"],
                                think_format=data["think_format"], user=request.user)  # fmt: skip
        return Response(s.RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class ExportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """PRM training-data exports, each run as a job (a Run of kind ``export``) by a worker."""

    pagination_class = NewestFirstCursor
    filterset_fields = {"project__slug": ["exact"], "status": ["exact"]}

    def get_queryset(self) -> QuerySet[Run]:
        return Run.objects.filter(
            kind=RunKind.EXPORT, project__in=Project.objects.visible_to(self.request.user)
        ).select_related("project", "created_by")

    def get_serializer_class(self) -> type[s.ExportSerializer] | type[s.ExportRequestSerializer]:
        return s.ExportRequestSerializer if self.action == "create" else s.ExportSerializer

    @extend_schema(request=s.ExportRequestSerializer, responses={202: s.ExportSerializer})
    def create(self, request: SignedInApiRequest) -> Response:
        """Start an export job (reviewers and owners); poll the job, then download its files."""
        serializer = s.ExportRequestSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        project = serializer.validated_data["project"]
        require_role(project, request.user, access.Action.EXPORT)
        try:
            run = do_start_export(project, serializer.validated_data["spec"], user=request.user)
        except RequestRejected as rejected:
            raise ValidationError(s.rejection_detail(rejected)) from None
        body = s.ExportSerializer(run, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        parameters=[OpenApiParameter("file", str, required=True, description="a split (train, test) or manifest")],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def download(self, request: Request, pk: str) -> FileResponse:
        """One file of a finished export, as an attachment; 403 when it reads a gold source the caller may not see."""
        run = self.get_object()
        require_visible(run.project, request.user, export_sources(run))
        name = request.query_params.get("file", "")
        try:
            path = export_file(run, name)
        except RequestRejected as rejected:
            raise ValidationError({rejected.field: [rejected.message]}) from None
        return FileResponse(path.open("rb"), as_attachment=True, filename=download_name(run, path))


class PreferenceViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Pairwise preferences of every person and judge in the user's projects.

    POST records the user's own preference (annotators and above), or updates it when they had
    already judged the pair; it answers 201 either way with the row in canonical order.
    """

    request: SignedInApiRequest

    serializer_class = s.PreferenceSerializer
    pagination_class = NewestFirstCursor
    filterset_class = PreferenceFilter

    def get_queryset(self) -> QuerySet[Preference]:
        # Both traces of a pair belong to one project (traces.actions.preferences), so trace_a scopes it.
        visible = Trace.objects.visible_to(self.request.user)
        return Preference.objects.filter(trace_a__in=visible).select_related("user")

    def perform_create(self, serializer: BaseSerializer) -> None:
        data = serializer.validated_data
        try:
            serializer.instance = do_save_preference(
                self.request.user,
                data["trace_a"],
                data["trace_b"],
                data["choice"],
                data.get("reason", ""),
            )
        except access.PermissionDenied as denied:
            raise PermissionDenied(str(denied)) from None
        except PreferenceError as refused:
            raise ValidationError({"non_field_errors": [str(refused)]}) from None


class QueueViewSet(viewsets.ReadOnlyModelViewSet):
    """Annotation queues of the user's projects; ``next`` hands the caller their next item."""

    serializer_class = s.QueueSerializer
    pagination_class = NewestFirstCursor
    filterset_fields = {"project__slug": ["exact"], "is_open": ["exact"]}

    def get_queryset(self) -> QuerySet[Queue]:
        return Queue.objects.filter(project__in=Project.objects.visible_to(self.request.user)).select_related("project")

    @extend_schema(request=None, responses={200: s.QueueItemSerializer, 204: None})
    @action(detail=True, methods=["post"], filter_backends=[])
    def next(self, request: SignedInApiRequest, pk: str) -> Response:
        """The caller's item in progress, else a new one (annotators and above); 204 when none is left for them."""
        queue = self.get_object()
        require_role(queue.project, request.user, access.Action.LABEL)
        item = next_item_for(queue, request.user)
        if item is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(s.QueueItemSerializer(item, context=self.get_serializer_context()).data)
