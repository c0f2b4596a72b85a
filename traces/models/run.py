"""Models (generators) and runs (docs/concepts.md §1 Model, Run)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from traces.models.project import Project


class Backend(models.TextChoices):
    VLLM = "vllm", "vLLM (in-process)"
    OPENAI = "openai", "OpenAI-compatible server"
    TRANSFORMERS = "transformers", "transformers (local CPU/GPU)"
    IMPORTED = "imported", "Imported (no backend)"


class ThinkFormat(models.TextChoices):
    """Where a model puts its reasoning (docs/concepts.md §1 Trace think delimiters)."""

    AUTO = "auto", "Detect from its traces, once per import"
    THINK_TAGS = "think_tags", "<think>…</think> written by the model"
    THINK_IN_PROMPT = "think_in_prompt", "…</think>: the chat template opens <think> in the prompt"
    SKY_T1 = "sky_t1", "<|begin_of_thought|>…<|end_of_thought|>"
    REASONING_CONTENT = "reasoning_content", "Separate reasoning_content field"
    NONE = "none", "No think part"


class LanguageModel(models.Model):
    """The "Model" of docs/concepts.md §1: a named generator. Named LanguageModel so it never reads as django's Model.

    A model that generates names an ``endpoint`` the operator declared (app/endpoints.py): where it
    runs, with which key, is the operator's; the project chooses the endpoint, the model id to ask
    it for, the chat template, system prompt, think format and default sampling parameters.
    ``backend`` is copied from the endpoint when the model is saved through an action or the API
    (``imported`` for a model that only has imported traces)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="language_models")
    name = models.CharField(max_length=200)
    backend = models.CharField(
        max_length=16, choices=Backend.choices, default=Backend.IMPORTED, help_text="The endpoint's backend"
    )
    endpoint = models.CharField(
        max_length=100, blank=True, default="", help_text="An endpoint the operator declared; empty: imported"
    )
    served_model = models.CharField(
        max_length=200, blank=True, default="", help_text="The model id to ask the endpoint for; empty: the name"
    )
    chat_template = models.TextField(blank=True, default="", help_text="Empty: the tokenizer's own")
    system_prompt = models.TextField(blank=True, default="")
    think_format = models.CharField(max_length=20, choices=ThinkFormat.choices, default=ThinkFormat.AUTO)
    default_params = models.JSONField(default=dict, blank=True, help_text="Default sampling parameters")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="model_unique_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def model_id(self) -> str:
        """The model id its endpoint is asked for."""
        return self.served_model or self.name

    @property
    def project_slug(self) -> str:
        """Its project's slug: endpoints are opened to projects by slug."""
        return self.project.slug


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class RunKind(models.TextChoices):
    GENERATION = "generation", "Generation"
    IMPORT = "import", "Import"
    EXPORT = "export", "Export"
    MC_ROLLOUT = "mc_rollout", "Monte Carlo step labels"
    JUDGE = "judge", "LLM judge labels"
    PRM_TRAINING = "prm_training", "PRM training"
    PRM_SCORING = "prm_scoring", "PRM step scores"


class Run(models.Model):
    """One job: a generation, the import of one file (then `source_file`/`source_format` are set), an
    export (its format, label policy and filters in `params`, its manifest in `report`), or an
    automatic labeling of traces (Monte Carlo rollouts or LLM judges; its traces' filter and
    parameters in `params`). `status` CANCELLED set while it runs asks the worker to stop."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="runs")
    model = models.ForeignKey(LanguageModel, on_delete=models.PROTECT, related_name="runs", null=True, blank=True)
    kind = models.CharField(max_length=16, choices=RunKind.choices)
    name = models.CharField(max_length=200, blank=True, default="")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    n_samples = models.PositiveIntegerField(default=1)
    params = models.JSONField(default=dict, blank=True, help_text="Sampling parameters")
    seed = models.BigIntegerField(null=True, blank=True)
    source_file = models.CharField(max_length=500, blank=True, default="")
    source_format = models.CharField(max_length=32, blank=True, default="")
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    tokens_generated = models.BigIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    report = models.JSONField(default=dict, blank=True, help_text="Counts and skipped lines of an import")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["project", "-created_at"], name="run_project_recent_idx")]

    def __str__(self) -> str:
        return self.name or f"{self.kind} run {self.pk}"

    @property
    def seconds(self) -> float | None:
        """Wall-clock duration, when the run has started and finished."""
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    @property
    def tokens_per_second(self) -> float | None:
        seconds = self.seconds
        return self.tokens_generated / seconds if seconds else None
