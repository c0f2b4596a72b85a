"""Schema-driven robustness (issue 7, item 5): schemathesis generates requests from the OpenAPI
schema — valid ones and deliberately invalid ones — and sends them to a live test server on
127.0.0.1 with a project owner's token. No response may be a 5xx (schemathesis'
``not_a_server_error`` check). Examples per operation are bounded (``EXAMPLES``, derandomized, no
shrinking), so the run stays well under two minutes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from pytest_django.live_server_helper import LiveServer
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup

from traces.models import Membership, Project, Role

EXAMPLES = 25


@pytest.fixture
def loopback_server(transactional_db, settings, tmp_path: Path) -> Iterator[LiveServer]:
    """The app served on 127.0.0.1 by a thread of this process; jobs run inline (eager Celery)."""
    from app.celery import celery_app

    settings.DATA_DIR = tmp_path
    celery_app.conf.task_always_eager = True
    server = LiveServer("127.0.0.1")
    yield server
    server.stop()
    celery_app.conf.task_always_eager = False


def test_no_generated_request_gets_a_server_error(loopback_server: LiveServer, alpha: Project, make_user) -> None:
    owner = make_user("schemathesis")
    Membership.objects.create(project=alpha, user=owner, role=Role.OWNER)
    auth = {"Authorization": f"Token {Token.objects.create(user=owner).key}"}
    schema = schemathesis.openapi.from_url(f"{loopback_server.url}/api/schema/?format=json", headers=auth)
    server_errors: list[str] = []
    operations = 0

    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        if operation.path == "/api/auth/token/":  # rotating or revoking its own token would 401 every later call
            continue

        @hypothesis_settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def call(case: schemathesis.Case) -> None:
            response = case.call(base_url=loopback_server.url, headers=auth)
            try:
                case.validate_response(response, checks=[not_a_server_error])
            except FailureGroup as failure:  # collect every operation's failures, report them together
                server_errors.append(f"{case.method} {case.formatted_path}: {response.status_code} {failure}")

        call()

    assert operations >= 20, f"the schema lists only {operations} operations"
    assert server_errors == []
