"""Tasks of a worker that stopped mid-task are delivered again on the embedded filesystem broker.

Tasks are ``acks_late``: on Redis, a task whose worker dies before acknowledging it is delivered
again after the visibility timeout, and every task is written to run again safely (a generation
chunk makes only the samples its run still lacks, an export rewrites its files whole, an import is
one transaction). kombu's filesystem transport deletes a message as it hands it out, so without
help nothing is delivered twice and the job stays "running" for ever. This module gives the
embedded default the same guarantee:

* when a worker receives a task, it leaves a note of it in ``BROKER_DIR/unacked`` (task name,
  arguments, its own pid), and takes the note away when the task has run (or is revoked);
* when a worker is ready, it sends again the task of every note whose worker is gone (a pid that no
  longer runs), then takes that note away;
* a worker that shuts down cleanly takes its own notes away: kombu then puts the messages it held
  (a retry waiting for its countdown) back in the queue itself. Only a killed worker leaves notes.

The embedded default runs one worker, so a note left at its start is a task its previous run lost.
``celery purge`` does not clear the notes; ``discard_unacked`` does.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from celery import signals
from django.conf import settings

logger = logging.getLogger(__name__)

Send = Callable[..., object]


def unacked_dir() -> Path:
    """Where the notes of tasks received but not yet run to their end are kept."""
    return Path(settings.BROKER_DIR) / "unacked"


def note_received(task_id: str, name: str, args: list[Any], kwargs: dict[str, Any]) -> None:
    """Leave a note of a task this worker has received (written whole: a reader never sees half)."""
    folder = unacked_dir()
    folder.mkdir(parents=True, exist_ok=True)
    note = json.dumps({"name": name, "args": list(args), "kwargs": kwargs, "pid": os.getpid()})
    partial = folder / f".{task_id}.partial"
    partial.write_text(note, encoding="utf-8")
    partial.replace(folder / f"{task_id}.json")


def note_done(task_id: str) -> None:
    """The task ran to its end (or was revoked): nothing to deliver again."""
    (unacked_dir() / f"{task_id}.json").unlink(missing_ok=True)


def redeliver_lost(send: Send) -> list[str]:
    """Send again the task of every note whose worker is gone; the names of the tasks sent.

    ``send(name, args=…, kwargs=…)`` is ``celery_app.send_task``: routing by name puts each task
    back on its queue. A note of this process, or of another worker still running, is left alone.
    """
    sent = []
    for path, note in _notes():
        if note["pid"] == os.getpid() or _is_running(note["pid"]):
            continue
        send(note["name"], args=note["args"], kwargs=note["kwargs"])
        path.unlink(missing_ok=True)
        sent.append(note["name"])
        logger.warning("delivered %s %s again: the worker running it stopped", note["name"], note["args"])
    return sent


def forget_own_notes() -> None:
    """Take away the notes of this process (its clean shutdown hands its messages back itself)."""
    for path, note in _notes():
        if note["pid"] == os.getpid():
            path.unlink(missing_ok=True)


def discard_unacked() -> int:
    """Forget every note (``celery purge``'s counterpart for the notes); how many there were."""
    notes = list(unacked_dir().glob("*.json"))
    for path in notes:
        path.unlink(missing_ok=True)
    return len(notes)


def _notes() -> Iterator[tuple[Path, dict[str, Any]]]:
    """Each note and where it lies, in task-id order."""
    for path in sorted(unacked_dir().glob("*.json")):
        yield path, json.loads(path.read_text(encoding="utf-8"))


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user has that pid: not one of our workers
        return False
    return True


def _on_received(request: Any = None, **_: Any) -> None:
    try:
        note_received(request.id, request.name, request.args, request.kwargs)
    except (TypeError, ValueError, OSError):  # never stop a task over its note
        logger.exception("could not note task %s for redelivery", getattr(request, "id", "?"))


def _on_ended(task_id: str | None = None, request: Any = None, **_: Any) -> None:
    note_done(task_id or request.id)


def _on_ready(sender: Any = None, **_: Any) -> None:
    redeliver_lost(sender.app.send_task)


def _on_shutdown(**_: Any) -> None:
    forget_own_notes()


def connect() -> None:
    """Take notes on the embedded filesystem broker only (Redis delivers lost tasks itself), and
    not when tasks run eagerly in the caller's process (no worker, nothing to lose)."""
    if settings.REDIS_URL or settings.CELERY_TASK_ALWAYS_EAGER:
        return
    signals.task_received.connect(_on_received, weak=False, dispatch_uid="thinkscope-note-received")
    signals.task_postrun.connect(_on_ended, weak=False, dispatch_uid="thinkscope-note-done")
    signals.task_revoked.connect(_on_ended, weak=False, dispatch_uid="thinkscope-note-revoked")
    signals.worker_ready.connect(_on_ready, weak=False, dispatch_uid="thinkscope-redeliver")
    signals.worker_shutdown.connect(_on_shutdown, weak=False, dispatch_uid="thinkscope-forget-own-notes")
