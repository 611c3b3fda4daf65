"""The report's version-compatibility section, from a real `compat -o` run (TensorRT-RTX in
this environment, named with --env, so nothing is installed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import has_module, run_cli, sample

pytestmark = pytest.mark.skipif(not has_module("tensorrt-rtx"), reason="TensorRT-RTX is not installed here")


def test_a_compat_check_is_a_report_section_with_a_command_that_parses(tmp_path: Path) -> None:
    from workbench.command_check import validate
    from workbench.report import Command, collect
    from workbench.workspace import Workspace

    ws = tmp_path / "ws"
    model = str(sample("broken_reduce_axes_subgraph.onnx"))
    checked = run_cli("compat", model, "--env", sys.executable, "--versions", "", "-o", str(ws), "--json")
    assert checked.returncode in (0, 1), checked.stderr
    payload = json.loads(checked.stdout)
    (result,) = payload["results"]

    bundle = collect(Workspace(ws))
    (compat,) = bundle.compat_reports
    assert compat.versions[0].version == result["backend"]["version"]
    commands = [c for c in bundle.commands if c.argv[:2] == ["trt-workbench", "compat"]]
    assert len(commands) == 1 and validate(commands[0]) is None, commands[0].text
    assert commands[0].argv[2] == model and sys.executable in commands[0].argv
    assert validate(Command("trt-workbench", "", [*commands[0].argv, "--no-such-flag"])) is not None

    out = run_cli("report", str(ws), "-o", str(tmp_path / "report.html"))
    assert out.returncode == 0, out.stderr
    page = (tmp_path / "report.html").read_text()
    assert "Version compatibility: broken_reduce_axes_subgraph.onnx" in page
    assert result["backend"]["version"] in page  # the full version of the backend that ran
    assert page.count("trt-workbench compat ") >= 2  # in the section and in "Reproduce"
