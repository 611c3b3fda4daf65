"""The report of a workspace with a diagnosis, three builds and a comparison: every section,
offline, and every command accepted by its tool's own parser."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from browser import CHROMIUM, browser_page
from conftest import requires_rtx, run_cli, sample

from workbench.precision import modelopt_available

pytestmark = [
    pytest.mark.rtx,
    requires_rtx,
    pytest.mark.skipif(not modelopt_available(), reason="NVIDIA Model Optimizer is not installed"),
]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("report")
    ws = root / "ws"
    calib = root / "calib.npz"
    np.savez(calib, image=np.random.default_rng(0).normal(size=(16, 3, 128, 128)).astype(np.float32))
    env = {"TRT_WORKBENCH_HOME": str(root / "home")}
    steps = [
        ["diagnose", str(sample("broken_reduce_axes_subgraph.onnx")), "-o", str(ws)],
        [
            "fix",
            str(sample("broken_reduce_axes_subgraph.onnx")),
            "-o",
            str(root / "fixed.onnx"),
            "--auto",
            "--workspace",
            str(ws),
        ],
        [
            "build",
            str(sample("detector.onnx")),
            "--precision",
            "fp32,fp16,int8",
            "--calib",
            str(calib),
            "-o",
            str(ws),
        ],
        [
            "compare",
            str(sample("detector.onnx")),
            "--precision",
            "fp16,int8",
            "--calib",
            str(calib),
            "--layerwise",
            "-o",
            str(ws),
        ],
        ["profile", str(sample("detector.onnx")), "--iterations", "10", "-o", str(ws)],
    ]
    for step in steps:
        result = run_cli(*step, env=env)
        assert result.returncode in (0, 1), result.stderr
    out = root / "out" / "report.html"
    result = run_cli("report", str(ws), "-o", str(out), env=env)
    assert result.returncode == 0, result.stderr
    return out


def test_report_holds_every_section(report: Path) -> None:
    page = report.read_text()
    for section in ("environment", "models", "diagnoses", "builds", "accuracy", "timing", "commands"):
        assert f"id={section}>" in page, section
    bundle = json.loads(report.with_suffix(".json").read_text())
    assert len(bundle["builds"]) == 3 and {b["precision"] for b in bundle["builds"]} == {
        "fp32",
        "fp16",
        "int8",
    }
    assert (
        bundle["diagnoses"][0]["parse_ok"] is False
        and bundle["fix_sessions"][0]["steps"][0]["fix_id"] == "fold-constants"
    )
    assert bundle["comparisons"][0]["results"][1]["layerwise"]
    assert bundle["profiles"][0]["backend"] == "onnxruntime"
    assert bundle["builds"][2]["layers"] and bundle["environment"]["onnx"]
    for name in ("requirements.lock", "Dockerfile", "fix.py"):
        assert (report.parent / name).is_file(), name
    assert "FROM ${BASE}" in (report.parent / "Dockerfile").read_text()
    assert re.search(r"^onnx==", (report.parent / "requirements.lock").read_text(), re.M)


def test_report_has_no_external_resources(report: Path) -> None:
    page = report.read_text()
    assert not re.search(r"<script[^>]+src=", page)
    assert not re.search(r"<link[^>]+href=\"?https?:", page)
    assert "Plotly" in page  # the library is inline


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed")
def test_report_opens_offline_and_draws_its_charts(report: Path) -> None:
    with browser_page() as page:
        page.route(
            "**/*",
            lambda route: route.abort() if not route.request.url.startswith("file://") else route.continue_(),
        )
        page.goto(report.as_uri())
        page.wait_for_function(
            "() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 5", timeout=30_000
        )
        assert "Layer-by-layer drift" in page.inner_text("body")


def test_every_command_passes_its_tools_parser(report: Path) -> None:
    from workbench.report import Command, validate

    commands = [Command(**c) for c in json.loads(report.with_suffix(".json").read_text())["commands"]]
    tools = {c.tool for c in commands}
    assert {"polygraphy", "trtexec", "modelopt", "python"} <= tools
    assert any("--stronglyTyped" in c.argv for c in commands) and any("--int8" in c.argv for c in commands)
    for command in commands:
        if command.tool == "polygraphy":
            # Polygraphy registers TensorRT-RTX options only when the switch is set at import.
            code = "import sys, json; from workbench.report import validate_polygraphy; print(validate_polygraphy(json.loads(sys.argv[1])) or 'OK')"
            out = subprocess.run(
                [sys.executable, "-c", code, json.dumps(command.argv)],
                capture_output=True,
                text=True,
                env={**os.environ, **command.env},
            )
            assert out.stdout.strip().endswith("OK"), (command.text, out.stdout, out.stderr[-500:])
        else:
            assert validate(command) is None, command.text


def test_validators_reject_broken_commands() -> None:
    from workbench.report import validate_modelopt, validate_polygraphy, validate_trtexec

    assert validate_trtexec(["trtexec", "--onnx=m.onnx", "--fp17"]) is not None
    assert validate_trtexec(["trtexec", "--onnx=m.onnx", "--minShapes=input:1x3xabc"]) is not None
    assert validate_polygraphy(["polygraphy", "run", "m.onnx", "--no-such-flag"]) is not None
    assert (
        validate_modelopt(["python", "-m", "modelopt.onnx.quantization", "--quantize_mode", "int8"])
        is not None
    )


def test_report_of_an_empty_folder_is_one_sentence(tmp_path: Path) -> None:
    result = run_cli("report", str(tmp_path), "-o", str(tmp_path / "r.html"))
    assert result.returncode == 2 and "holds no results yet" in result.stderr
