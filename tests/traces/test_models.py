"""Constraints of the data model (SPEC §1) hold in the database itself, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from traces.models import (
    Label,
    LanguageModel,
    Membership,
    Problem,
    Project,
    Role,
    Run,
    RunKind,
    Segmentation,
    Step,
    Trace,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def step(project):
    model = LanguageModel.objects.create(project=project, name="m")
    run = Run.objects.create(project=project, kind=RunKind.IMPORT)
    problem = Problem.objects.create(project=project, prompt="1+1?", answer="2", content_hash="p1")
    trace = Trace.objects.create(project=project, run=run, problem=problem, model=model, raw_text="1+1=2", content_hash="t1")
    segmentation = Segmentation.objects.create(trace=trace, version=1, method="lines")
    return Step.objects.create(segmentation=segmentation, trace=trace, index=0, char_start=0, char_end=5)


def violates(make) -> bool:
    """Whether creating the row raises IntegrityError (inside a savepoint so the test goes on)."""
    try:
        with transaction.atomic():
            make()
    except IntegrityError:
        return True
    return False


def test_label_value_must_be_minus_one_zero_or_one(step) -> None:
    assert violates(lambda: Label.objects.create(step=step, trace=step.trace, value=2, source="heuristic:x"))
    for value in (-1, 0, 1):
        Label.objects.create(step=step, trace=step.trace, value=value, source=f"heuristic:{value}")


def test_one_label_per_person_and_source_per_step(step, make_user) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    Label.objects.create(step=step, trace=step.trace, value=1, source="human", user=alice)
    assert violates(lambda: Label.objects.create(step=step, trace=step.trace, value=-1, source="human", user=alice))
    Label.objects.create(step=step, trace=step.trace, value=-1, source="human", user=bob)
    Label.objects.create(step=step, trace=step.trace, value=0, source="mc_rollout", confidence=0.5)
    assert violates(lambda: Label.objects.create(step=step, trace=step.trace, value=1, source="mc_rollout"))
    assert Label.objects.filter(step=step).count() == 3


def test_step_span_is_ordered_and_index_unique(step) -> None:
    seg = step.segmentation
    assert violates(lambda: Step.objects.create(segmentation=seg, trace=step.trace, index=1, char_start=5, char_end=2))
    assert violates(lambda: Step.objects.create(segmentation=seg, trace=step.trace, index=0, char_start=0, char_end=1))


def test_resegmenting_keeps_old_steps_and_their_labels(step) -> None:
    Label.objects.create(step=step, trace=step.trace, value=1, source="import:x")
    new = Segmentation.objects.create(trace=step.trace, version=2, method="reasoning")
    Step.objects.create(segmentation=new, trace=step.trace, index=0, char_start=0, char_end=3)
    assert violates(lambda: Segmentation.objects.create(trace=step.trace, version=2, method="lines"))
    assert Label.objects.get().step.segmentation.version == 1


def test_trace_content_hash_unique_per_project(step, project) -> None:
    trace = step.trace
    duplicate = dict(project=project, run=trace.run, problem=trace.problem, model=trace.model, raw_text="x", sample_index=9)
    assert violates(lambda: Trace.objects.create(**duplicate, content_hash="t1"))
    other = Project.objects.create(name="Other", slug="other")
    other_model = LanguageModel.objects.create(project=other, name="m")
    other_run = Run.objects.create(project=other, kind=RunKind.IMPORT)
    other_problem = Problem.objects.create(project=other, prompt="1+1?", content_hash="p1")
    Trace.objects.create(project=other, run=other_run, problem=other_problem, model=other_model, raw_text="x", content_hash="t1")


def test_projects_are_visible_to_members_only(project, make_user) -> None:
    member, stranger = make_user("member"), make_user("stranger")
    Membership.objects.create(project=project, user=member, role=Role.ANNOTATOR)
    assert list(Project.objects.visible_to(member)) == [project]
    assert list(Project.objects.visible_to(stranger)) == []
    assert project.role_of(member) == Role.ANNOTATOR and project.role_of(stranger) is None
    assert violates(lambda: Membership.objects.create(project=project, user=member, role=Role.VIEWER))
