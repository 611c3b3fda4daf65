"""Nothing the workbench runs phones home or leaves a device id behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, sample


def _env(home: Path) -> dict[str, str]:
    # ONNX Runtime also stays quiet under CI or its unit-test switch: remove both, so the
    # test proves the workbench's own switch, not the CI machine's.
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CI", "ORT_RUNNING_UNIT_TESTS", "ORT_DISABLE_TELEMETRY", "XDG_CACHE_HOME")
    }
    env.update(HOME=str(home), TRT_WORKBENCH_HOME=str(home / "wb"))
    return env


def _telemetry_files(home: Path) -> list[Path]:
    return sorted(p for p in home.rglob("*") if "Microsoft" in p.parts or p.name == "deviceid")


def test_onnxruntime_writes_its_queue_without_the_switch(tmp_path: Path) -> None:
    # The premise: without the workbench, importing onnxruntime leaves a device id behind.
    home = tmp_path / "plain"
    home.mkdir()
    subprocess.run([sys.executable, "-c", "import onnxruntime"], env=_env(home), check=True)
    assert _telemetry_files(home), "onnxruntime no longer writes telemetry here: revisit this test"


def test_no_telemetry_from_any_workbench_process(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = _env(home)
    runs = [
        ["summary", str(sample("detector.onnx"))],
        ["profile", str(sample("detector.onnx")), "--iterations", "2"],
        ["summary", str(tmp_path / "missing.onnx")],  # refused: exit 2
        ["compare", str(sample("detector.onnx")), "--precision", "fp32"],
    ]
    codes = []
    for args in runs:
        done = subprocess.run(
            [sys.executable, "-m", "workbench", *args], env=env, cwd=tmp_path, capture_output=True, text=True
        )
        codes.append(done.returncode)
    assert codes[:3] == [0, 0, 2] and codes[3] in (0, 1), codes
    # A notebook or script: the library imported first, then onnxruntime used directly.
    subprocess.run(
        [sys.executable, "-c", "import workbench, onnxruntime; onnxruntime.InferenceSession"],
        env=env,
        cwd=ROOT,
        check=True,
    )
    assert _telemetry_files(home) == []
