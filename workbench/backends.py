"""The one place that knows which TensorRT is here: full TensorRT, TensorRT-RTX, or none.

Full TensorRT (module ``tensorrt``, 10.x or 11.x) needs an NVIDIA GPU to build and run.
TensorRT-RTX (module ``tensorrt_rtx``) has the same API shape, parses ONNX and builds
engines ahead of time on a CPU-only machine for a chosen compute capability, and is
strongly typed, as TensorRT 11 is. Everything else in the workbench asks this module
which backend to use and what it can do, and never imports either module by itself.

Importing is lazy: nothing here imports TensorRT until a function is called.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Literal

from workbench.errors import BackendUnavailableError
from workbench.serialize import JsonRecord

BackendName = Literal["tensorrt", "tensorrt-rtx"]
BACKEND_NAMES: tuple[BackendName, ...] = ("tensorrt", "tensorrt-rtx")
_MODULES: dict[str, str] = {"tensorrt": "tensorrt", "tensorrt-rtx": "tensorrt_rtx"}


@dataclass
class BackendInfo(JsonRecord):
    """Which TensorRT produced a result; recorded with every parse, build and timing."""

    name: str
    version: str

    @property
    def major(self) -> int:
        try:
            return int(self.version.split(".")[0])
        except ValueError:
            return 0

    @property
    def strongly_typed_only(self) -> bool:
        """TensorRT 11 and TensorRT-RTX take precision from the ONNX graph, not from builder flags."""
        return self.name == "tensorrt-rtx" or self.major >= 11


def _is_installed(module_name: str) -> bool:
    """Whether a real TensorRT module is importable, without importing it.

    ``tensorrt-stubs`` installs a bare ``tensorrt/`` folder of ``.pyi`` files, which Python
    would import as an empty namespace package: only a package with an ``__init__.py`` is
    real. prepare_polygraphy() may alias ``sys.modules["tensorrt"]`` to tensorrt_rtx, which is
    still TensorRT-RTX, not full TensorRT.
    """
    loaded = sys.modules.get(module_name)
    if loaded is not None:
        return getattr(loaded, "__name__", "") == module_name and hasattr(loaded, "Builder")
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        return False
    return spec is not None and spec.origin is not None and spec.origin.endswith("__init__.py")


_DISTRIBUTIONS = {
    "tensorrt": ("tensorrt", "tensorrt-cu13", "tensorrt-cu12", "tensorrt-cu11"),
    "tensorrt_rtx": ("tensorrt_rtx", "tensorrt-rtx"),
}


def _version(module_name: str) -> str:
    import importlib.metadata

    for dist in _DISTRIBUTIONS.get(module_name, (module_name,)):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    # Installed without pip metadata (e.g. NVIDIA's containers): ask the module itself.
    module = _real_module(module_name)
    return str(getattr(module, "__version__", "unknown"))


def _real_module(module_name: str) -> ModuleType | None:
    """Import a TensorRT module, or None when it is absent, a stub or an alias."""
    if not _is_installed(module_name):
        return None
    try:
        module = importlib.import_module(module_name)
    except Exception:
        return None
    if not hasattr(module, "Builder") or getattr(module, "__name__", "") != module_name:
        return None
    return module


def installed_backends() -> list[BackendInfo]:
    """Every TensorRT backend installed here, full TensorRT first (nothing is imported)."""
    return [
        BackendInfo(name=name, version=_version(_MODULES[name]))
        for name in BACKEND_NAMES
        if _is_installed(_MODULES[name])
    ]


def resolve_backend(requested: str = "auto") -> BackendInfo:
    """Pick a backend: ``auto`` prefers full TensorRT, else TensorRT-RTX.

    Raises:
        BackendUnavailableError: the requested backend (or any, for ``auto``) is missing.
    """
    if requested not in ("auto", *BACKEND_NAMES):
        raise BackendUnavailableError(
            f"Unknown backend {requested!r}: choose auto, tensorrt or tensorrt-rtx."
        )
    available = installed_backends()
    if requested == "auto":
        if not available:
            raise BackendUnavailableError(
                "No TensorRT is installed: install TensorRT-RTX (pip install 'trt-workbench[rtx]'), "
                "which parses and builds on a CPU, or TensorRT on a GPU machine."
            )
        return available[0]
    for info in available:
        if info.name == requested:
            return info
    hint = (
        "pip install 'trt-workbench[rtx]'"
        if requested == "tensorrt-rtx"
        else "pip install 'trt-workbench[tensorrt]' on a machine with an NVIDIA GPU"
    )
    raise BackendUnavailableError(f"{requested} is not installed here ({hint}).")


def worker_environment(backend: BackendInfo | str) -> dict[str, str]:
    """Environment of the isolated TensorRT workers for one backend (one pool per backend).

    The preload hook imports the backend as soon as a worker starts, so that cost overlaps
    whatever the caller does before sending its first task.
    """
    return {
        "TRT_WORKBENCH_BACKEND": backend if isinstance(backend, str) else backend.name,
        "TRT_WORKBENCH_WORKER_PRELOAD": "workbench.trt_worker:warm_up",
    }


def prestart_worker(backend: str = "auto") -> None:
    """Start an isolated TensorRT worker now, so its start-up overlaps the caller's own work
    (the CLI calls this before its heavy imports; the app when a model is chosen)."""
    from workbench.isolation import prestart

    name = installed_backend_name(backend)
    if name is not None:  # a missing backend is reported by the task itself, in one sentence
        prestart(worker_environment(name))


def installed_backend_name(requested: str) -> str | None:
    """The name of the backend ``resolve_backend`` would pick, without reading package
    metadata (which costs a one-shot command more than the parse of a small model)."""
    for name in BACKEND_NAMES:
        if requested in ("auto", name) and _is_installed(_MODULES[name]):
            return name
    return None


def require_backend_name(requested: str) -> str:
    """:func:`installed_backend_name`, or the one-sentence error :func:`resolve_backend` gives.

    Raises:
        BackendUnavailableError: the requested backend (or any, for ``auto``) is missing.
    """
    name = installed_backend_name(requested)
    if name is None:
        resolve_backend(requested)  # raises, in the user's words
        raise BackendUnavailableError(f"{requested} is not installed here.")
    return name


def import_backend(info: BackendInfo) -> ModuleType:
    """The backend's Python module (``tensorrt`` or ``tensorrt_rtx``)."""
    module = _real_module(_MODULES[info.name])
    if module is None:
        raise BackendUnavailableError(f"{info.name} is not installed here.")
    return module


def prepare_polygraphy(info: BackendInfo) -> None:
    """Point Polygraphy at the chosen backend; must run before Polygraphy's TensorRT modules load.

    Polygraphy drives TensorRT-RTX when ``POLYGRAPHY_USE_TENSORRT_RTX=1`` is set; a few of
    its helpers import ``tensorrt`` by name, so for RTX that name is aliased as well.
    """
    if info.name == "tensorrt-rtx":
        os.environ["POLYGRAPHY_USE_TENSORRT_RTX"] = "1"
        module = import_backend(info)
        current = sys.modules.get("tensorrt")
        if current is None or not hasattr(current, "Builder"):
            sys.modules["tensorrt"] = module
    else:
        os.environ.pop("POLYGRAPHY_USE_TENSORRT_RTX", None)
