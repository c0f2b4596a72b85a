"""An empty environment value counts as unset (docs/operations.md §1).

`.env.example` lists every variable with an empty value for the operator to fill in; Compose and
shells pass such a value as "", which must mean the default, never an empty path, list or number.
Settings are read once per process, so each case runs in a subprocess.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

SHOW = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({
    "DATA_DIR": str(s.DATA_DIR), "MODEL_CACHE_DIR": str(s.MODEL_CACHE_DIR), "ALLOWED_HOSTS": s.ALLOWED_HOSTS,
    "MAX_UPLOAD": s.THINKSCOPE_MAX_UPLOAD_BYTES, "RETENTION": s.THINKSCOPE_FAILED_UPLOAD_RETENTION_HOURS,
    "LOGIN_LIMIT": s.LOGIN_FAILURE_LIMIT, "SESSION_COOKIE_NAME": s.SESSION_COOKIE_NAME,
    "CREATORS": s.THINKSCOPE_PROJECT_CREATORS, "EMBEDDED": s.EMBEDDED,
}))
"""


def example_variables() -> list[str]:
    text = (REPO_ROOT / ".env.example").read_text()
    return re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE)


def settings_with(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items() if key not in example_variables()}
    return subprocess.run(
        [sys.executable, "-c", SHOW], cwd=cwd, capture_output=True, text=True, timeout=120,
        env=base | {"DJANGO_SETTINGS_MODULE": "app.settings", "PYTHONPATH": str(REPO_ROOT)} | env,
    )


def test_every_variable_of_the_example_left_empty_gives_the_defaults(tmp_path: Path) -> None:
    empty = {name: "" for name in example_variables()}
    assert {"THINKSCOPE_DATA_DIR", "THINKSCOPE_MODEL_CACHE", "DATABASE_URL", "ALLOWED_HOSTS"} <= empty.keys()
    result = settings_with(empty, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    shown = json.loads(result.stdout)
    assert shown["DATA_DIR"] == str(REPO_ROOT / "var")
    assert shown["MODEL_CACHE_DIR"] == str(REPO_ROOT / "var" / "models")  # not the working directory
    assert shown["ALLOWED_HOSTS"] and shown["MAX_UPLOAD"] == 512 * 1024 * 1024
    assert (shown["RETENTION"], shown["LOGIN_LIMIT"], shown["SESSION_COOKIE_NAME"]) == (48, 5, "sessionid")
    assert shown["CREATORS"] == "staff" and shown["EMBEDDED"] is True


def test_a_number_that_does_not_parse_names_the_variable(tmp_path: Path) -> None:
    result = settings_with({"THINKSCOPE_DATA_DIR": str(tmp_path), "THINKSCOPE_LOGIN_FAILURE_LIMIT": "five"}, tmp_path)
    assert result.returncode != 0
    assert "THINKSCOPE_LOGIN_FAILURE_LIMIT must be a whole number, not 'five'" in result.stderr
