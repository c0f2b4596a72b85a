"""Resuming a job that stopped early: a generation run's missing samples, an import's analysis."""

from __future__ import annotations

from traces.actions.generation import do_resume_run
from traces.actions.imports import do_resume_analysis, is_imported
from traces.models import Run, RunKind, RunStatus

#: Why a job cannot be resumed (the API's 409).
NOT_RESUMABLE = "only a cancelled or failed generation run, or an import whose analysis stopped, can be resumed"


def resumable(run: Run) -> bool:
    """Whether ``do_resume`` would queue the job again."""
    if run.kind == RunKind.IMPORT:
        return run.status == RunStatus.FAILED and is_imported(run)
    return run.kind == RunKind.GENERATION and run.status in (RunStatus.CANCELLED, RunStatus.FAILED)


def do_resume(run: Run) -> bool:
    """Queue what a stopped job still lacks: a generation run's missing chunks, an import's
    unanalysed traces. False when the job is not one that stopped early."""
    if run.kind == RunKind.IMPORT:
        return do_resume_analysis(run)
    return do_resume_run(run)
