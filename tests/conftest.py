"""Shared fixtures: the bundled sample models and a private workspace per test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: The bundled models are package data; the script that makes them stays in sample_models/.
SAMPLES = ROOT / "workbench" / "bundled_models"
GENERATOR = ROOT / "sample_models" / "generate.py"


def manifest() -> list[dict]:
    return json.loads((SAMPLES / "manifest.json").read_text())["models"]


def sample(name: str) -> Path:
    return SAMPLES / name


@pytest.fixture
def workspace(tmp_path: Path):
    from workbench.workspace import Workspace

    return Workspace(tmp_path / "workspace")


@pytest.fixture(autouse=True)
def _private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing a test does may land in the developer's real cache folder.
    monkeypatch.setenv("TRT_WORKBENCH_HOME", str(tmp_path / "home"))


def run_cli(
    *args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run the real console entry point in a fresh interpreter."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=full_env,
        timeout=timeout,
    )


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.exists() else []


def has_module(name: str) -> bool:
    from workbench.backends import installed_backends

    return any(b.name == name for b in installed_backends())


requires_rtx = pytest.mark.skipif(
    not has_module("tensorrt-rtx"), reason="TensorRT-RTX is not installed (pip install 'trt-workbench[rtx]')"
)
requires_tensorrt = pytest.mark.skipif(
    not has_module("tensorrt"),
    reason="full TensorRT is not installed here (it needs NVIDIA's index and a GPU machine)",
)


def sample_shapes(entry: dict) -> dict:
    from workbench.shapes import parse_shape_specs

    return parse_shape_specs(entry.get("shapes"))
