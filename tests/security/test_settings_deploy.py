"""Production settings (issue 9 item 1): ``check --deploy`` clean, HTTPS-only cookies, HSTS, CSP header.

The settings are read once per process, so each production configuration is checked in a
subprocess with the environment a server deployment has (SECRET_KEY, DEBUG off, ALLOWED_HOSTS,
DATABASE_URL; ``check`` does not connect to the database).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import REPO_ROOT

SHOW_SETTINGS = """
import json, django
django.setup()
from django.conf import settings as s
names = ["DEBUG", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS",
         "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SESSION_COOKIE_HTTPONLY", "X_FRAME_OPTIONS", "SECURE_CONTENT_TYPE_NOSNIFF"]
print(json.dumps({name: getattr(s, name, None) for name in names}))
"""


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    dropped = ("THINKSCOPE_HTTPS", "DEBUG", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")  # test-only settings
    env = {key: value for key, value in os.environ.items() if key not in dropped}
    return (
        env
        | {
            "DJANGO_SETTINGS_MODULE": "app.settings",
            "SECRET_KEY": secrets.token_urlsafe(60),
            "DEBUG": "0",
            "ALLOWED_HOSTS": "thinkscope.example.org",
            "DATABASE_URL": "postgres://thinkscope@127.0.0.1:5432/thinkscope",
            "THINKSCOPE_DATA_DIR": str(tmp_path),
        }
        | extra
    )


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean(tmp_path: Path) -> None:
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_server_deployment_is_https_only(tmp_path: Path) -> None:
    result = run(["-c", SHOW_SETTINGS], production_env(tmp_path))
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values == {
        "DEBUG": False,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "X_FRAME_OPTIONS": "DENY",
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
    }


def test_a_server_deployment_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    env = production_env(tmp_path)
    del env["SECRET_KEY"]
    result = run(["-c", SHOW_SETTINGS], env)
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


def test_a_weak_secret_key_fails_the_deploy_check(tmp_path: Path) -> None:
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env(tmp_path, SECRET_KEY="x")
    )
    assert result.returncode != 0 and "security.W009" in result.stdout + result.stderr


@pytest.mark.django_db
@pytest.mark.parametrize("path", [reverse("login"), "/api/", "/static/css/thinkscope.css"])
def test_every_response_has_the_content_security_policy(path: str) -> None:
    policy = Client().get(path)["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'" and "unsafe" not in directives["default-src"]
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"


SHOW_PROJECT_CREATORS = """
import django
django.setup()
from django.conf import settings
print(settings.THINKSCOPE_PROJECT_CREATORS)
"""


@pytest.mark.parametrize(
    ("value", "read"), [(None, "staff"), ("", "staff"), (" Everyone ", "everyone"), ("staff", "staff")]
)
def test_who_may_create_projects_is_the_operators_setting(tmp_path: Path, value: str | None, read: str) -> None:
    env = production_env(tmp_path)
    env.pop("THINKSCOPE_PROJECT_CREATORS", None)
    if value is not None:
        env["THINKSCOPE_PROJECT_CREATORS"] = value
    result = run(["-c", SHOW_PROJECT_CREATORS], env)
    assert result.returncode == 0 and result.stdout.strip() == read, result.stderr


def test_a_bad_project_creators_value_refuses_to_start(tmp_path: Path) -> None:
    result = run(["-c", SHOW_PROJECT_CREATORS], production_env(tmp_path, THINKSCOPE_PROJECT_CREATORS="admins"))
    assert result.returncode != 0
    assert "THINKSCOPE_PROJECT_CREATORS must be 'staff' or 'everyone', not 'admins'" in result.stderr


SHOW_DATABASE_AND_COOKIE = """
import json
import django
django.setup()
from django.conf import settings
print(json.dumps([settings.DATABASES["default"]["CONN_HEALTH_CHECKS"], settings.SESSION_COOKIE_NAME]))
"""


@pytest.mark.parametrize(("value", "name"), [(None, "sessionid"), ("", "sessionid"), ("ts_session", "ts_session")])
def test_connections_are_checked_and_the_session_cookie_can_be_named(
    tmp_path: Path, value: str | None, name: str
) -> None:
    env = production_env(tmp_path)
    if value is not None:
        env["THINKSCOPE_SESSION_COOKIE_NAME"] = value
    result = run(["-c", SHOW_DATABASE_AND_COOKIE], env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [True, name]
