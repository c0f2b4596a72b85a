"""API serializers: explicit fields, read-only what the server decides."""

from __future__ import annotations

import re
from dataclasses import fields as dataclass_fields
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Prefetch, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from traces import access
from traces.actions.exports import (
    ExportFilters,
    ExportSpec,
    RequestRejected,
    build_policy,
    export_file_names,
)
from traces.actions.generation import GenerationError, select_problem_ids
from traces.actions.imports import source_name
from traces.actions.think_formats import CHOICES as THINK_FORMATS
from traces.backends import SamplingParams
from traces.exports.policy import HUMAN_ELSE_AUTO, AfterError, HumanCompletion, Neutral
from traces.exports.writers import EXPORT_FORMAT_NAMES, MANIFEST_NAME
from traces.formats import FORMAT_NAMES
from traces.formats.trl import DEFAULT_STEP_SEPARATOR
from traces.models import (
    FinishReason,
    Label,
    LanguageModel,
    Preference,
    Problem,
    Project,
    Queue,
    QueueItem,
    Run,
    RunStatus,
    Score,
    Step,
    Trace,
    TraceAnnotation,
)
from traces.models.trace import CORRECTNESS_FILTER


class ProjectSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["id", "name", "slug", "description", "role", "created_at"]
        read_only_fields = ["id", "role", "created_at"]

    def get_role(self, project: Project) -> str | None:
        role = project.role_of(self.context["request"].user)
        return role.value if role else None


#: What a project slug looks like (Django's ``validate_slug``); the router's lookup uses it too.
SLUG_PATTERN = r"[-a-zA-Z0-9_]+"
SLUG = re.compile(SLUG_PATTERN)


@extend_schema_field(OpenApiTypes.STR)
class ProjectSlugField(serializers.SlugRelatedField):
    """A project named by slug, limited to the requesting user's projects."""

    def __init__(self, **kwargs: Any):
        super().__init__(slug_field="slug", **kwargs)

    def to_internal_value(self, data: Any) -> Project:
        """A value that is no slug names no project: the same error as a missing one, no query."""
        if not isinstance(data, str) or not SLUG.fullmatch(data):
            self.fail("does_not_exist", slug_name=self.slug_field, value=data)
        return super().to_internal_value(data)

    def get_queryset(self) -> QuerySet[Project]:
        return Project.objects.visible_to(self.context["request"].user)


class ProblemSerializer(serializers.ModelSerializer):
    project = ProjectSlugField(read_only=True)

    class Meta:
        model = Problem
        fields = ["id", "project", "prompt", "answer", "answer_type", "source", "split", "external_id", "meta"]
        read_only_fields = fields


class LanguageModelSerializer(serializers.ModelSerializer):
    """A project's model on an endpoint the operator declared (``GET /api/projects/<slug>/endpoints/``).

    Addresses, API keys, folders and devices are the operator's: a request naming one is refused,
    never silently ignored, so a client written for a URL-per-model API learns what changed."""

    project = ProjectSlugField()

    #: Fields of the former URL-per-model API that only the operator sets now.
    OPERATOR_FIELDS = ("path", "base_url", "api_key", "api_key_env", "device")

    class Meta:
        model = LanguageModel
        fields = [
            "id", "project", "name", "backend", "endpoint", "served_model", "chat_template", "system_prompt",
            "think_format", "default_params", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "backend", "created_at"]

    def to_internal_value(self, data: Any) -> Any:
        named = [key for key in self.OPERATOR_FIELDS if isinstance(data, dict) and key in data]
        if named:
            raise serializers.ValidationError({key: [OPERATOR_SETTING] for key in named})
        return super().to_internal_value(data)

    def validate_default_params(self, params: Any) -> Any:
        if not isinstance(params, dict):
            raise serializers.ValidationError("must be an object of default sampling parameters")
        if contains_nul(params):  # PostgreSQL's jsonb refuses them
            raise serializers.ValidationError("must not contain NUL characters (\\u0000)")
        unknown = sorted(set(params) - {field.name for field in dataclass_fields(SamplingParams)})
        if unknown:
            raise serializers.ValidationError(f"{', '.join(unknown)}: not a sampling parameter; {OPERATOR_SETTING}")
        try:
            SamplingParams.from_dict(params)
        except (TypeError, ValueError) as error:
            raise serializers.ValidationError(str(error)) from None
        return params


