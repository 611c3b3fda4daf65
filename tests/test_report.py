"""The report of a workspace with a diagnosis, three builds and a comparison: every section,
offline, and every command accepted by its tool's own parser; and the Engines section of a
workspace holding imported trtexec exports (NVIDIA's ResNet-18 on an A100)."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from browser import CHROMIUM, browser_page
from conftest import requires_rtx, run_cli, sample

from workbench.precision import modelopt_available

#: The builds, transforms and command checks need TensorRT-RTX and ModelOpt; the Engines
#: section needs neither (only the shared exports), so the marks go on each test.
_NEEDS_BUILDS = [
    pytest.mark.rtx,
    requires_rtx,
    pytest.mark.skipif(not modelopt_available(), reason="NVIDIA Model Optimizer is not installed"),
]
ENGINE_EXPORTS = Path(__file__).resolve().parents[2] / "shared" / "trt-artifacts" / "resnet18-a100"


def needs_builds(test: Any) -> Any:
    for mark in reversed(_NEEDS_BUILDS):
        test = mark(test)
    return test


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


@needs_builds
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


@needs_builds
def test_report_has_no_external_resources(report: Path) -> None:
    page = report.read_text()
    assert not re.search(r"<script[^>]+src=", page)
    assert not re.search(r"<link[^>]+href=\"?https?:", page)
    assert "Plotly" in page  # the library is inline


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed")
def test_report_draws_the_graph_and_what_the_fixes_changed_offline(report: Path) -> None:
    text = report.read_text()
    assert "<h2 id=graph>Graph</h2>" in text
    assert "Graph: broken_reduce_axes_subgraph.onnx" in text
    assert "What the fixes changed: broken_reduce_axes_subgraph.onnx" in text
    outside: list[str] = []
    with browser_page() as page:
        def only_files(route: Any) -> None:
            if route.request.url.startswith(("file://", "about:", "data:", "blob:")):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", only_files)
        page.goto(report.as_uri())
        # Both views (the diagnosed model, the fix diff) draw on their canvases inside their frames.
        import time

        deadline = time.monotonic() + 60
        drawn = 0
        while time.monotonic() < deadline:
            drawn = sum(1 for frame in page.frames[1:] if frame.locator("canvas").count() > 0)
            if drawn >= 2:
                break
            time.sleep(0.5)
        assert drawn >= 2, [frame.url for frame in page.frames]
    assert outside == []


@needs_builds
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


@needs_builds
def test_every_command_passes_its_tools_parser(report: Path) -> None:
    from workbench.command_check import validate
    from workbench.report import Command

    commands = [Command(**c) for c in json.loads(report.with_suffix(".json").read_text())["commands"]]
    tools = {c.tool for c in commands}
    assert {"polygraphy", "trtexec", "modelopt", "python"} <= tools
    assert any("--stronglyTyped" in c.argv for c in commands) and any("--int8" in c.argv for c in commands)
    for command in commands:
        if command.tool == "polygraphy":
            # Polygraphy registers TensorRT-RTX options only when the switch is set at import.
            code = "import sys, json; from workbench.command_check import validate_polygraphy; print(validate_polygraphy(json.loads(sys.argv[1])) or 'OK')"
            out = subprocess.run(
                [sys.executable, "-c", code, json.dumps(command.argv)],
                capture_output=True,
                text=True,
                env={**os.environ, **command.env},
            )
            assert out.stdout.strip().endswith("OK"), (command.text, out.stdout, out.stderr[-500:])
        else:
            assert validate(command) is None, command.text


@needs_builds
def test_validators_reject_broken_commands() -> None:
    from workbench.command_check import validate_modelopt, validate_polygraphy, validate_trtexec

    assert validate_trtexec(["trtexec", "--onnx=m.onnx", "--fp17"]) is not None
    assert validate_trtexec(["trtexec", "--onnx=m.onnx", "--minShapes=input:1x3xabc"]) is not None
    assert validate_polygraphy(["polygraphy", "run", "m.onnx", "--no-such-flag"]) is not None
    assert (
        validate_modelopt(["python", "-m", "modelopt.onnx.quantization", "--quantize_mode", "int8"])
        is not None
    )


@needs_builds
def test_report_of_an_empty_folder_is_one_sentence(tmp_path: Path) -> None:
    result = run_cli("report", str(tmp_path), "-o", str(tmp_path / "r.html"))
    assert result.returncode == 2 and "holds no results yet" in result.stderr


@pytest.fixture(scope="module")
def engine_report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace holding only engines imported by the CLI (`engine compare -o`, `engine show -o`)."""
    if not ENGINE_EXPORTS.is_dir():
        pytest.skip(f"the shared trtexec exports are not at {ENGINE_EXPORTS} on this machine")
    root = tmp_path_factory.mktemp("engines")
    ws, env = root / "ws", {"TRT_WORKBENCH_HOME": str(root / "home")}
    steps = [
        ["engine", "compare", str(ENGINE_EXPORTS / "fp16"), str(ENGINE_EXPORTS / "qat"), "-o", str(ws)],
        ["engine", "show", str(ENGINE_EXPORTS / "qat-residual"), "-o", str(ws)],
    ]
    for step in steps:
        result = run_cli(*step, "--json", env=env)
        assert result.returncode == 0, result.stderr
    out = root / "out" / "report.html"
    result = run_cli("report", str(ws), "-o", str(out), env=env)
    assert result.returncode == 0, result.stderr
    return out


