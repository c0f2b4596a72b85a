"""Process reward models trained inside thinkscope (docs/concepts.md §5.2).

A training job (a Run of kind ``prm_training``) registers the PRM it trained here once its weights
are saved, so that projects can score with it. The folder is the system's: a name under the data
directory's ``prms/`` chosen by the job (``traces.actions.prm_scorers.prm_dir``), never a path a
person typed. Folders declared by the operator are not rows: they live in the endpoints file
(app/scorers.py).
"""

from __future__ import annotations

from django.db import models

from traces.models.project import Project
from traces.models.run import Run


class TrainedPrm(models.Model):
    """One trained PRM: its name (scores and labels carry ``prm:<name>``), the job that trained it, the
    operator's endpoint whose model it started from (its device is that endpoint's), its folder under
    ``prms/``, the step separator it reads, a digest of its weights (``version``) and what it was
    trained on and with (``params``: label policy, hyperparameters, examples, final loss)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="trained_prms")
    name = models.CharField(max_length=64)
    run = models.OneToOneField(Run, on_delete=models.SET_NULL, null=True, blank=True, related_name="trained_prm")
    base_endpoint = models.CharField(max_length=100)
    folder = models.CharField(max_length=200, help_text="Under the data directory's prms/, chosen by the job")
    separator = models.CharField(max_length=32, default="\n")
    version = models.CharField(max_length=32)
    params = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="trained_prm_unique_name")]

    def __str__(self) -> str:
        return self.name
