"""The operator's endpoints file: what it declares, and a clear refusal to start on a mistake."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.endpoints import EMBEDDED_ENDPOINT, Endpoint, EndpointConfigError, endpoint_for, load_endpoints

REPO_ROOT = Path(__file__).resolve().parents[2]

FILE = """
[endpoints.team-vllm]
backend = "openai"
base_url = "http://gpu-box:8000/v1"
api_key_env = "TEAM_VLLM_API_KEY"
models = ["Qwen/QwQ-32B"]
projects = ["reasoning-evals"]
timeout = 120

[endpoints.local-qwen]
backend = "transformers"
path = "/models/qwen"
device = "cuda"
batch_size = 16
"""


def write(tmp_path: Path, text: str) -> str:
    file = tmp_path / "endpoints.toml"
    file.write_text(text)
    return str(file)


def test_no_file_declares_only_the_embedded_model() -> None:
    assert load_endpoints(None) == load_endpoints("") == {"embedded": EMBEDDED_ENDPOINT}


def test_a_file_declares_its_endpoints_beside_the_embedded_one(tmp_path: Path) -> None:
    declared = load_endpoints(write(tmp_path, FILE))
    assert sorted(declared) == ["embedded", "local-qwen", "team-vllm"]
    assert declared["team-vllm"] == Endpoint(
        name="team-vllm",
        backend="openai",
        base_url="http://gpu-box:8000/v1",
        api_key_env="TEAM_VLLM_API_KEY",
        models=("Qwen/QwQ-32B",),
        projects=("reasoning-evals",),
        timeout=120.0,
    )
    assert (declared["local-qwen"].device, declared["local-qwen"].batch_size) == ("cuda", 16)
    assert endpoint_for(declared, "team-vllm", "reasoning-evals", "Qwen/QwQ-32B").name == "team-vllm"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[endpoints.x]\nbackend = "openai"\n', "endpoint 'x': an openai endpoint needs 'base_url'"),
        ('[endpoints.x]\nbackend = "openai"\nbase_url = "file:///etc/passwd"\n', "needs 'base_url' starting with http"),
        ('[endpoints.x]\nbackend = "vllm"\n', "endpoint 'x': a vllm endpoint needs 'path'"),
        ('[endpoints.x]\nbackend = "tgi"\n', "endpoint 'x': 'backend' must be one of"),
        ('[endpoints.x]\nbackend = "transformers"\nurl = "http://h"\n', "endpoint 'x': unknown key(s) ['url']"),
        ('[endpoints.x]\nbackend = "transformers"\nmodels = "qwq"\n', "'models' must be a list of non-empty strings"),
        ('[endpoints.x]\nbackend = "transformers"\nbatch_size = 0\n', "'batch_size' must be a positive integer"),
        ('[endpoints.x]\nbackend = "openai"\nbase_url = "http://h"\ntimeout = "1"\n', "'timeout' must be a positive"),
        ('[models.x]\nbackend = "openai"\n', "unknown top-level key(s) ['models']"),
        ("[endpoints.x\n", "endpoints.toml: "),
    ],
)
def test_a_mistake_names_the_endpoint_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(EndpointConfigError) as error:
        load_endpoints(write(tmp_path, text))
    assert message in str(error.value)


def test_a_process_refuses_to_start_on_a_bad_file(tmp_path: Path) -> None:
    env = {**os.environ, "THINKSCOPE_ENDPOINTS_FILE": write(tmp_path, '[endpoints.x]\nbackend = "tgi"\n')}
    checked = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert checked.returncode != 0
    assert "ImproperlyConfigured" in checked.stderr and "endpoint 'x': 'backend' must be one of" in checked.stderr


def test_an_empty_variable_is_unset(tmp_path: Path) -> None:
    env = {**os.environ, "THINKSCOPE_ENDPOINTS_FILE": ""}
    shown = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; "
         "print(sorted(settings.MODEL_ENDPOINTS))"],
        cwd=REPO_ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "app.settings"}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert shown.stdout.strip() == "['embedded']", shown.stderr
