"""A thinkscope site on this machine, served as docker-compose.yml serves it, for the benchmarks that
measure pages and processes from outside: ``peer_comparison.py`` and ``web_memory.py``.

A data directory holds the site: an SQLite database (the embedded default), the collected static
files (hashed names, gzip copies) and the filesystem broker. ``prepare`` migrates it, collects the
static files and creates the benchmark's user and projects; ``serve`` runs gunicorn from a checkout
(``-w 4``, as the compose file's ``web`` service) and, on request, a Celery worker of the
``default`` queue (as ``worker-default``); ``tree_rss_mb`` reads the resident memory of processes
and their children from /proc (Linux only).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
SKY_T1 = ROOT.parent / "shared" / "data" / "skyt1_math500_traces" / "Sky-T1-math-correct-5K-27B.math500.lines1-300.jsonl"
USER = "bench"
PASSWORD = "benchmark password 1"


def sky_t1_records(count: int) -> list[dict[str, Any]]:
    """The first ``count`` Sky-T1 MATH-500 records (../shared/data, read in place)."""
    with SKY_T1.open(encoding="utf-8") as lines:
        return [json.loads(line) for _, line in zip(range(count), lines, strict=False)]


def thinkscope_record(sky: dict[str, Any]) -> dict[str, Any]:
    """A Sky-T1 record as a line of thinkscope's generic JSONL (docs/concepts.md §2)."""
    return {"prompt": sky["question"], "completion": sky["code"][0], "reference_answer": sky["answer"],
            "model": "Sky-T1-27B", "think_format": "sky_t1", "source": "math500", "problem_id": str(sky["idx"])}  # fmt: skip


def site_env(data_dir: Path) -> dict[str, str]:
    """The environment of every process of the site: the embedded default in ``data_dir``."""
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL", "SQLITE_PATH")}
    return env | {"THINKSCOPE_DATA_DIR": str(data_dir), "SECRET_KEY": "benchmark-only-secret-key-" + "x" * 30,
                  "THINKSCOPE_HTTPS": "0", "DJANGO_SETTINGS_MODULE": "app.settings"}  # fmt: skip


def manage(checkout: Path, data_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
    """``manage.py ARGS`` of ``checkout`` on the site in ``data_dir``; its output is dropped unless it fails."""
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=checkout, env=(env or site_env(data_dir)),
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-4000:]}")


def prepare(checkout: Path, data_dir: Path, projects: list[str]) -> None:
    """Migrate a new site, collect its static files, create the benchmark's user owning ``projects``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    manage(checkout, data_dir, "migrate", "--noinput", "-v0")
    manage(checkout, data_dir, "collectstatic", "--noinput", "-v0")
    user_env = site_env(data_dir) | {"DJANGO_SUPERUSER_USERNAME": USER, "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
                                     "DJANGO_SUPERUSER_EMAIL": "bench@example.com"}  # fmt: skip
    manage(checkout, data_dir, "createsuperuser", "--noinput", env=user_env)
    for slug in projects:
        manage(checkout, data_dir, "create_project", slug, "--owner", USER)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_answering(url: str, process: subprocess.Popen[bytes], seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            requests.get(url, timeout=10)
            return
        except requests.RequestException:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {seconds:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def serve(checkout: Path, data_dir: Path, workers: int = 4, celery: bool = False) -> Iterator[dict[str, Any]]:
    """gunicorn (``-w workers``) and, with ``celery``, a worker of the default queue, from ``checkout``
    on the site in ``data_dir``; yields {"url", "web" (the gunicorn master), "celery" (or None)}."""
    env = site_env(data_dir)
    port = free_port()
    log = (data_dir / "gunicorn.log").open("ab")
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "app.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(workers)],
                           cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    worker = None
    if celery:
        worker_log = data_dir / "celery.log"
        worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "app", "worker", "-Q", "default", "--concurrency", "2",
                                   "-n", f"bench-{port}@%h", "--loglevel", "INFO", "--logfile", str(worker_log)],
                                  cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_answering(url + "/healthz", web)
        if worker is not None:
            while "ready." not in (worker_log.read_text() if worker_log.exists() else ""):
                if worker.poll() is not None:
                    raise RuntimeError(f"the Celery worker exited with {worker.returncode}")
                time.sleep(0.3)
        yield {"url": url, "web": web, "celery": worker}
    finally:
        for process in (web, worker):
            if process is not None:
                stop(process)
        log.close()


def log_in(url: str) -> requests.Session:
    """A browser-like session of the benchmark's user, logged in through the login form."""
    session = requests.Session()
    form = session.get(url + "/accounts/login/", timeout=60)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    if token is None:
        raise RuntimeError(f"no login form at {url}")
    answer = session.post(url + "/accounts/login/", {"username": USER, "password": PASSWORD, "csrfmiddlewaretoken": token[1]},
                          headers={"Referer": url + "/accounts/login/"}, allow_redirects=False, timeout=60)  # fmt: skip
    if answer.status_code != 302:
        raise RuntimeError(f"logging in as {USER} answered {answer.status_code}")
    return session


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def rss_mb(pid: int) -> float:
    """Resident memory of one process in MB (VmRSS), 0 once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    return int(found[1]) / 1024 if found else 0.0


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, in MB (shared pages counted in each)."""
    return rss_mb(pid) + sum(tree_rss_mb(child) for child in children(pid))


#: Libraries of the scientific stack with extension modules, whose shared objects in /proc/PID/maps
#: show that a process has imported them (statsmodels and transformers are Python: they bring
#: scipy and pandas, and torch).
SCIENTIFIC = ("scipy", "sklearn", "pandas", "pyarrow", "torch")


def scientific_libraries(pid: int) -> list[str]:
    """Which of ``SCIENTIFIC`` the process has loaded (its extension modules are mapped)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return [name for name in SCIENTIFIC if f"/site-packages/{name}/" in maps or f"/site-packages/{name}.libs/" in maps]
