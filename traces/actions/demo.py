"""The demo's rows (``manage.py demo``): its account, project, model, generation run and seeded labels.

Each is found when it exists and created otherwise, so a second start writes nothing new. The demo's
team (two annotators who worked a queue) is ``traces.actions.demo_team``.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction

from app.endpoints import EMBEDDED
from traces.analysis.answers import extract_answer
from traces.backends import SamplingParams
from traces.demo_problems import SOURCE
from traces.models import (
    Backend,
    Label,
    LanguageModel,
    Membership,
    Project,
    Role,
    Run,
    RunKind,
    RunStatus,
    Step,
    Trace,
)

USERNAME = "demo"
PROJECT_SLUG = "demo"

#: How many traces get a seeded demo label, per verdict (correct / incorrect).
LABELED_TRACES_PER_VERDICT = 3
#: The seeded labels' source: automatic (a rule chose them), so no export or agreement counts them as a person's.
DEMO_LABEL_SOURCE = "heuristic:demo-answer-check"
DEMO_LABEL_NOTE = (
    "Demo annotation seeded by `manage.py demo`, not a person's judgement: the step that states the "
    "final answer is +1 when that answer matches the reference answer, −1 when it does not."
)


@transaction.atomic
def do_demo_user(password: str, username: str = USERNAME) -> tuple[User, bool]:
    """The demo account ``username`` with ``password`` (set when it differs), and whether it was created or changed."""
    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    if user is None:
        return user_model.objects.create_user(username=username, password=password), True
    if user.check_password(password):
        return user, False
    user.set_password(password)
    user.save(update_fields=["password"])
    return user, True


@transaction.atomic
def do_demo_project(owner: User, model_name: str) -> Project:
    """The "Demo" project (slug ``demo``) with ``owner`` as its owner; its description names the
    model that answers its problems."""
    project, _ = Project.objects.get_or_create(
        slug=PROJECT_SLUG,
        defaults={
            "name": "Demo",
            "description": f"thinkscope's own math word problems ({SOURCE}) answered by {model_name} on the CPU.",
        },
    )
    Membership.objects.update_or_create(project=project, user=owner, defaults={"role": Role.OWNER})
    return project


@transaction.atomic
def do_demo_model(
    project: Project, name: str, params: SamplingParams, *, system_prompt: str, think_format: str
) -> LanguageModel:
    """The embedded default model's row in the project (docs/concepts.md §1 Model, on the ``embedded``
    endpoint) with the demo's prompt, think delimiters and ``params`` (a demo made before the model
    thought gets these settings too)."""
    model, _ = LanguageModel.objects.update_or_create(
        project=project,
        name=name,
        defaults={
            "backend": Backend.TRANSFORMERS,
            "endpoint": EMBEDDED,
            "system_prompt": system_prompt,
            "think_format": think_format,
            "default_params": params.as_dict(),
        },
    )
    return model


@transaction.atomic
def do_demo_run(project: Project, model: LanguageModel, params: SamplingParams, user: User) -> Run:
    """The demo's generation run with exactly these sampling parameters, created when there is none."""
    runs = Run.objects.filter(project=project, model=model, kind=RunKind.GENERATION).order_by("pk")
    for run in runs:
        if SamplingParams.from_dict(run.params) == params:
            return run
    return Run.objects.create(
        project=project,
        model=model,
        kind=RunKind.GENERATION,
        name=(
            f"Demo: {model.name}, {params.n} sample(s), thinking ≤{params.think_budget} tokens, "
            f"answer ≤{params.max_new_tokens}"
        ),
        status=RunStatus.QUEUED,
        n_samples=params.n,
        params=params.as_dict(),
        seed=params.seed,
        created_by=user,
    )


@transaction.atomic
def do_delete_demo_runs(project: Project, model: LanguageModel) -> int:
    """Delete the generation runs of the demo ``model`` with their traces and labels; how many traces went."""
    deleted = Run.objects.filter(project=project, model=model, kind=RunKind.GENERATION).delete()[1]
    return deleted.get("traces.Trace", 0)


@transaction.atomic
def do_seed_demo_labels(run: Run) -> int:
    """Label the answer step of a few traces with the demo's answer check, once; returns how many were saved.

    Up to ``LABELED_TRACES_PER_VERDICT`` correct and as many incorrect traces get one label each, on
    the step stating their final answer: +1 if it matches the reference, −1 if not. A rule chose them,
    so they are automatic labels of ``DEMO_LABEL_SOURCE`` (no person; the labeling page offers them
    as suggestions), with :data:`DEMO_LABEL_NOTE` saying so.
    """
    if Label.objects.filter(trace__run=run, source=DEMO_LABEL_SOURCE).exists():
        return 0
    graded = Trace.objects.filter(run=run).exclude(final_answer="").order_by("pk")
    candidates = [
        *graded.filter(is_correct=True)[:LABELED_TRACES_PER_VERDICT],
        *graded.filter(is_correct=False)[:LABELED_TRACES_PER_VERDICT],
    ]
    labels = []
    for trace in candidates:
        step = answer_step(trace)
        if step is not None:
            value = 1 if trace.is_correct else -1
            labels.append(Label(step=step, trace=trace, value=value, source=DEMO_LABEL_SOURCE, note=DEMO_LABEL_NOTE))
    Label.objects.bulk_create(labels)
    Trace.objects.filter(pk__in=[label.trace_id for label in labels]).update(has_labels=True)
    return len(labels)


def answer_step(trace: Trace) -> Step | None:
    """The step of the trace's current segmentation that holds its extracted final answer."""
    answer = extract_answer(trace.raw_text[trace.answer_start : trace.answer_end])
    if answer is None:
        return None
    position = trace.answer_start + answer.start
    return Step.objects.filter(
        segmentation=trace.current_segmentation_id, char_start__lte=position, char_end__gt=position
    ).first()
