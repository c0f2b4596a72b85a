"""Each pytest-xdist worker (``scripts/test`` runs the suite with ``-n``) gets its own data directory
and Redis database, so two workers never share state that a test resets or reads back.

pytest-django already gives each worker its own test database (``…_gw0``, ``…_gw1``). What the
settings derive from the environment is shared unless this module splits it:

* ``THINKSCOPE_DATA_DIR`` → ``<data dir>/gw0``: the SQLite test database, the filesystem broker's
  queue and its redelivery notes (``workers/redelivery.py``), the rate limits' file cache. Without
  it one worker's ``purge_queues`` drops the other's tasks and its Celery worker runs them.
* ``REDIS_URL`` → database ``n - i`` for worker ``gw<i>`` (``…/10`` gives gw0 10, gw1 9): Redis is
  the Celery broker and the rate limits' cache when it is set, with the same clashes.
* ``THINKSCOPE_MODEL_CACHE`` stays shared (``<data dir>/models``, where a serial run keeps it):
  converting the embedded model takes a file lock, so the workers convert it once between them.

pytest loads this module with ``-p`` (pyproject.toml's addopts) because pytest-django reads the
settings while the initial conftests load, before any conftest.py could change the environment.
xdist sets ``PYTEST_XDIST_WORKER`` in a worker's environment before pytest starts there.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def worker_redis_url(url: str, index: int) -> str:
    """``url`` with its database number lowered by ``index`` (worker gw<index>)."""
    parts = urlsplit(url)
    number = parts.path.strip("/") or "0"
    if not number.isdigit():
        raise pytest.UsageError(f"REDIS_URL={url!r}: expected a database number as its path, e.g. redis://host:6379/10")
    database = int(number) - index
    if database < 0:
        raise pytest.UsageError(
            f"REDIS_URL={url!r}: worker gw{index} would need Redis database {database}; "
            "use a higher database number or fewer workers (-n)"
        )
    return urlunsplit(parts._replace(path=f"/{database}"))


def isolate_worker(worker: str) -> None:
    """Point this process's environment (read by the settings and by the Celery workers it starts)
    at worker ``worker``'s own data directory and Redis database."""
    data_dir = Path(os.environ.get("THINKSCOPE_DATA_DIR", "").strip() or REPO_ROOT / "var")  # as the settings read it
    if not os.environ.get("THINKSCOPE_MODEL_CACHE", "").strip():
        os.environ["THINKSCOPE_MODEL_CACHE"] = str(data_dir / "models")
    os.environ["THINKSCOPE_DATA_DIR"] = str(data_dir / worker)
    if os.environ.get("REDIS_URL", "").strip():
        os.environ["REDIS_URL"] = worker_redis_url(os.environ["REDIS_URL"].strip(), int(worker.removeprefix("gw")))


if os.environ.get("PYTEST_XDIST_WORKER"):
    isolate_worker(os.environ["PYTEST_XDIST_WORKER"])
