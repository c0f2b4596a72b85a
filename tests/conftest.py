"""Fixtures shared by every test area: the sample-data folder, users, a project with members."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

#: ../shared/data beside the repository: real public samples, read in place (never copied).
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

#: Set (as CI does) to make missing sample data a failure instead of a skip.
REQUIRE_SAMPLE_DATA = os.environ.get("THINKSCOPE_REQUIRE_SAMPLE_DATA", "") not in ("", "0")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The sample-data folder; the tests that need it skip, with one line saying why, when it is
    absent (a fresh clone), and fail when THINKSCOPE_REQUIRE_SAMPLE_DATA is set (CI)."""
    if not SHARED_DATA.is_dir():
        reason = f"needs the sample data at {SHARED_DATA} (README, 'The two commands')"
        if REQUIRE_SAMPLE_DATA:
            pytest.fail(f"{reason}; THINKSCOPE_REQUIRE_SAMPLE_DATA is set, so its absence fails")
        pytest.skip(reason)
    return SHARED_DATA


@pytest.fixture
def make_user(django_user_model):
    def make(username: str = "alice", password: str = "correct horse battery"):
        return django_user_model.objects.create_user(username=username, password=password)

    return make


@pytest.fixture
def project(db):
    from traces.models import Project

    return Project.objects.create(name="Test project", slug="test")


@pytest.fixture
def owner(make_user, project):
    from traces.models import Membership, Role

    user = make_user("owner")
    Membership.objects.create(project=project, user=user, role=Role.OWNER)
    return user


@pytest.fixture
def declare_endpoints(settings, tmp_path):
    """``declare(name={"backend": …, …}, …)``: the operator declares these endpoints beside
    ``embedded``, for this process (settings) and in a file; returns the environment that hands the
    file to a worker process (``start_workers(env=…)``)."""
    from app.endpoints import load_endpoints

    def declare(**tables: dict[str, object]) -> dict[str, str]:
        file = tmp_path / "endpoints.toml"
        file.write_text("".join(endpoint_table(name, table) for name, table in tables.items()))
        settings.MODEL_ENDPOINTS = load_endpoints(str(file))
        return {"THINKSCOPE_ENDPOINTS_FILE": str(file)}

    return declare


def endpoint_table(name: str, table: dict[str, object]) -> str:
    """One ``[endpoints.NAME]`` TOML table (JSON's strings, numbers and lists are TOML's too)."""
    lines = [f"{key} = {json.dumps(value)}" for key, value in table.items()]
    return f"[endpoints.{json.dumps(name)}]\n" + "\n".join(lines) + "\n\n"


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path):
    """A real ``celery worker`` process on the configured broker, reading and writing the test database.

    The broker is whatever settings choose (Redis when ``REDIS_URL`` is set, as ``scripts/test`` does
    when Redis answers; kombu's filesystem transport otherwise), so the test exercises the same path
    as production. The worker consumes both queues with ``--pool solo``, as the embedded default does.
    """
    worker = start_worker(tmp_path / "worker.log")
    try:
        yield worker
    finally:
        stop_worker(worker)


@pytest.fixture
def start_workers(transactional_db, tmp_path):
    """``start(env=None, purge=True)``: start a worker process (with extra environment), as many
    times as a test needs (a crash test kills one and starts another); all are stopped at the end."""
    workers: list[subprocess.Popen[bytes]] = []

    def start(env: dict[str, str] | None = None, purge: bool = True) -> subprocess.Popen[bytes]:
        worker = start_worker(tmp_path / f"worker-{len(workers)}.log", env, purge=purge)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        if worker.poll() is None:
            stop_worker(worker)


def start_worker(log: Path, extra_env: dict[str, str] | None = None, purge: bool = True) -> subprocess.Popen[bytes]:
    """Start a worker whose database is the test database of this session and wait until it is ready.

    ``purge`` drops what earlier tests left on the broker; a test that restarts a killed worker
    keeps the queue (its unacknowledged task is the point).
    """
    if purge:
        purge_queues()
    env = {**os.environ, "LOG_LEVEL": "INFO", **(extra_env or {}), **env_for_test_database()}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "app", "worker", "-Q", "default,gpu", "--pool", "solo",
         "--concurrency", "1", "-n", f"test-{os.getpid()}@%h", "--without-heartbeat", "--without-gossip",
         "--without-mingle", "--loglevel", "INFO", "--logfile", str(log)],
        cwd=REPO_ROOT,
        env=env,
    )
    deadline = time.monotonic() + 60
    while "ready." not in (log.read_text() if log.exists() else ""):
        if worker.poll() is not None or time.monotonic() > deadline:
            stop_worker(worker)
            pytest.fail(f"celery worker did not start:\n{log.read_text() if log.exists() else '(no log)'}")
        time.sleep(0.2)
    return worker


def env_for_test_database() -> dict[str, str]:
    """The environment that points another Django process of this checkout at this session's test database."""
    from django.db import connection

    env = {"DJANGO_SETTINGS_MODULE": "app.settings"}
    name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        env["SQLITE_PATH"] = str(name)
    else:
        env["DATABASE_URL"] = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + f"/{name}"
    return env


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def purge_queues() -> None:
    """Drop messages an earlier test left on the broker, so a worker runs only this test's tasks."""
    from app.celery import celery_app
    from workers.redelivery import discard_unacked

    celery_app.control.purge()
    discard_unacked()  # notes of tasks an earlier test's killed worker left (embedded broker)


@pytest.fixture
def wait_for():
    """``wait_for(predicate, timeout)``: poll until ``predicate()`` is truthy, else fail the test."""
    return poll_until


def poll_until(predicate, timeout: float = 120, interval: float = 0.25):
    """Poll ``predicate`` until it returns a truthy value; fail the test with its last value otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            if not value:
                pytest.fail(f"condition not reached in {timeout} s (last value {value!r})")
            return value
        time.sleep(interval)


@pytest.fixture
def eager_celery():
    """Run Celery tasks inline, in the test's own process and transaction."""
    from app.celery import celery_app

    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False
