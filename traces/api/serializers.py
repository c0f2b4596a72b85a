"""API serializers: explicit fields, read-only what the server decides (STYLE.md §6)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from traces.formats import FORMAT_NAMES
from traces.models import Label, LanguageModel, Problem, Project, Run, Score, Step, Trace, TraceAnnotation


class ProjectSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["id", "name", "slug", "description", "role", "created_at"]
        read_only_fields = ["id", "role", "created_at"]

    def get_role(self, project: Project) -> str | None:
        role = project.role_of(self.context["request"].user)
        return role.value if role else None


class ProjectSlugField(serializers.SlugRelatedField):
    """A project named by slug, limited to the requesting user's projects."""

    def __init__(self, **kwargs: Any):
        super().__init__(slug_field="slug", **kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return Project.objects.visible_to(self.context["request"].user)


class ProblemSerializer(serializers.ModelSerializer):
    project = ProjectSlugField(read_only=True)

    class Meta:
        model = Problem
        fields = ["id", "project", "prompt", "answer", "answer_type", "source", "split", "external_id", "meta"]
        read_only_fields = fields


class LanguageModelSerializer(serializers.ModelSerializer):
    project = ProjectSlugField()

    class Meta:
        model = LanguageModel
        fields = [
            "id", "project", "name", "backend", "path", "chat_template", "system_prompt", "think_format",
            "default_params", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "created_at"]


class RunSerializer(serializers.ModelSerializer):
    project = ProjectSlugField(read_only=True)
    tokens_per_second = serializers.FloatField(read_only=True)

    class Meta:
        model = Run
        fields = [
            "id", "project", "model", "kind", "name", "status", "n_samples", "params", "seed", "source_file",
            "source_format", "progress_done", "progress_total", "tokens_generated", "tokens_per_second", "error",
            "report", "created_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class LabelSerializer(serializers.ModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", read_only=True)

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
    labels = LabelSerializer(many=True, allow_empty=False, max_length=5000)


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
    user = serializers.SlugRelatedField(slug_field="username", read_only=True)

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
    project = ProjectSlugField(read_only=True)
    model = serializers.SlugRelatedField(slug_field="name", read_only=True)

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
        steps = Step.objects.filter(segmentation_id=trace.current_segmentation_id).prefetch_related("labels__user")
        return StepSerializer(steps, many=True, context={**self.context, "raw_text": trace.raw_text}).data  # type: ignore[return-value]


class ImportSerializer(serializers.Serializer):
    project = ProjectSlugField()
    format = serializers.ChoiceField(choices=FORMAT_NAMES)
    file = serializers.FileField()
    skip_invalid = serializers.BooleanField(default=False)
