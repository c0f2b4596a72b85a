"""PRMs over the API (docs/concepts.md §5): the scorers a project may use, training one, scoring with one.

* ``GET /api/prms/?project=<slug>`` — the project's scorers: name, kind (trained here, or an
  operator's folder), convention, version, description; never a folder or a device.
* ``POST /api/prms/train/`` — start a training (reviewers and owners); 202 with the Run to poll.
* ``POST /api/prms/score/`` — score every step of the selected traces with a scorer; 202 with the Run.

Nothing here takes a path: a base model is an operator's endpoint by name, a scorer is named.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from app.endpoints import EMBEDDED
from traces import access
from traces.actions.auto_labels import Selection
from traces.actions.exports import RequestRejected
from traces.actions.prm_scorers import usable_scorers
from traces.actions.prm_scoring import DEFAULT_THRESHOLD, ScoringSpec, do_start_scoring
from traces.actions.prm_training import DEFAULT_POLICY, MAX_STEPS, TrainingSpec, do_start_training
from traces.analysis.prm_inputs import DEFAULT_SEPARATOR
from traces.api.serializers import (
    LabelPolicySerializer,
    ProjectSlugField,
    RunSerializer,
    TraceSelectionSerializer,
    rejection_detail,
    selection,
)
from traces.api.views import SignedInApiRequest, require_role
from traces.models import Project, Run

DEFAULTS = TrainingSpec()


class TrainingPolicySerializer(LabelPolicySerializer):
    """The label policy of a training; its defaults are a PRM's (people's labels, neutral right, cut after an error)."""

    sources = serializers.CharField(max_length=100, default=DEFAULT_POLICY.sources)
    neutral = serializers.ChoiceField(choices=["positive", "negative", "drop"], default=DEFAULT_POLICY.neutral.value)
    after_error = serializers.ChoiceField(choices=["keep", "cut"], default=DEFAULT_POLICY.after_error.value)


class TrainingRequestSerializer(serializers.Serializer):
    """POST /api/prms/train/: the labels, the traces, the base endpoint and the hyperparameters."""

    project = ProjectSlugField()
    name = serializers.CharField(required=False, default="", allow_blank=True, max_length=64)
    base = serializers.CharField(default=EMBEDDED, max_length=100, help_text="an operator's transformers endpoint")
    policy = TrainingPolicySerializer(required=False)
    filters = TraceSelectionSerializer(required=False)
    trace_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), required=False, default=list, max_length=100_000
    )
    max_steps = serializers.IntegerField(default=DEFAULTS.max_steps, min_value=1, max_value=MAX_STEPS)
    learning_rate = serializers.FloatField(default=DEFAULTS.learning_rate, min_value=1e-8, max_value=1.0)
    batch_size = serializers.IntegerField(default=DEFAULTS.batch_size, min_value=1, max_value=256)
    max_length = serializers.IntegerField(default=DEFAULTS.max_length, min_value=16, max_value=32_768)
    trainable_layers = serializers.IntegerField(default=DEFAULTS.trainable_layers, min_value=0, max_value=1000)
    separator = serializers.CharField(default=DEFAULT_SEPARATOR, trim_whitespace=False, max_length=32)
    seed = serializers.IntegerField(default=0, min_value=0, max_value=2**31 - 1)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        policy = attrs.pop("policy", None)
        attrs["spec"] = TrainingSpec(
            name=attrs["name"],
            base=attrs["base"],
            policy=policy["label_policy"] if policy else DEFAULT_POLICY,
            **{key: attrs[key] for key in ("max_steps", "learning_rate", "batch_size", "max_length",
                                           "trainable_layers", "separator", "seed")},
        )  # fmt: skip
        attrs["selection"] = Selection(selection(attrs.get("filters", {})), tuple(attrs["trace_ids"]))
        return attrs


class ScoringRequestSerializer(serializers.Serializer):
    """POST /api/prms/score/: a scorer by name, the threshold of its labels, and the traces."""

    project = ProjectSlugField()
    scorer = serializers.CharField(max_length=64)
    threshold = serializers.FloatField(default=DEFAULT_THRESHOLD, help_text="a step scored at least this is labelled +1")
    filters = TraceSelectionSerializer(required=False)
    trace_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), required=False, default=list, max_length=100_000
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs["spec"] = ScoringSpec(attrs["scorer"], attrs["threshold"])
        attrs["selection"] = Selection(selection(attrs.get("filters", {})), tuple(attrs["trace_ids"]))
        return attrs


class ScorerSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.CharField(help_text="trained (here) or declared (an operator's folder)")
    convention = serializers.CharField(help_text="token_classification or step_tag")
    # A declared field, which the serializer's metaclass moves out of the class (not Field.source).
    source = serializers.CharField(help_text="the label source and score method of its scores")  # type: ignore[assignment]
    version = serializers.CharField(help_text="empty for a declared scorer without one: its config's digest is recorded")
    description = serializers.CharField()


class PrmViewSet(viewsets.ViewSet):
    """A project's PRM scorers; ``train`` and ``score`` start jobs."""

    @extend_schema(
        parameters=[OpenApiParameter("project", str, required=True, description="project slug")],
        responses=ScorerSerializer(many=True),
    )
    def list(self, request: Request) -> Response:
        slug = request.query_params.get("project", "")
        project = Project.objects.visible_to(request.user).filter(slug=slug).first()
        if project is None:
            raise ValidationError({"project": [f"no project {slug!r} among yours"]})
        rows = [
            {"name": s.name, "kind": s.kind, "convention": s.layout.convention, "source": s.source,
             "version": s.version, "description": s.description}
            for s in usable_scorers(project)
        ]  # fmt: skip
        return Response(ScorerSerializer(rows, many=True).data)

    @extend_schema(request=TrainingRequestSerializer, responses={202: RunSerializer})
    @action(detail=False, methods=["post"])
    def train(self, request: SignedInApiRequest) -> Response:
        """Start training a PRM (reviewers and owners); poll the run: its report holds the loss curve."""
        return self._start(TrainingRequestSerializer, do_start_training, request)

    @extend_schema(request=ScoringRequestSerializer, responses={202: RunSerializer})
    @action(detail=False, methods=["post"])
    def score(self, request: SignedInApiRequest) -> Response:
        """Start scoring every step of the selected traces with a scorer (reviewers and owners)."""
        return self._start(ScoringRequestSerializer, do_start_scoring, request)

    def _start(
        self, serializer_class: type[serializers.Serializer], starter: Callable[..., Run], request: SignedInApiRequest
    ) -> Response:
        """Validate the request, start the job with ``starter``; 202 with the Run, or 400 naming the field."""
        data = self._valid(serializer_class, request)
        try:
            run = starter(data["project"], data["spec"], data["selection"], user=request.user)
        except RequestRejected as rejected:
            raise ValidationError(rejection_detail(rejected)) from None
        return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    def _valid(self, serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
        serializer = serializer_class(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        require_role(serializer.validated_data["project"], request.user, access.Action.GENERATE)
        return dict(serializer.validated_data)
