"""The environment report, backend detection, and the CLI's contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import onnx
import onnxruntime
import pytest
from conftest import ROOT, run_cli, sample

from workbench.env import EnvironmentReport, collect_environment
from workbench.summary import ModelSummary


def test_environment_report_names_real_versions() -> None:
    report = collect_environment()
    assert report.onnx == onnx.__version__
    assert report.onnxruntime == onnxruntime.__version__
    assert "CPUExecutionProvider" in report.onnxruntime_providers
    import importlib.metadata

    assert report.polygraphy == importlib.metadata.version("polygraphy")
    assert EnvironmentReport.from_json(report.to_json()) == report


def test_backends_match_what_imports() -> None:
    report = collect_environment()
    names = [b.name for b in report.backends]
    try:
        import tensorrt_rtx

        assert report.tensorrt_rtx == tensorrt_rtx.__version__
        assert "tensorrt-rtx" in names
    except ImportError:
        assert report.tensorrt_rtx is None


def test_tensorrt_stub_folder_is_not_a_backend(tmp_path: Path) -> None:
    # tensorrt-stubs installs a bare tensorrt/ folder of .pyi files, which Python imports
    # as an empty namespace package; it must not be mistaken for TensorRT.
    stub = tmp_path / "tensorrt"
    stub.mkdir()
    (stub / "__init__.pyi").write_text("class Builder: ...\n")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import tensorrt; from workbench.backends import installed_backends;"
        "print([b.name for b in installed_backends()])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert "'tensorrt'" not in out.stdout


def test_cli_env_json() -> None:
    result = run_cli("env", "--json")
    assert result.returncode == 0, result.stderr
    report = EnvironmentReport.from_dict(json.loads(result.stdout))
    assert report.onnx == onnx.__version__
    import shutil

    # Decided from the machine, then asserted: nvidia-smi answers exactly when there is a GPU.
    smi = shutil.which("nvidia-smi")
    listed = (
        subprocess.run([smi, "-L"], capture_output=True, text=True).stdout.count("GPU ") if smi else 0
    )
    assert len(report.gpus) == listed
    assert all(g.name for g in report.gpus)


def test_cli_env_text_says_no_gpu_plainly() -> None:
    result = run_cli("env")
    assert result.returncode == 0
    report = collect_environment()
    if not report.gpus:
        assert "GPU" in result.stdout and "none" in result.stdout


def test_cli_summary_json_round_trips() -> None:
    result = run_cli("summary", str(sample("resnet_cnn.onnx")), "--json")
    assert result.returncode == 0, result.stderr
    summary = ModelSummary.from_dict(json.loads(result.stdout))
    assert summary.inputs[0].name == "input"
    assert summary.op_histogram["Conv"] == 20


def test_cli_summary_text() -> None:
    result = run_cli("summary", str(sample("broken_shared_dim_names.onnx")))
    assert result.returncode == 0
    assert "[1, 3, size, size]" in result.stdout
    assert "Shared dims" in result.stdout


def test_console_script_and_module_entry_points() -> None:
    result = run_cli("--help")
    assert result.returncode == 0 and "summary" in result.stdout and "env" in result.stdout
    exe = Path(sys.executable).parent / "trt-workbench"
    if exe.exists():
        out = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
        assert out.returncode == 0 and "trt-workbench" in out.stdout


def test_no_command_is_a_usage_error() -> None:
    assert run_cli().returncode == 2


@pytest.mark.parametrize(
    "entry",
    ["import workbench", "import workbench.cli", "from workbench.cli import build_parser; build_parser()"],
)
def test_heavy_modules_stay_unimported(entry: str) -> None:
    # `import workbench` and `trt-workbench --help` must not pay for TensorRT, ModelOpt or torch.
    code = f"{entry}; import sys; print(sorted(m for m in ('tensorrt', 'tensorrt_rtx', 'modelopt', 'torch', 'onnxruntime', 'polygraphy', 'streamlit') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
