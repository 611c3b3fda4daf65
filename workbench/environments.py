"""Managed backend environments: one isolated Python environment per TensorRT version.

"Which TensorRT versions take this model?" needs each version installed, and never in the
user's own environment. The workbench creates one virtual environment per backend version
under ``<workbench home>/envs/`` (``uv`` when it is on the PATH, else ``venv`` + ``pip``),
reuses it afterwards, and runs that version's workers in it through the executor seam:
a task's environment names the interpreter (``TRT_WORKBENCH_WORKER_PYTHON``) and puts this
package's source on its path, so the worker code is the same everywhere and only the
backend differs. A user may also name an existing environment (or any Python with the
backend installed), e.g. a container's.

Creation is resumable: it happens in ``<name>.partial`` and is renamed into place when the
backend imports; a later call continues an interrupted one (pip skips what is installed).
A failure is one sentence naming the version and why.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.serialize import JsonRecord

#: The PyPI distribution and module of each backend the workbench can manage.
DISTRIBUTIONS = {"tensorrt-rtx": ("tensorrt-rtx", "tensorrt_rtx"), "tensorrt": ("tensorrt", "tensorrt")}
#: What a worker needs beside the backend (the worker code itself comes from this package's source).
WORKER_REQUIREMENTS = ("polygraphy", "numpy")
PYTHON_ENV = "TRT_WORKBENCH_WORKER_PYTHON"


class EnvironmentError_(WorkbenchError):
    """A backend environment could not be created or used."""


@dataclass
class BackendEnvironment(JsonRecord):
    backend: str
    #: What was asked for ("1.6", "1.6.1.120", or "" for an environment the user named).
    requested: str
    #: The version that imports there.
    version: str
    python: str
    path: str
    managed: bool = True
    created_seconds: float | None = None
    notes: list[str] = field(default_factory=list)


def envs_root() -> Path:
    from workbench.workspace import default_root

    return default_root() / "envs"


def _pin(backend: str, version: str) -> str:
    distribution = DISTRIBUTIONS[backend][0]
    if not re.fullmatch(r"\d+(\.\d+){0,3}", version):
        raise EnvironmentError_(f"{version!r} is not a version number (write e.g. 1.6 or 1.6.1.120).")
    parts = version.split(".")
    # "1.6" means the newest 1.6.x; a full version is exact.
    return f"{distribution}=={version}" if len(parts) >= 3 else f"{distribution}=={version}.*"


def _probe(python: str, module: str) -> str:
    done = subprocess.run(
        [python, "-c", f"import {module} as m; print(m.__version__)"],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["it does not import"])[-1]
        raise EnvironmentError_(f"{module} does not import with {python}: {last}")
    return done.stdout.strip()


def _installer(python: str) -> list[str]:
    uv = shutil.which("uv")
    return [uv, "pip", "install", "--python", python, "-q"] if uv else [python, "-m", "pip", "install", "-q"]


def _failure_sentence(backend: str, version: str, stderr: str) -> str:
    text = stderr.strip()
    found = re.search(r"from versions: ([^)]*)\)", text)
    if found:
        return f"{backend} {version} is not on the package index (it has: {found.group(1).strip()})."
    if "No matching distribution" in text or "no matching distribution" in text.lower():
        return f"{backend} {version} is not on the package index this machine uses."
    lines = [ln for ln in text.splitlines() if ln.strip() and "is ignored" not in ln]
    return f"Installing {backend} {version} failed: {lines[-1].strip() if lines else 'pip gave no reason'}."


def ensure_environment(
    backend: str,
    version: str,
    *,
    progress: Callable[[str], None] | None = None,
    root: Path | None = None,
) -> BackendEnvironment:
    """The environment for ``backend`` at ``version``: reused if it exists, else created.

    Raises:
        EnvironmentError_: the version is not on the package index, or it does not import.
    """
    if backend not in DISTRIBUTIONS:
        raise EnvironmentError_(f"The workbench cannot manage {backend!r} environments (it can: {', '.join(DISTRIBUTIONS)}).")
    say = progress or (lambda _m: None)
    _, module = DISTRIBUTIONS[backend]
    root = root or envs_root()
    final = root / f"{backend}-{version}"
    record = final / "workbench-environment.json"
    if record.is_file():
        try:
            env = BackendEnvironment.from_json(record.read_text())
            if Path(env.python).exists():
                return env
        except (ValueError, TypeError, KeyError):
            pass  # a damaged record: build again
        shutil.rmtree(final, ignore_errors=True)
    partial = root / f"{backend}-{version}.partial"
    started = time.perf_counter()
    python = partial / "bin" / "python"
    if not python.exists():
        say(f"creating the {backend} {version} environment")
        partial.mkdir(parents=True, exist_ok=True)
        uv = shutil.which("uv")
        command = [uv, "venv", "--python", sys.executable, str(partial)] if uv else [sys.executable, "-m", "venv", str(partial)]
        done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            raise EnvironmentError_(f"Creating the {backend} {version} environment failed: {done.stderr.strip()[-300:]}")
    say(f"installing {_pin(backend, version)} into it (resumable)")
    done = subprocess.run(
        [*_installer(str(python)), _pin(backend, version), *WORKER_REQUIREMENTS],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        sentence = _failure_sentence(backend, version, done.stderr)
        if "not on the package index" in sentence:
            shutil.rmtree(partial, ignore_errors=True)  # nothing to resume: leave nothing behind
        raise EnvironmentError_(sentence)
    installed = _probe(str(python), module)
    env = BackendEnvironment(
        backend=backend,
        requested=version,
        version=installed,
        python=str(final / "bin" / "python"),
        path=str(final),
        created_seconds=time.perf_counter() - started,
    )
    # Written into the partial folder first: the rename is what makes it "ready".
    (partial / "workbench-environment.json").write_text(env.to_json())
    if final.exists():
        shutil.rmtree(final)
    partial.rename(final)
    # A venv's scripts name its folder; the interpreter link itself moves fine.
    _probe(env.python, module)
    say(f"{backend} {installed} ready")
    return env


def existing_environment(path: str | os.PathLike[str], backend: str) -> BackendEnvironment:
    """An environment (its folder, or a Python interpreter) the user names; never modified."""
    if backend not in DISTRIBUTIONS:
        raise EnvironmentError_(f"Unknown backend {backend!r} (choose from {', '.join(DISTRIBUTIONS)}).")
    where = Path(path)
    python = where / "bin" / "python" if where.is_dir() else where
    if not python.exists():
        raise EnvironmentError_(f"{path} is neither a Python environment nor a Python interpreter.")
    version = _probe(str(python), DISTRIBUTIONS[backend][1])
    return BackendEnvironment(backend=backend, requested="", version=version, python=str(python), path=str(where), managed=False)


def worker_env(env: BackendEnvironment) -> dict[str, str]:
    """A task environment that runs the worker with this environment's interpreter."""
    from workbench.backends import worker_environment

    package_parent = str(Path(__file__).resolve().parent.parent)
    base = worker_environment(env.backend)
    return {**base, PYTHON_ENV: env.python, "PYTHONPATH": package_parent}


def list_environments(root: Path | None = None) -> list[BackendEnvironment]:
    root = root or envs_root()
    found = []
    for record in sorted(root.glob("*/workbench-environment.json")) if root.is_dir() else []:
        try:
            found.append(BackendEnvironment.from_dict(json.loads(record.read_text())))
        except (ValueError, TypeError, KeyError):
            continue
    return found