def test_report_has_an_engines_section_with_the_exports_numbers(engine_report_html: Path) -> None:
    from workbench.engine_report import compare_engines, load_engine_exports
    from workbench.report import engine_summary_rows

    expected = {r.label: r for r in load_engine_exports([ENGINE_EXPORTS])}
    page = engine_report_html.read_text()
    assert "id=engines>" in page and "id=commands>" in page
    bundle = json.loads(engine_report_html.with_suffix(".json").read_text())
    assert [r["label"] for r in bundle["engine_reports"]] == ["fp16", "qat", "qat-residual"]
    for saved in bundle["engine_reports"]:
        report = expected[saved["label"]]
        assert saved["total_ms"] == report.total_ms and len(saved["layers"]) == len(report.layers)
        assert saved["latency_ms"]["median"] == report.latency_ms.median
    # The per-engine table, as the HTML prints its numbers (6 significant digits).
    for label in ("fp16", "qat", "qat-residual"):
        r = expected[label]
        cells = [r.label, r.backend, f"{r.total_ms:.6g}", f"{r.latency_ms.median:.6g}", f"{r.throughput:.6g}"]
        assert all(f"<td>{html.escape(c)}</td>" in page for c in cells), label
    assert "Measured by TensorRT (version not recorded) on NVIDIA A100 80GB PCIe, from trtexec export." in page
    assert engine_summary_rows([expected["qat"]])[0]["built for"] == "FP32+FP16+INT8"
    assert "<td>FP32+FP16+INT8</td>" in page
    # The comparison: its figure and its slower-than-FP16 rows, the stem convolution first.
    (comparison,) = bundle["engine_comparisons"]
    assert [e["label"] for e in comparison["engines"]] == ["fp16", "qat"]
    assert "Matched layers across 2 engines" in page and "Layer time by type" in page
    expected_rows = compare_engines([expected["fp16"], expected["qat"]]).rows
    assert comparison["rows"][0]["key"] == expected_rows[0].key == "Conv_0 + Relu_1"
    first = page.index("<td>Conv_0 + Relu_1</td>")
    assert page.index(f"<td>{expected_rows[0].per_engine[1].avg_ms:.6g}</td>", first) > first


def test_engine_commands_reproduce_the_exports_and_pass_their_parsers(engine_report_html: Path) -> None:
    from workbench.command_check import validate
    from workbench.report import Command

    commands = [Command(**c) for c in json.loads(engine_report_html.with_suffix(".json").read_text())["commands"]]
    exports = {c.argv[2].split("=")[1]: c for c in commands if c.tool == "trtexec"}
    assert set(exports) == {"fp16.engine", "qat.engine", "qat-residual.engine"}
    qat = exports["qat.engine"].argv
    assert qat[:9] == [
        "trtexec",
        "--onnx=resnet-qat.onnx",
        "--saveEngine=qat.engine",
        "--exportLayerInfo=qat.engine.graph.json",
        "--profilingVerbosity=detailed",
        "--exportProfile=qat.engine.profile.json",
        "--exportTimes=qat.engine.timing.json",
        "--separateProfileRun",
        "--fp16",
    ]
    assert "--int8" in qat and "--shapes=input.1:32x3x224x224" in qat and "--useCudaGraph" in qat
    assert "--int8" not in exports["fp16.engine"].argv and "--fp16" in exports["fp16.engine"].argv
    workbench = [c.argv for c in commands if c.tool == "trt-workbench"]
    assert ["trt-workbench", "engine", "compare", "fp16.engine.graph.json", "qat.engine.graph.json"] in workbench
    assert ["trt-workbench", "engine", "show", "qat-residual.engine.graph.json"] in workbench
    for command in commands:
        assert validate(command) is None, command.text
    assert "--exportProfile" not in (engine_report_html.parent / "Dockerfile").read_text()

