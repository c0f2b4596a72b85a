"""Notes of received tasks, and sending again the tasks of a worker that is gone (embedded broker).

The whole path with real worker processes, one killed mid-export, is
``tests/reliability/test_export_worker_crash.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workers import redelivery


@pytest.fixture(autouse=True)
def broker_dir(settings, tmp_path: Path) -> Path:
    settings.BROKER_DIR = tmp_path
    return tmp_path


def dead_pid() -> int:
    """The pid of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def note_of(pid: int, task_id: str, name: str, args: list[object]) -> None:
    redelivery.note_received(task_id, name, args, {})
    path = redelivery.unacked_dir() / f"{task_id}.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "pid": pid}))


def test_a_dead_workers_task_is_sent_again_once_on_its_queue_by_name() -> None:
    sent: list[tuple[str, list[object], dict[str, object]]] = []
    note_of(dead_pid(), "t1", "workers.tasks.gpu_generate_chunk", [7, [1, 2, 3]])

    def send(name: str, args: list[object], kwargs: dict[str, object]) -> None:
        sent.append((name, args, kwargs))

    assert redelivery.redeliver_lost(send) == ["workers.tasks.gpu_generate_chunk"]
    assert sent == [("workers.tasks.gpu_generate_chunk", [7, [1, 2, 3]], {})]
    assert redelivery.redeliver_lost(send) == [] and len(sent) == 1, "the note is gone once sent"


def test_tasks_of_this_worker_and_of_other_live_workers_are_left_alone() -> None:
    redelivery.note_received("mine", "workers.tasks.export_run", [1], {})
    note_of(os.getppid(), "theirs", "workers.tasks.export_run", [2])
    assert redelivery.redeliver_lost(lambda *a, **k: pytest.fail("nothing to send")) == []
    assert {p.name for p in redelivery.unacked_dir().glob("*.json")} == {"mine.json", "theirs.json"}


def test_a_task_that_ran_to_its_end_leaves_no_note() -> None:
    redelivery.note_received("t2", "workers.tasks.import_file", [3, "/tmp/x.jsonl", "jsonl"], {"skip_invalid": False})
    redelivery.note_done("t2")
    redelivery.note_done("never-noted")  # revoked before it was noted: nothing to do, no error
    assert list(redelivery.unacked_dir().iterdir()) == []


def test_discarding_forgets_every_note() -> None:
    note_of(dead_pid(), "a", "workers.tasks.export_run", [1])
    note_of(dead_pid(), "b", "workers.tasks.export_run", [2])
    assert redelivery.discard_unacked() == 2
    assert redelivery.redeliver_lost(lambda *a, **k: pytest.fail("nothing to send")) == []


def test_a_clean_shutdown_takes_away_only_its_own_notes() -> None:
    redelivery.note_received("mine", "workers.tasks.export_run", [1], {})
    note_of(dead_pid(), "lost", "workers.tasks.export_run", [2])
    redelivery.forget_own_notes()
    assert [p.name for p in redelivery.unacked_dir().glob("*.json")] == ["lost.json"]
