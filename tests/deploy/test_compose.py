"""docker-compose.yml works as written (docs/operations.md, "Deploying with Docker Compose").

Docker cannot run here, so the file is proven in two ways: it validates against the Compose
specification's JSON schema, and the commands its services run — the image's install line, the
one-shot `migrate` service, gunicorn and both Celery workers — are run from the file itself, outside
a container, against the test run's PostgreSQL (or SQLite) and Redis (or the filesystem broker).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT

COMPOSE = REPO_ROOT / "docker-compose.yml"
GPU_OVERRIDE = REPO_ROOT / "docker-compose.gpu.yml"
BIN = Path(sys.executable).parent


def services() -> dict[str, dict[str, object]]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


@pytest.mark.parametrize("path", [COMPOSE, GPU_OVERRIDE], ids=lambda p: p.name)
def test_compose_files_follow_the_compose_specification(path: Path) -> None:
    result = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_processes_wait_for_healthy_services_and_the_migration() -> None:
    app = services()["web"]
    assert app["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    for name in ("postgres", "redis", "web"):
        assert services()[name]["healthcheck"]["test"], name


def test_the_image_never_holds_secrets_or_local_state() -> None:
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    for entry in (".env", "var/", ".venv/", ".git/"):
        assert entry in ignored


def image_extras() -> str:
    return services()["web"]["build"]["args"]["EXTRAS"]


def test_the_image_install_line_brings_the_server_and_both_workers(tmp_path: Path) -> None:
    """Resolve the image's `pip install ".[EXTRAS]"` in a fresh venv (pip's dry run: nothing installed)."""
    dockerfile = services()["web"]["build"]["dockerfile_inline"]
    assert 'pip install --no-cache-dir -e ".[$${EXTRAS}]"' in dockerfile  # `$$`: Compose's escape of `$`
    subprocess.run([sys.executable, "-m", "venv", tmp_path / "venv"], check=True, timeout=120)
    report = tmp_path / "report.json"
    result = subprocess.run(
        [tmp_path / "venv/bin/pip", "install", "-q", "--dry-run", "--report", report, f".[{image_extras()}]"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    resolved = {item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]}
    assert {"gunicorn", "celery", "django", "psycopg", "redis", "whitenoise", "torch", "transformers"} <= resolved


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def deployment_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The compose file's environment, pointed at this machine's services (a fresh database)."""
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env |= {"SECRET_KEY": "compose-test-secret-key-" + "x" * 40, "THINKSCOPE_DATA_DIR": str(tmp_path / "data")}
    env |= {"ALLOWED_HOSTS": "localhost,127.0.0.1", "THINKSCOPE_HTTPS": "0", "PATH": f"{BIN}:{env['PATH']}"}
    server_url = os.environ.get("DATABASE_URL", "")
    database = f"compose_{os.getpid()}"
    if server_url.startswith("postgres"):
        import psycopg

        admin = re.sub(r"/[^/]*$", "/postgres", server_url)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {database}")
        env["DATABASE_URL"] = re.sub(r"/[^/]*$", f"/{database}", server_url)
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    yield env
    if "DATABASE_URL" in env:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def command(service: str, port: int = 8000) -> list[str]:
    """The service's command from the file, with the container's address made this test's port."""
    text = str(services()[service]["command"]).replace("0.0.0.0:8000", f"127.0.0.1:{port}")
    return shlex.split(text)


def wait_for(url: str, process: subprocess.Popen[str], seconds: float = 90) -> bytes:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the server exited with {process.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read()
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {seconds} s")


def wait_for_ready(process: subprocess.Popen[str], log: Path, seconds: float = 120) -> None:
    """Wait until a Celery worker logs that it is ready (it logs at INFO, as the file starts it)."""
    deadline = time.monotonic() + seconds
    while "ready." not in log.read_text():
        assert process.poll() is None, f"exited with {process.returncode}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"not ready within {seconds} s:\n{log.read_text()[-3000:]}"
        time.sleep(0.3)


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    with log.open("w") as out:
        return subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)


@pytest.mark.timeout(420)
def test_the_stack_starts_from_the_files_commands(deployment_env: dict[str, str], tmp_path: Path) -> None:
    migrate = subprocess.run(command("migrate"), cwd=REPO_ROOT, env=deployment_env, capture_output=True,
                             text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-3000:]

    port = free_port()
    logs = {service: tmp_path / f"{service}.log" for service in ("web", "worker-default", "worker-gpu")}
    processes = {service: start(command(service, port), deployment_env, log) for service, log in logs.items()}
    try:
        web = processes["web"]
        health = json.loads(wait_for(f"http://127.0.0.1:{port}/healthz", web))
        assert health == {"database": "ok"}
        assert b"Log in" in wait_for(f"http://127.0.0.1:{port}/accounts/login/", web)
        assert wait_for(f"http://127.0.0.1:{port}/static/css/thinkscope.css", web)
        for worker in ("worker-default", "worker-gpu"):
            wait_for_ready(processes[worker], logs[worker])
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
