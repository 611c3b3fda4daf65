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

import dataclasses
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
    #: The CUDA major version the installed wheels are built for ("13" from
    #: ``tensorrt_rtx_cu13``), read from the environment's package metadata; None: unknown.
    cuda: str | None = None
    #: The pip requirement the environment was made from (``tensorrt-rtx==1.6.*``).
    requirement: str = ""


def envs_root() -> Path:
    from workbench.workspace import default_root

    return default_root() / "envs"


def pin(backend: str, version: str) -> str:
    """The pip requirement of a backend version: ``1.6`` is the newest 1.6.x, a full version exact."""
    return _pin(backend, version)


def _pin(backend: str, version: str) -> str:
    distribution = DISTRIBUTIONS[backend][0]
    if not re.fullmatch(r"\d+(\.\d+){0,3}", version):
        raise EnvironmentError_(f"{version!r} is not a version number (write e.g. 1.6 or 1.6.1.120).")
    parts = version.split(".")
    # "1.6" means the newest 1.6.x; a full version is exact.
    return f"{distribution}=={version}" if len(parts) >= 3 else f"{distribution}=={version}.*"


#: Run inside an environment: the backend's version, and the CUDA major its wheels name
#: (``tensorrt_rtx_cu13``, ``tensorrt_cu12``), from that environment's own package metadata.
_PROBE = """
import importlib.metadata as md, json, re, sys
import {module} as m
cuda = None
seen, todo = set(), [{distribution!r}]
while todo and cuda is None:
    name = todo.pop()
    if name in seen:
        continue
    seen.add(name)
    found = re.search(r"_cu(\\d+)", name)
    if found:
        cuda = found.group(1)
        break
    try:
        reqs = md.requires(name) or []
    except md.PackageNotFoundError:
        continue
    todo += [re.split(r"[ ;<>=!~\\[]", r, maxsplit=1)[0] for r in reqs if "extra ==" not in r]
print(json.dumps({{"version": m.__version__, "cuda": cuda}}))
"""


def _probe_details(python: str, backend: str) -> tuple[str, str | None]:
    distribution, module = DISTRIBUTIONS[backend]
    done = subprocess.run(
        [python, "-c", _PROBE.format(module=module, distribution=distribution)],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["it does not import"])[-1]
        raise EnvironmentError_(f"{module} does not import with {python}: {last}")
    try:
        raw = json.loads(done.stdout.strip().splitlines()[-1])
        return str(raw["version"]), (str(raw["cuda"]) if raw.get("cuda") else None)
    except (ValueError, KeyError, IndexError) as exc:
        raise EnvironmentError_(f"{module} with {python} did not say its version ({done.stdout.strip()[:80]!r}).") from exc


def _probe(python: str, module: str) -> str:
    backend = next(b for b, (_, m) in DISTRIBUTIONS.items() if m == module)
    return _probe_details(python, backend)[0]


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
                if env.cuda is None or not env.requirement:
                    # A record from before these fields: read them once from the environment.
                    env.version, env.cuda = _probe_details(env.python, backend)
                    env.requirement = env.requirement or _pin(backend, version)
                    _write_record(record, env)
                return env
        except (ValueError, TypeError, KeyError):
            pass  # a damaged record: build again
        shutil.rmtree(final, ignore_errors=True)
    if len(version.split(".")) >= 3:
        # An exact version another environment already holds ("1.6" made 1.6.1.120): reuse it.
        for other in list_environments(root):
            same = other.version == version or other.version.startswith(version + ".")
            if other.backend == backend and same and Path(other.python).exists():
                if other.cuda is None:
                    other.version, other.cuda = _probe_details(other.python, backend)
                    other.requirement = other.requirement or _pin(backend, other.requested or version)
                    _write_record(Path(other.path) / "workbench-environment.json", other)
                return dataclasses.replace(other, requested=version, requirement=_pin(backend, version))
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
    installed, cuda = _probe_details(str(python), backend)
    env = BackendEnvironment(
        backend=backend,
        requested=version,
        version=installed,
        python=str(final / "bin" / "python"),
        path=str(final),
        created_seconds=time.perf_counter() - started,
        cuda=cuda,
        requirement=_pin(backend, version),
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
    version, cuda = _probe_details(str(python), backend)
    return BackendEnvironment(
        backend=backend,
        requested="",
        version=version,
        python=str(python),
        path=str(where),
        managed=False,
        cuda=cuda,
        requirement=f"{DISTRIBUTIONS[backend][0]}=={version}",
    )


def _write_record(record: Path, env: BackendEnvironment) -> None:
    tmp = record.with_name(f".{record.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(env.to_json())
        tmp.replace(record)  # atomic: a reader never sees half a record
    except OSError:
        tmp.unlink(missing_ok=True)


def freeze(env: BackendEnvironment) -> str:
    """The environment's packages pinned (``name==version`` lines, sorted), as pip reports them."""
    uv = shutil.which("uv")
    command = [uv, "pip", "freeze", "--python", env.python] if uv else [env.python, "-m", "pip", "freeze"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no reason given"])[-1]
        raise EnvironmentError_(f"Listing the packages of {env.python} failed: {last}")
    pins = [ln.strip() for ln in done.stdout.splitlines() if ln.strip() and not ln.startswith("#")]
    return "\n".join(sorted(pins, key=str.lower)) + "\n"


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
