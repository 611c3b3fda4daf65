"""What is installed and which GPU is here: recorded with every result.

Versions come from package metadata so the report is cheap; only the TensorRT backends
are imported (to tell a real module from a stub), and the GPU is read from
``nvidia-smi`` when it exists, so no CUDA library is loaded.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass, field

from workbench import __version__
from workbench.backends import BackendInfo, installed_backends
from workbench.serialize import JsonRecord


@dataclass
class GpuInfo(JsonRecord):
    name: str
    compute_capability: str | None
    driver: str | None
    memory_mib: int | None = None


@dataclass
class EnvironmentReport(JsonRecord):
    workbench: str
    python: str
    platform: str
    cpu_count: int
    numpy: str | None
    onnx: str | None
    onnxruntime: str | None
    onnxruntime_providers: list[str]
    polygraphy: str | None
    onnx_graphsurgeon: str | None
    tensorrt: str | None
    tensorrt_rtx: str | None
    modelopt: str | None
    torch: str | None
    streamlit: str | None
    plotly: str | None
    backends: list[BackendInfo] = field(default_factory=list)
    gpus: list[GpuInfo] = field(default_factory=list)

    @property
    def has_gpu(self) -> bool:
        return bool(self.gpus)

    def lines(self) -> list[tuple[str, str]]:
        """(label, value) pairs for display, missing things said plainly."""

        def show(value: str | None) -> str:
            return value if value else "not installed"

        rows = [
            ("TensorRT Workbench", self.workbench),
            ("Python", f"{self.python} ({self.platform}, {self.cpu_count} cores)"),
            ("TensorRT", show(self.tensorrt)),
            ("TensorRT-RTX", show(self.tensorrt_rtx)),
            (
                "ONNX Runtime",
                f"{show(self.onnxruntime)} ({', '.join(self.onnxruntime_providers) or 'no providers'})",
            ),
            ("Polygraphy", show(self.polygraphy)),
            ("onnx", show(self.onnx)),
            ("onnx-graphsurgeon", show(self.onnx_graphsurgeon)),
            ("Model Optimizer", show(self.modelopt)),
            ("torch", show(self.torch)),
            ("numpy", show(self.numpy)),
            ("Streamlit", show(self.streamlit)),
            ("plotly", show(self.plotly)),
        ]
        if self.gpus:
            for i, gpu in enumerate(self.gpus):
                rows.append(
                    (
                        f"GPU {i}",
                        f"{gpu.name} (SM {gpu.compute_capability or '?'}, driver {gpu.driver or '?'})",
                    )
                )
        else:
            rows.append(("GPU", "none: TensorRT-RTX builds ahead of time; ONNX Runtime runs on the CPU"))
        return rows


def _dist_version(*names: str) -> str | None:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _onnxruntime_providers() -> list[str]:
    try:
        import onnxruntime

        return list(onnxruntime.get_available_providers())
    except Exception:
        return []


def detect_gpus(timeout: float = 5.0) -> list[GpuInfo]:
    """NVIDIA GPUs as ``nvidia-smi`` reports them; empty when there is none."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run(
            [
                exe,
                "--query-gpu=name,compute_cap,driver_version,memory.total",
                "--format=csv,noheader,nounits",
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if out.returncode != 0:
        return []
    gpus = []
    for line in out.stdout.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 3 or not parts[0]:
            continue
        memory = int(float(parts[3])) if len(parts) > 3 and parts[3].replace(".", "", 1).isdigit() else None
        gpus.append(
            GpuInfo(
                name=parts[0], compute_capability=parts[1] or None, driver=parts[2] or None, memory_mib=memory
            )
        )
    return gpus


@functools.lru_cache(maxsize=1)
def collect_environment() -> EnvironmentReport:
    """The environment report (computed once per process)."""
    backends = installed_backends()
    by_name = {b.name: b.version for b in backends}
    return EnvironmentReport(
        workbench=__version__,
        python=platform.python_version(),
        platform=f"{platform.system()} {platform.machine()}",
        cpu_count=os.cpu_count() or 1,
        numpy=_dist_version("numpy"),
        onnx=_dist_version("onnx"),
        onnxruntime=_dist_version("onnxruntime", "onnxruntime-gpu"),
        onnxruntime_providers=_onnxruntime_providers(),
        polygraphy=_dist_version("polygraphy"),
        onnx_graphsurgeon=_dist_version("onnx-graphsurgeon", "onnx_graphsurgeon"),
        tensorrt=by_name.get("tensorrt"),
        tensorrt_rtx=by_name.get("tensorrt-rtx"),
        modelopt=_dist_version("nvidia-modelopt"),
        torch=_dist_version("torch"),
        streamlit=_dist_version("streamlit"),
        plotly=_dist_version("plotly"),
        backends=backends,
        gpus=detect_gpus(),
    )