#: Why a model may not name an address, a key variable, a folder or a device.
OPERATOR_SETTING = (
    "server addresses, API key variables, model folders and devices are set by the operator on an "
    "endpoint; choose one of the project's endpoints (GET /api/projects/<slug>/endpoints/)"
)


class EndpointSerializer(serializers.Serializer):
    """What a project sees of an endpoint: never its address, key variable or folder."""

    name = serializers.CharField()
    backend = serializers.CharField()
    description = serializers.CharField()
    models = serializers.ListField(child=serializers.CharField(), help_text="Model ids it serves; empty: any")


def contains_nul(value: Any) -> bool:
    """Whether a JSON value holds a NUL character in any string or key."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(key) or contains_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(contains_nul(item) for item in value)
    return False


class RunSerializer(serializers.ModelSerializer):
    project = ProjectSlugField(read_only=True)
    tokens_per_second = serializers.FloatField(read_only=True)
    source_file = serializers.SerializerMethodField(help_text="the imported file's name (never its path on the server)")

    class Meta:
        model = Run
        fields = [
            "id", "project", "model", "kind", "name", "status", "n_samples", "params", "seed", "source_file",
            "source_format", "progress_done", "progress_total", "tokens_generated", "tokens_per_second", "error",
            "report", "created_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_source_file(self, run: Run) -> str:
        return source_name(run)


class GenerationRequestSerializer(serializers.Serializer):
    """POST /api/runs/: generate ``n`` samples of each selected problem with a model (docs/concepts.md §1 Run).

    Problems: ``problem_ids``, else every problem of ``dataset`` (a source), else every problem of
    the project; ``limit`` keeps the first N of the selection.
    """

    project = ProjectSlugField()
    model = serializers.CharField(max_length=200, help_text="the name of one of the project's models")
    dataset = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    problem_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=100_000)
    limit = serializers.IntegerField(required=False, min_value=1)
    n = serializers.IntegerField(min_value=1, max_value=256, default=1)
    temperature = serializers.FloatField(min_value=0.0, max_value=5.0, default=0.7)
    top_p = serializers.FloatField(min_value=0.01, max_value=1.0, default=0.95)
    max_new_tokens = serializers.IntegerField(min_value=1, max_value=131_072, default=256)
    seed = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=2**31 - 1)
    logprobs = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=20)
    name = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        project = attrs["project"]
        model = LanguageModel.objects.filter(project=project, name=attrs["model"]).first()
        if model is None:
            raise serializers.ValidationError({"model": [f"no model named '{attrs['model']}' in '{project.slug}'"]})
        attrs["model"] = model
        attrs["params"] = SamplingParams(
            max_new_tokens=attrs["max_new_tokens"],
            temperature=attrs["temperature"],
            top_p=attrs["top_p"],
            n=attrs["n"],
            seed=attrs.get("seed"),
            logprobs=attrs.get("logprobs"),
        )
        try:
            attrs["selected"] = select_problem_ids(
                project, source=attrs["dataset"], problem_ids=attrs.get("problem_ids", ()), limit=attrs.get("limit")
            )
        except GenerationError as error:
            raise serializers.ValidationError({error.field: [error.message]}) from None
        return attrs


class LabelSerializer(serializers.ModelSerializer):
    user: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Label
        fields = ["id", "step", "trace", "value", "flagged", "note", "source", "user", "confidence", "params", "updated_at"]
        read_only_fields = ["id", "trace", "source", "user", "confidence", "params", "updated_at"]
        # A person's label is one per (step, user): saving again updates it, so no unique validator here.
        validators: list[Any] = []

    def validate_step(self, step: Step) -> Step:
        user = self.context["request"].user
        if not Trace.objects.visible_to(user).filter(pk=step.trace_id).exists():
            raise serializers.ValidationError(f"Invalid pk \"{step.pk}\" - object does not exist.")
        if step.trace.current_segmentation_id != step.segmentation_id:
            raise serializers.ValidationError(
                "this step belongs to an older segmentation of its trace; label the current steps"
            )
        return step


class BulkLabelSerializer(serializers.Serializer):
    # many=True makes a ListSerializer, which takes max_length; the stubs type the call as a LabelSerializer.
    labels = LabelSerializer(many=True, allow_empty=False, max_length=5000)  # type: ignore[call-arg]


class StepSerializer(serializers.ModelSerializer):
    text = serializers.SerializerMethodField()
    labels = LabelSerializer(many=True, read_only=True)

    class Meta:
        model = Step
        fields = ["id", "index", "part", "char_start", "char_end", "token_start", "token_end", "text", "alternatives", "labels"]
        read_only_fields = fields

    def get_text(self, step: Step) -> str:
        return self.context["raw_text"][step.char_start : step.char_end]


class TraceAnnotationSerializer(serializers.ModelSerializer):
    user: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = TraceAnnotation
        fields = [
            "id", "source", "user", "first_error_step", "final_answer_verdict", "mismatch_verdict",
            "overthinking_verdict", "tags", "note", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class ScoreSerializer(serializers.ModelSerializer):
    class Meta:
        model = Score
        fields = ["id", "trace", "step", "name", "value", "method", "version"]
        read_only_fields = fields


class TraceListSerializer(serializers.ModelSerializer):
    """A trace; ``has_labels`` counts only the labels the caller may see (``TraceQuerySet.with_labeled``)."""

    project = ProjectSlugField(read_only=True)
    model: serializers.SlugRelatedField[LanguageModel] = serializers.SlugRelatedField(slug_field="name", read_only=True)
    has_labels = serializers.BooleanField(source="labeled", read_only=True)

    class Meta:
        model = Trace
        fields = [
            "id", "project", "run", "problem", "model", "sample_index", "final_answer", "think_answer", "is_correct",
            "grading_method", "finish_reason", "think_closed", "think_tokens", "answer_tokens", "tokens_exact",
            "has_labels", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class TraceDetailSerializer(TraceListSerializer):
    problem = ProblemSerializer(read_only=True)
    steps = serializers.SerializerMethodField()
    annotations = TraceAnnotationSerializer(many=True, read_only=True)
    scores = ScoreSerializer(many=True, read_only=True)
    segmentation = serializers.SerializerMethodField()

    class Meta(TraceListSerializer.Meta):
        fields = TraceListSerializer.Meta.fields + [
            "raw_text", "think_start", "think_end", "answer_start", "answer_end", "logprobs", "meta",
            "segmentation", "steps", "annotations", "scores",
        ]  # fmt: skip
        read_only_fields = fields

    def get_segmentation(self, trace: Trace) -> dict[str, Any] | None:
        seg = trace.current_segmentation
        return {"id": seg.pk, "version": seg.version, "method": seg.method} if seg else None

    def get_steps(self, trace: Trace) -> list[dict[str, Any]]:
        """The current steps with the labels the caller may see (``traces.access``)."""
        labels = Label.objects.exclude(access.hidden_labels(self.context["request"].user)).select_related("user")
        steps = Step.objects.filter(segmentation=trace.current_segmentation_id).prefetch_related(
            Prefetch("labels", queryset=labels)
        )
        # many=True makes a ListSerializer, whose data is a list; the stubs type it as one step's dict.
        return StepSerializer(steps, many=True, context={**self.context, "raw_text": trace.raw_text}).data  # type: ignore[return-value]


class ImportSerializer(serializers.Serializer):
    project = ProjectSlugField()
    format = serializers.ChoiceField(choices=FORMAT_NAMES)
    file = serializers.FileField()
    skip_invalid = serializers.BooleanField(default=False)
    think_format = serializers.ChoiceField(
        choices=THINK_FORMATS,
        default="auto",
        help_text="Where the traces' thinking is, for every trace of the file; auto: decided once per model from "
        "its traces (the run's report says which and why)",
    )


class TraceSelectionSerializer(serializers.Serializer):
    """Which of the project's traces an export or an evaluation reads (the trace list's filters)."""

    model = serializers.CharField(required=False, default="", allow_blank=True, max_length=200, help_text="Model name")
    run = serializers.IntegerField(required=False, default=None, allow_null=True, min_value=1, max_value=2**63 - 1)
    correct = serializers.ChoiceField(choices=["", *CORRECTNESS_FILTER], required=False, default="")
    finish_reason = serializers.ChoiceField(choices=["", *FinishReason.values], required=False, default="")
    labeled = serializers.ChoiceField(choices=["", "yes", "no"], required=False, default="")
    q = serializers.CharField(required=False, default="", allow_blank=True, max_length=200)


class LabelPolicySerializer(serializers.Serializer):
    """An export's label policy (docs/concepts.md §2; ``traces.exports.policy.LabelPolicy``)."""

    sources = serializers.CharField(
        max_length=100,
        help_text=f"human, adjudicated, one automatic method (mc_rollout, llm_judge:<model>, heuristic:<name>, "
        f"import:<format>), or {HUMAN_ELSE_AUTO} (adjudicated, else human, else auto_method, per step)",
    )
    auto_method = serializers.CharField(max_length=100, required=False, default="", allow_blank=True)
    neutral = serializers.ChoiceField(choices=[n.value for n in Neutral], default=Neutral.NEGATIVE.value)
    after_error = serializers.ChoiceField(choices=[a.value for a in AfterError], default=AfterError.KEEP.value)
    test_fraction = serializers.FloatField(default=0.0, min_value=0.0, max_value=1.0, help_text="in [0, 1)")
    seed = serializers.IntegerField(default=0, min_value=-(2**63), max_value=2**63 - 1)
    human_completion = serializers.ChoiceField(
        choices=[h.value for h in HumanCompletion],
        default=HumanCompletion.CORRECT.value,
        help_text="What an unrated step a person wrote (PRM800K's human_completion) becomes: correct (TRL's "
        "PRM800K convention), unlabelled, or skip (traces with one are left out)",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        try:
            attrs["label_policy"] = build_policy(**attrs)
        except RequestRejected as rejected:
            raise serializers.ValidationError({rejected.field: [rejected.message]}) from None
        return attrs


class ExportRequestSerializer(serializers.Serializer):
    """POST /api/exports/: what to export, under which label policy, from which traces."""

    project = ProjectSlugField()
    format = serializers.ChoiceField(choices=EXPORT_FORMAT_NAMES)
    policy = LabelPolicySerializer()
    filters = TraceSelectionSerializer(required=False)
    step_separator = serializers.CharField(
        required=False, trim_whitespace=False, allow_blank=True, max_length=32,
        help_text="TRL formats only: the separator TRL's PRM trainer (TRL <= 1.13) appends to each step "
        "(default a newline)",
    )  # fmt: skip
    options = serializers.DictField(
        child=serializers.CharField(trim_whitespace=False, allow_blank=True, max_length=32),
        required=False,
        default=dict,
        help_text="The format's other options, e.g. openrlhf's placeholder_token, positive_token, negative_token",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs["spec"] = ExportSpec(
            format=attrs["format"],
            policy=attrs["policy"]["label_policy"],
            filters=selection(attrs.get("filters", {})),
            step_separator=attrs.get("step_separator", DEFAULT_STEP_SEPARATOR),
            options=attrs.get("options", {}),
        )
        return attrs


def selection(data: dict[str, Any]) -> ExportFilters:
    """The trace filters among validated data (``TraceSelectionSerializer``'s fields)."""
    return ExportFilters(**{f.name: data[f.name] for f in dataclass_fields(ExportFilters) if f.name in data})


def rejection_detail(rejected: RequestRejected) -> dict[str, Any]:
    """A rejected request as DRF's error body: the message under its field (filters nested)."""
    if rejected.field in TraceSelectionSerializer._declared_fields:
        return {"filters": {rejected.field: [rejected.message]}}
    return {rejected.field: [rejected.message]}


class ExportedFileSerializer(serializers.Serializer):
    name = serializers.CharField()
    split = serializers.CharField()
    rows = serializers.IntegerField()
    bytes = serializers.IntegerField()
    sha256 = serializers.CharField()
    url = serializers.URLField(help_text="Download link")


class ExportSerializer(serializers.ModelSerializer):
    """An export job: its request, status and, once done, its manifest and files."""

    project = ProjectSlugField(read_only=True)
    format = serializers.SerializerMethodField()
    policy = serializers.SerializerMethodField()
    filters = serializers.SerializerMethodField()
    manifest = serializers.SerializerMethodField()
    files = serializers.SerializerMethodField()
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Run
        fields = [
            "id", "project", "status", "format", "policy", "filters", "progress_done", "progress_total", "error",
            "manifest", "files", "created_by", "created_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_format(self, run: Run) -> str:
        return str(run.params.get("format", ""))

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_policy(self, run: Run) -> dict[str, Any]:
        return dict(run.params.get("policy", {}))

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_filters(self, run: Run) -> dict[str, Any]:
        return ExportFilters(**run.params.get("filters", {})).as_query()

    @extend_schema_field({"type": "object", "nullable": True, "description": "manifest.json of a finished export"})
    def get_manifest(self, run: Run) -> dict[str, Any] | None:
        return run.report if run.status == RunStatus.SUCCEEDED else None

    @extend_schema_field(ExportedFileSerializer(many=True))
    def get_files(self, run: Run) -> list[dict[str, Any]]:
        """Each downloadable file: the data files of the splits, then the manifest."""
        request = self.context.get("request")
        sizes = {entry["split"]: entry for entry in run.report.get("files", [])}
        files = []
        for name in export_file_names(run):
            url = reverse("export-download", args=[run.pk], request=request) + f"?file={name}"
            entry = sizes.get(name, {"name": MANIFEST_NAME, "split": name, "rows": 0, "bytes": 0, "sha256": ""})
            files.append({**entry, "url": url})
        return files


class EvaluationRequestSerializer(TraceSelectionSerializer):
    """GET /api/projects/<slug>/evaluate/: which label source to score against which reference."""

    method = serializers.CharField(max_length=100, help_text="The label source to score, e.g. llm_judge:qwen")
    reference = serializers.CharField(max_length=100, help_text="The reference label source, e.g. human")


class ProcessBenchScoreSerializer(serializers.Serializer):
    erroneous_accuracy = serializers.FloatField(allow_null=True)
    error_free_accuracy = serializers.FloatField(allow_null=True)
    f1 = serializers.FloatField(allow_null=True)
    n_erroneous = serializers.IntegerField()
    n_error_free = serializers.IntegerField()


class ConfusionSerializer(serializers.Serializer):
    labels = serializers.ListField(child=serializers.IntegerField())
    counts = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text="counts[i][j]: steps the reference labelled labels[i] and the method labels[j]",
    )


class EvaluationSerializer(serializers.Serializer):
    """A labeller's scores against a reference (``traces.queries.evaluation.LabellerEvaluation``)."""

    method = serializers.CharField()
    reference = serializers.CharField()
    traces_read = serializers.IntegerField()
    traces_compared = serializers.IntegerField()
    missing_method = serializers.IntegerField()
    missing_reference = serializers.IntegerField()
    first_errors_compared = serializers.IntegerField()
    processbench = ProcessBenchScoreSerializer(allow_null=True)
    step_accuracy = serializers.FloatField(allow_null=True)
    steps_compared = serializers.IntegerField()
    confusion = ConfusionSerializer(allow_null=True)


@extend_schema_field(OpenApiTypes.INT)
class VisibleTraceField(serializers.PrimaryKeyRelatedField):
    """A trace id, limited to the traces of the requesting user's projects (others "do not exist")."""

    def get_queryset(self) -> QuerySet[Trace]:
        return Trace.objects.visible_to(self.context["request"].user).select_related("project")


class PreferenceSerializer(serializers.ModelSerializer):
    """A pairwise preference between two traces of one problem.

    To create one, send the pair as the person saw it: ``choice`` ``a`` means ``trace_a`` is
    better. It is stored, and comes back, in canonical order (``trace_a`` < ``trace_b``, the choice
    flipped when needed); sending the same pair again updates the person's preference.
    """

    trace_a = VisibleTraceField()
    trace_b = VisibleTraceField()
    user: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Preference
        fields = ["id", "trace_a", "trace_b", "choice", "reason", "source", "user", "created_at", "updated_at"]
        read_only_fields = ["id", "source", "user", "created_at", "updated_at"]
        # One preference per (pair, person, source): saving again updates it (traces.actions.preferences).
        validators: list[Any] = []


class QueueSerializer(serializers.ModelSerializer):
    """An annotation queue: read-only; the browser UI makes them from a trace filter."""

    project = ProjectSlugField(read_only=True)

    class Meta:
        model = Queue
        fields = ["id", "project", "name", "instructions", "filters", "overlap", "policy", "is_open", "created_at"]
        read_only_fields = fields


class QueueItemSerializer(serializers.ModelSerializer):
    """An item handed out by ``POST /api/queues/<id>/next/``. Whether it is gold is never said."""

    labeling_url = serializers.SerializerMethodField()

    class Meta:
        model = QueueItem
        fields = ["id", "queue", "position", "trace", "done_count", "labeling_url"]
        read_only_fields = fields

    def get_labeling_url(self, item: QueueItem) -> str:
        args = [item.queue.project.slug, item.trace_id]
        return reverse("trace-label", args=args, request=self.context.get("request")) + f"?queue={item.queue_id}"
