"""The tutorial notebooks run top to bottom on a CPU and produce their key figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _engine_exports() -> Path:
    """Where 05_engine_explorer finds NVIDIA's trtexec exports (the same two places it looks)."""
    import os

    env = os.environ.get("TRT_WORKBENCH_ENGINE_EXPORTS")
    base = Path(env) if env else ROOT.parent / "shared" / "trt-artifacts"
    return base if base.name == "resnet18-a100" else base / "resnet18-a100"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_are_stripped_in_git(path: Path) -> None:
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None, (
                f"{path.name} has outputs"
            )


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path: Path, tmp_path: Path) -> None:
    if path.name.startswith("05_") and not _engine_exports().is_dir():
        pytest.skip(f"05_engine_explorer needs the shared trtexec exports, not at {_engine_exports()} here")
    nb = nbformat.read(str(path), as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    mimes = {
        m
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        for m in out.get("data", {})
    }
    assert "application/vnd.plotly.v1+json" in mimes, "the notebook's key figure did not render"
