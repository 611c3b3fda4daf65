"""Task accuracy on a real pretrained model with labelled data nobody here made (issue 13).

The model is Google's Magika file-type classifier (``magika==1.0.3`` from PyPI); the labelled
data is real files on this machine (the Python standard library, site-packages, ``/usr``),
each labelled by its extension through Magika's own knowledge base, the model's input built
as Magika builds it (``benchmarks/real_labelled.py``, splits cached in
``.cache/real-labelled/magika/``). The FP32 figure is checked against an independent
computation: the real ``magika`` package, installed from the wheel into a private temporary
folder, classifying the same files itself. INT8 is a real ModelOpt PTQ Q/DQ graph run in
ONNX Runtime on the CPU, through the ``trt-workbench evaluate`` command.

To stay within a couple of minutes on a 2-core machine the test uses the first
:data:`PER_CLASS` evaluation files of each of the 23 classes and the first :data:`CALIB`
calibration files (the full splits' figures are in ``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ROOT, run_cli

from workbench.precision import modelopt_available

sys.path.insert(0, str(ROOT / "benchmarks"))
import real_labelled as rl

pytestmark = [
    pytest.mark.slow,
    pytest.mark.quant,
    pytest.mark.skipif(
        not modelopt_available(), reason="NVIDIA Model Optimizer is not installed (pip install 'trt-workbench[quant]')"
    ),
]

#: Evaluation files per class (of the split's 64) and calibration files (of its 512) the test uses.
PER_CLASS = 16
CALIB = 128
#: Issue 13: INT8 keeps at least 97% of FP32's top-1 (NVIDIA's INT8 whitepaper: within 1%).
KEPT_TOP1 = 0.97


def _subset(manifest: dict[str, Any], out: Path) -> dict[str, Any]:
    """The first PER_CLASS evaluation samples of each class and the first CALIB calibration
    samples (interleaved class by class, so balanced), as .npz files under ``out``."""
    samples = manifest["splits"]["eval"]
    seen: Counter[str] = Counter()
    index = []
    for i, s in enumerate(samples):
        if seen[s["label"]] < PER_CLASS:
            seen[s["label"]] += 1
            index.append(i)
    with np.load(rl.OUT / "eval.npz", allow_pickle=False) as data:
        evaluation = {k: data[k][index] for k in data.files}
    with np.load(rl.OUT / "calib.npz", allow_pickle=False) as data:
        calibration = {k: data[k][:CALIB] for k in data.files}
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "eval.npz", **evaluation)
    np.savez(out / "calib.npz", **calibration)
    return {
        "eval": out / "eval.npz",
        "calib": out / "calib.npz",
        "paths": [samples[i]["path"] for i in index],
        "truth": [samples[i]["label"] for i in index],
        "calib_paths": [s["path"] for s in manifest["splits"]["calib"][:CALIB]],
        "arrays": evaluation,
    }


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    try:
        wheel = rl.wheel()
        model = rl.MODEL.path()
    except (subprocess.CalledProcessError, OSError) as exc:
        pytest.skip(
            f"cannot fetch {rl.MODEL.wheel}: no cached wheel in .cache/wheels and the package index is not reachable ({exc})"
        )
    manifest = rl.make_splits()
    data = _subset(manifest, tmp_path_factory.mktemp("magika-split"))
    used = set(data["paths"])
    if rl.changed_files([s for s in manifest["splits"]["eval"] if s["path"] in used]):
        # A package upgraded since the cached split was made: make it again from today's files.
        manifest = rl.make_splits(force=True)
        data = _subset(manifest, tmp_path_factory.mktemp("magika-split-again"))
    return {**data, "wheel": wheel, "model": model, "manifest": manifest}


@pytest.fixture(scope="module")
def evaluation(real: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    workspace = tmp_path_factory.mktemp("magika-ws")
    done = run_cli(
        "evaluate", str(real["model"]), str(real["eval"]), "--precision", "fp32,int8", "--calib", str(real["calib"]),
        "--json", "-o", str(workspace),
        env={"TRT_WORKBENCH_HOME": str(workspace / "home")},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def magika(real: dict[str, Any]) -> dict[str, Any]:
    """magika's own predictions on the evaluation files (the independent computation): its Python
    package, and the Rust command-line tool shipped in the same wheel (its own feature extraction
    and its own ONNX Runtime build)."""
    return rl.run_magika(real["paths"], real["wheel"])


def test_splits_are_real_disjoint_and_balanced(real: dict[str, Any]) -> None:
    manifest = real["manifest"]
    evaluation, calibration = manifest["splits"]["eval"], manifest["splits"]["calib"]
    assert len(evaluation) == len(rl.CLASSES) * rl.EVAL_PER_CLASS and len(calibration) == rl.CALIB_SAMPLES
    assert set(Counter(s["label"] for s in evaluation).values()) == {rl.EVAL_PER_CLASS}
    assert not {s["path"] for s in evaluation} & {s["path"] for s in calibration}
    # No model input is in both splits (duplicates were dropped when the splits were made).
    with np.load(rl.OUT / "eval.npz") as e, np.load(rl.OUT / "calib.npz") as c:
        rows = {r.tobytes() for r in e["bytes"]}
        assert len(rows) == len(evaluation)
        assert not rows & {r.tobytes() for r in c["bytes"]}
        assert e["bytes"].dtype == np.int32 and e["bytes"].shape[1] == 2048
    # Every file is on this machine, outside the project's own sources.
    for s in evaluation[:: rl.EVAL_PER_CLASS]:
        assert Path(s["path"]).is_file() and not Path(s["path"]).is_relative_to(ROOT / "workbench")
    assert set(Counter(real["truth"]).values()) == {PER_CLASS}


def test_fp32_top1_equals_magikas_own(real: dict[str, Any], evaluation: dict[str, Any], magika: dict[str, Any]) -> None:
    reference = evaluation["reference"]
    rust, magika = magika["rust"], magika["python"]
    assert reference["precision"] == "fp32" and reference["computed_by"] == "onnxruntime-cpu"
    assert reference["n"] == len(real["paths"]) == len(rl.CLASSES) * PER_CLASS
    # The package from the wheel, in its private temporary folder: not this environment's.
    assert "/magika-" in magika["module"] and not magika["module"].startswith(sys.prefix)
    assert magika["model"] == "standard_v3_3"
    results = magika["results"]
    assert [r["path"] for r in results] == real["paths"] and {r["status"] for r in results} == {"ok"}
    predicted = [r["dl"] for r in results]
    theirs = float(np.mean([p == t for p, t in zip(predicted, real["truth"])]))
    assert reference["top1"] == theirs, f"workbench FP32 top-1 {reference['top1']:.4f}, magika's own {theirs:.4f}"
    # Class by class too: the samples FP32 gets right per class are the ones magika gets right.
    space = real["manifest"]["labels_space"]
    theirs_by_class = Counter(t for p, t in zip(predicted, real["truth"]) if p == t)
    ours_by_class = {space[row["index"]]: row["reference_correct"] for row in reference["per_class"]}
    assert ours_by_class == {label: theirs_by_class.get(label, 0) for label in ours_by_class}
    assert reference["top1"] >= 0.8  # a real classifier on real files, not chance (1/214)
    if rust is not None:
        # The Rust CLI prints its scores to 3 decimals; its labels must be the same.
        assert "standard_v3_3" in rust["version"]
        assert [r["path"] for r in rust["results"]] == real["paths"]
        assert [r["dl"] for r in rust["results"]] == predicted


def test_int8_keeps_fp32_top1_on_real_data(evaluation: dict[str, Any]) -> None:
    reference = evaluation["reference"]
    by = {r["precision"]: r for r in evaluation["results"]}
    int8 = by["int8"]
    assert int8["computed_by"] == "onnxruntime-cpu" and int8["device"] == "cpu"
    assert int8["calibrator"] == "entropy" and int8["calibration_samples"] == CALIB
    assert int8["kept_top1"] >= KEPT_TOP1, (
        f"INT8 keeps {int8['kept_top1']:.4f} of FP32's top-1 ({int8['top1']:.4f} against {reference['top1']:.4f})"
    )
    assert int8["kept_top1"] == pytest.approx(int8["top1"] / reference["top1"])
    assert by["fp32"]["top1"] == reference["top1"]
    # The INT8 graph that ran really is quantized.
    import onnx

    ops = Counter(n.op_type for n in onnx.load(int8["model_path"]).graph.node)
    assert ops["QuantizeLinear"] > 0 and ops["DequantizeLinear"] > 0
