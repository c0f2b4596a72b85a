"""The process reward models a project may score steps with (docs/concepts.md §5.3).

Two kinds, one list: PRMs trained in the project (``TrainedPrm`` rows, folders the system chose
under the data directory's ``prms/``) and folders the operator declared for it in the endpoints
file (app/scorers.py). A job names a scorer by its name alone; everything that reaches the disk or
a device — the folder, the device, the batch size — is resolved here from the operator's
configuration and the system's rows, never from what a person typed. A trained PRM runs on the
device of the endpoint whose model it started from (app/endpoints.py), or on the CPU once the
operator removes that endpoint.

Scores and labels of a scorer carry the source ``prm:<name>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from app.scorers import DeclaredScorer
from traces.actions.exports import RequestRejected
from traces.analysis.prm_inputs import DEFAULT_NEGATIVE, DEFAULT_POSITIVE, Layout
from traces.models import Project, TrainedPrm

PRM_SOURCE_PREFIX = "prm:"
TRAINED = "trained"
DECLARED = "declared"
#: Tokens a trained PRM reads per trace when its job did not say.
DEFAULT_MAX_LENGTH = 512


def prm_source(name: str) -> str:
    """The label source and score method of scorer ``name``."""
    return f"{PRM_SOURCE_PREFIX}{name}"


def prm_dir() -> Path:
    """Where trained PRMs are kept: ``DATA_DIR/prms/``."""
    return Path(settings.DATA_DIR) / "prms"


@dataclass(frozen=True)
class Scorer:
    """A PRM resolved for one project, with everything a worker needs to load and run it.

    ``path`` is a folder on the workers; pages and the API never show it. ``version`` is empty for
    a declared scorer that does not state one: the worker then records a digest of its config.
    Frozen and hashable: a worker keys its loaded models on it.
    """

    name: str
    kind: str
    path: str
    layout: Layout
    device: str
    batch_size: int
    max_length: int
    version: str = ""
    description: str = ""
    positive: str = DEFAULT_POSITIVE
    negative: str = DEFAULT_NEGATIVE

    @property
    def source(self) -> str:
        return prm_source(self.name)


def trained_scorer(prm: TrainedPrm) -> Scorer:
    """A trained PRM as a Scorer: its folder under ``prms/``, its base endpoint's device and batch size."""
    endpoint = settings.MODEL_ENDPOINTS.get(prm.base_endpoint)
    open_here = endpoint is not None and endpoint.backend == "transformers" and endpoint.open_to(prm.project.slug)
    usable = endpoint if open_here else None
    return Scorer(
        name=prm.name,
        kind=TRAINED,
        path=str(prm_dir() / prm.folder),
        layout=Layout.token_classification(prm.separator),
        device=usable.device if usable else "cpu",
        batch_size=usable.batch_size if usable else 8,
        max_length=int(prm.params.get("max_length", DEFAULT_MAX_LENGTH)),
        version=prm.version,
        description=f"trained here from {prm.base_endpoint} on {prm.params.get('examples', '?')} examples",
    )


def declared_scorer(declared: DeclaredScorer) -> Scorer:
    return Scorer(
        name=declared.name,
        kind=DECLARED,
        path=declared.path,
        layout=declared.layout,
        device=declared.device,
        batch_size=declared.batch_size,
        max_length=declared.max_length,
        version=declared.version,
        description=declared.description,
        positive=declared.positive,
        negative=declared.negative,
    )


def usable_scorers(project: Project) -> list[Scorer]:
    """The project's trained PRMs, newest first, then the operator's folders open to it, by name."""
    trained = [trained_scorer(prm) for prm in TrainedPrm.objects.filter(project=project).select_related("project")]
    names = {scorer.name for scorer in trained}
    declared = sorted(
        (d for d in settings.PRM_SCORERS.values() if d.open_to(project.slug) and d.name not in names),
        key=lambda d: d.name,
    )
    return trained + [declared_scorer(d) for d in declared]


def scorer_named(project: Project, name: str, field: str = "scorer") -> Scorer:
    """The scorer ``name`` of ``project``; RequestRejected naming the ones it may use otherwise."""
    scorers = usable_scorers(project)
    for scorer in scorers:
        if scorer.name == name:
            return scorer
    names = ", ".join(scorer.name for scorer in scorers) or "none yet: train one, or ask the operator to declare one"
    raise RequestRejected(field, f"no scorer {name!r} in project '{project.slug}'; its scorers: {names}")
