"""The report's labelled-accuracy section, from what real `evaluate -o` and `calib-study -o`
runs on the bundled digits sample saved in a workspace; its commands pass the workbench's
own parser and, run again from the report's folder, give the same figures."""

from __future__ import annotations

import html
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLES, run_cli

from workbench.precision import modelopt_available

pytestmark = pytest.mark.skipif(
    not modelopt_available(), reason="NVIDIA Model Optimizer is not installed (pip install 'trt-workbench[quant]')"
)

EVAL = SAMPLES / "digits_eval.npz"
CALIB = SAMPLES / "digits_calib.npz"
POOL_NAME = "outliers.npz"


def _outlier_pool(path: Path) -> Path:
    """The bundled calibration split plus 10 all-zero frames and 2 unnormalised (0..255) ones."""
    x = np.load(CALIB)["input"]
    pool = np.concatenate([x, np.zeros((10, 1, 8, 8), np.float32), np.round((x[:2] * 0.5 + 0.5) * 255.0)])
    buffer = io.BytesIO()
    np.savez(buffer, input=pool.astype(np.float32))
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("labelled_report")
    ws, env = root / "ws", {"TRT_WORKBENCH_HOME": str(root / "home")}
    evaluated = run_cli(
        "evaluate", "sample:digits_cnn", str(EVAL), "--calib", str(CALIB), "--precision", "fp32,fp16,int8",
        "-o", str(ws), "--json", env=env,
    )
    assert evaluated.returncode == 0, evaluated.stderr
    pool = _outlier_pool(root / POOL_NAME)
    # max: ModelOpt's entropy calibrator on frames of 0..255 among -1..1 ones takes minutes on a CPU.
    studied = run_cli(
        "calib-study", "sample:digits_cnn", str(EVAL), "--calib", str(pool), "--counts", "16,64",
        "--calibrators", "max", "-o", str(ws), "--json", env=env,
    )
    assert studied.returncode in (0, 1), studied.stderr
    out = root / "out" / "report.html"
    reported = run_cli("report", str(ws), "-o", str(out), env=env)
    assert reported.returncode == 0, reported.stderr
    return {
        "evaluation": json.loads(evaluated.stdout),
        "study": json.loads(studied.stdout),
        "html": out.read_text(),
        "bundle": json.loads(out.with_suffix(".json").read_text()),
        "out": out.parent,
        "env": env,
    }


def _cell(value: object) -> str:
    """A cell as the report's tables print it (floats to 6 significant digits)."""
    text = f"{value:.6g}" if isinstance(value, float) else "" if value is None else str(value)
    return f"<td>{html.escape(text)}</td>"


def test_the_section_shows_top1_kept_top1_and_computed_by_per_precision(made: dict) -> None:
    page, evaluation = made["html"], made["evaluation"]
    assert "id=labelled>Accuracy on labelled data</h2>" in page
    start = page.index("id=labelled>")
    assert page.index("id=timing>") > start
    section = page[start : page.index("id=timing>")]
    assert "digits_cnn.onnx on digits_eval.npz: 297 labelled samples, 10 classes" in section
    assert f"FP32 reference top-1 {evaluation['reference']['top1']:.4f}" in section
    for result in evaluation["results"]:
        row = "".join(
            _cell(result[k]) for k in ("precision", "top1", "top5", "kept_top1", "n", "computed_by")
        )
        assert row in section, result["precision"]
    assert {r["computed_by"] for r in evaluation["results"]} == {"onnxruntime-cpu"}
    (saved,) = made["bundle"]["evaluations"]
    assert [r["top1"] for r in saved["results"]] == [r["top1"] for r in evaluation["results"]]
    assert "Task accuracy on digits_eval.npz" in section  # the figure


def test_the_section_shows_the_study_points_smallest_count_and_findings(made: dict) -> None:
    page, study = made["html"], made["study"]
    section = page[page.index("id=labelled>") : page.index("id=timing>")]
    assert "digits_cnn.onnx: INT8 against calibration samples" in section
    if study["smallest_count"] is None:
        assert "no count measured keeps kept_top1 0.99 (smallest_count none)" in section
    else:
        assert f"smallest_count {study['smallest_count']} (max) keeps kept_top1 0.99" in section
    for point in study["points"]:
        row = "".join(_cell(point[k]) for k in ("calibrator", "samples", "top1", "kept_top1"))
        assert row in section
    assert "against calibration samples (FP32 top-1" in section  # the figure
    outliers = next(f for f in study["findings"] if f["kind"] == "outlier-frames")
    effect = outliers["effect"]
    assert effect["without_flagged"] is not None
    assert html.escape(outliers["message"]) in section
    assert f"kept_top1 {effect['with_flagged']:.4f} with them, {effect['without_flagged']:.4f} without" in section
    (entry,) = made["bundle"]["calibration_studies"]
    assert entry["model"] == "digits_cnn.onnx" and entry["study"]["smallest_count"] == study["smallest_count"]


def test_the_commands_pass_the_parser_and_reproduce_the_figures(made: dict, tmp_path: Path) -> None:
    from workbench.command_check import validate
    from workbench.report import Command

    commands = [Command(**c) for c in made["bundle"]["commands"]]
    evaluate = [c for c in commands if c.argv[:2] == ["trt-workbench", "evaluate"]]
    study = [c for c in commands if c.argv[:2] == ["trt-workbench", "calib-study"]]
    assert len(evaluate) == 1 and len(study) == 1
    assert evaluate[0].argv == [
        "trt-workbench", "evaluate", "sample:digits_cnn", "digits_eval.npz", "--precision", "fp32,fp16,int8",
        "--calib", "digits_calib.npz", "--calibrator", "entropy",
    ]
    assert study[0].argv == [
        "trt-workbench", "calib-study", "sample:digits_cnn", "digits_eval.npz", "--calib", POOL_NAME,
        "--counts", "16,64", "--calibrators", "max", "--precision", "int8", "--seed", "0",
        "--keep", "kept_top1=0.99",
    ]
    assert "the 512 calibration samples" in evaluate[0].purpose
    page = made["html"]
    for command in evaluate + study:
        assert validate(command) is None, command.text
        assert html.escape(command.text) in page
    assert validate(Command("trt-workbench", "", ["trt-workbench", "evaluate", "m.onnx", "--no-such-flag"])) is not None

    # Where the report's files are copied, with the data beside it, the command gives the same figures.
    folder = tmp_path / "repro"
    folder.mkdir()
    shutil.copy(EVAL, folder / "digits_eval.npz")
    shutil.copy(CALIB, folder / "digits_calib.npz")
    again = run_cli(*evaluate[0].argv[1:], "--json", cwd=folder, env=made["env"])
    assert again.returncode == 0, again.stderr
    first, second = made["evaluation"], json.loads(again.stdout)
    assert [(r["precision"], r["top1"], r["kept_top1"]) for r in second["results"]] == [
        (r["precision"], r["top1"], r["kept_top1"]) for r in first["results"]
    ]
