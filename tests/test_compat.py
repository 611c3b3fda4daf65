"""Version compatibility: managed TensorRT-RTX environments (real installs from the package
index), the same worker code run in each through the executor seam, outcomes compared."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import has_module, sample

from workbench.compat import check_versions, compat_json, differences
from workbench.environments import (
    EnvironmentError_,
    ensure_environment,
    existing_environment,
    list_environments,
)
from workbench.errors import WorkbenchError

pytestmark = [
    pytest.mark.slow,
    pytest.mark.rtx,
    pytest.mark.skipif(not has_module("tensorrt-rtx"), reason="TensorRT-RTX is not installed here"),
]


@pytest.fixture(scope="module")
def envs_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("wbhome")


def test_a_managed_environment_is_created_once_and_reused(envs_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRT_WORKBENCH_HOME", str(envs_home))
    said: list[str] = []
    first = ensure_environment("tensorrt-rtx", "1.6", progress=said.append)
    assert first.version.startswith("1.6.") and Path(first.python).exists()
    assert any("installing" in s for s in said)
    again = ensure_environment("tensorrt-rtx", "1.6", progress=said.append)
    assert again == first, "the second call reuses the environment"
    assert [e.version for e in list_environments()] == [first.version]
    # Never the user's own environment: ours still has its own version.
    import tensorrt_rtx

    assert tensorrt_rtx.__version__ != first.version


def test_a_version_the_index_lacks_is_one_sentence(envs_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRT_WORKBENCH_HOME", str(envs_home))
    with pytest.raises(EnvironmentError_) as info:
        ensure_environment("tensorrt-rtx", "1.2")
    assert "1.2" in info.value.message and "\n" not in info.value.message
    assert "1.4.0.76" in info.value.message, "it names the versions the index has"
    with pytest.raises(EnvironmentError_, match="not a version number"):
        ensure_environment("tensorrt-rtx", "latest; rm -rf /")


def test_the_same_model_across_versions(envs_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRT_WORKBENCH_HOME", str(envs_home))
    ours = existing_environment(sys.executable, "tensorrt-rtx")
    report = check_versions(
        sample("detector.onnx"), ["1.6"], existing=[sys.executable], build_check=True, target="sm89"
    )
    versions = [v.version for v in report.versions]
    assert versions[0].startswith("1.6.") and versions[1] == ours.version
    for outcome in report.versions:
        assert outcome.environment_error is None
        assert outcome.parse_ok and outcome.build_ok and outcome.engine_bytes
    assert report.differences  # said, even when nothing changes
    broken = check_versions(sample("broken_contrib_ops.onnx"), ["1.6"], existing=[sys.executable])
    assert all(v.parse_ok is False for v in broken.versions)
    assert all(any("FusedMatMul" in str(e["node_name"]) for e in v.parse_errors) for v in broken.versions)


def test_differences_are_sentences() -> None:
    from workbench.compat import VersionOutcome

    old = VersionOutcome("tensorrt-rtx", "1.4.0.76", parse_ok=False, parse_errors=[{"node_name": "/attn/Softmax"}])
    new = VersionOutcome("tensorrt-rtx", "1.7.1.116", parse_ok=True, build_ok=True, engine_bytes=2_000_000)
    notes = differences([old, new])
    assert notes[0] == "tensorrt-rtx 1.4.0.76 does not parse it; tensorrt-rtx 1.7.1.116 parses."
    assert "accepts what tensorrt-rtx 1.4.0.76 rejected at: /attn/Softmax" in notes[1]


def test_cli_compat_json_and_a_missing_version(envs_home: Path) -> None:
    import json

    from conftest import run_cli

    env = {"TRT_WORKBENCH_HOME": str(envs_home)}
    done = run_cli("compat", str(sample("broken_contrib_ops.onnx")), "--versions", "1.6", "--env", sys.executable, "--json", env=env)
    assert done.returncode == 1, done.stderr  # neither version parses it
    report = json.loads(done.stdout)
    assert [v["parse_ok"] for v in report["versions"]] == [False, False]
    assert [r["parse_ok"] for r in report["results"]] == [False, False]
    assert report["first_accepting"] is None and report["last_accepting"] is None
    assert any("in other words" in d for d in report["differences"]), "the messages differ between 1.6 and 1.7"
    missing = run_cli("compat", str(sample("detector.onnx")), "--versions", "1.2", env=env)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1].startswith("trt-workbench: error: No version could be run")
    assert not list(envs_home.glob("envs/tensorrt-rtx-1.2*")), "a version the index lacks leaves nothing behind"


# ----------------------------------------------------------------------------- four versions


FOUR = ["1.4", "1.5", "1.6", "1.7"]


@pytest.fixture(scope="module")
def four_versions() -> list[str]:
    """The four TensorRT-RTX environments in the workbench's own home (made once, reused);
    skipped with the reason when the package index cannot give them."""
    for version in FOUR:
        try:
            ensure_environment("tensorrt-rtx", version)
        except EnvironmentError_ as exc:
            pytest.skip(f"TensorRT-RTX {version} cannot be installed here: {exc.message}")
    return FOUR


def _node_test(name: str) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from onnx_node_tests import node_test_dir

    try:
        folder = node_test_dir()
    except Exception as exc:  # the onnx wheel could not be fetched
        pytest.skip(f"the onnx 1.22.0 node tests are not available: {exc}")
    return folder / name / "model.onnx"


def test_a_volumetric_gridsample_first_parses_and_builds_on_1_6(four_versions: list[str], tmp_path: Path) -> None:
    """onnx's 3-D GridSample node test (a 5-D input): 1.4 and 1.5 reject it at GridSample
    (addGridSample wants 4 dims); 1.6 and 1.7 parse and build it."""
    report = check_versions(
        _node_test("test_gridsample_volumetric_bilinear_align_corners_0"),
        four_versions,
        build_check=True,
        cache_root=tmp_path,
    )
    document = compat_json(report)
    results = document["results"]
    assert [r["backend"]["name"] for r in results] == ["tensorrt-rtx"] * 4
    assert [r["backend"]["version"].rsplit(".", 2)[0] for r in results] == four_versions
    assert [r["spec"] for r in results] == [f"tensorrt-rtx=={v}.*" for v in four_versions]
    assert [r["parse_ok"] for r in results] == [False, False, True, True]
    assert [r["build_ok"] for r in results] == [None, None, True, True]
    for rejected in results[:2]:
        assert rejected["errors"][0]["op_type"] == "GridSample"
        assert rejected["errors"][0]["node"]["op_type"] == "GridSample", "mapped to the node with its context"
        assert "nbDims == 4" in rejected["errors"][0]["message"]
    for accepted, outcome in zip(results[2:], report.versions[2:]):
        assert accepted["engine_bytes"] > 0
        assert accepted["layer_count"] == len(outcome.layers) > 0
        assert accepted["precision_counts"] == dict(Counter(x.precision for x in outcome.layers if x.precision != "other"))
    assert document["first_accepting"] == results[2]["backend"]["version"]
    assert document["last_accepting"] == results[3]["backend"]["version"]
    assert "versions" in document and "differences" in document, "the earlier fields stay"
    said = " ".join(report.differences)
    assert f"tensorrt-rtx {results[2]['backend']['version']} accepts what tensorrt-rtx {results[1]['backend']['version']} rejected at: GridSample" in said
    # The two rejecting versions say the same thing (only TensorRT's source line numbers differ).
    assert "in other words" not in said


def test_nonzero_parses_on_1_4_and_1_5_only(four_versions: list[str], tmp_path: Path) -> None:
    """onnx's NonZero example: 1.4 and 1.5 import NonZero, 1.6 and 1.7 look for a plugin that is not there."""
    report = check_versions(_node_test("test_nonzero_example"), four_versions, cache_root=tmp_path)
    assert [o.parse_ok for o in report.versions] == [True, True, False, False]
    assert report.first_accepting == report.versions[0].version and report.last_accepting == report.versions[1].version
    assert any("NonZero" in s and "rejects what" in s for s in report.differences)
    assert "plugin" in report.versions[2].errors[0].message


def test_a_real_model_fuses_differently_across_versions(four_versions: list[str], tmp_path: Path) -> None:
    """PaddleOCR's v4 recogniser (10.8 MB, from rapidocr's wheel) builds on all four; the
    engines differ in layer count and in which nodes became one layer, and the sentences say so."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from real_models import REAL_MODELS

    try:
        path = REAL_MODELS["ppocr_rec"].path()
    except Exception as exc:
        pytest.skip(f"rapidocr's wheel is not available: {exc}")
    shapes = {"x": [[1, 3, 48, 320]] * 3}
    report = check_versions(path, four_versions, build_check=True, shapes=shapes, cache_root=tmp_path)
    assert all(o.parse_ok and o.build_ok for o in report.versions)
    counts = [o.layer_count for o in report.versions]
    assert all(c == len(o.layers) for c, o in zip(counts, report.versions))
    for old, new in itertools.pairwise(report.versions):
        sentence = f"{new.label} makes {new.layer_count} engine layers where {old.label} made {old.layer_count}."
        assert (sentence in report.differences) == (old.layer_count != new.layer_count)
    assert len(set(counts)) > 1, f"the four versions made the same number of layers: {counts}"
    assert any("fuses differently" in s for s in report.differences)
    # Cached: the same check again only looks up, and gives the same outcomes.
    started = time.perf_counter()
    again = check_versions(path, four_versions, build_check=True, shapes=shapes, cache_root=tmp_path)
    assert all(o.cached for o in again.versions) and time.perf_counter() - started < 30
    assert [o.layer_count for o in again.versions] == counts
    assert again.differences == report.differences


def test_a_fix_makes_the_model_parse_on_an_old_version(four_versions: list[str], tmp_path: Path) -> None:
    """ReduceMean axes from a constant subgraph: 1.4 rejects it ("Axis input must be an
    initializer!"); fold-constants, tried for 1.4 and parsed again in 1.4's environment, fixes it."""
    report = check_versions(
        sample("broken_reduce_axes_subgraph.onnx"), ["1.4"], try_fixes=True, cache_root=tmp_path
    )
    outcome = report.versions[0]
    assert outcome.parse_ok is False and outcome.fix is not None
    assert "fold-constants" in outcome.fix.suggested
    assert outcome.fix.applied and outcome.fix.applied[-1] in outcome.fix.suggested
    assert outcome.fix.parses_after is True and outcome.fix.fixed_model
    assert outcome.label in outcome.fix.sentence
    fixed = check_versions(outcome.fix.fixed_model, ["1.4"], cache_root=tmp_path)
    assert fixed.versions[0].parse_ok, "1.4 parses the fixed model when asked on its own"


def test_each_version_exports_its_environment(four_versions: list[str], tmp_path: Path) -> None:
    from workbench.compat import CUDA_CONTAINER, export_environments

    model = sample("detector.onnx")
    report = check_versions(model, ["1.4", "1.7"], cache_root=tmp_path)
    written = export_environments(report, tmp_path / "export")
    assert sorted(written) == sorted(o.version for o in report.versions)
    for outcome in report.versions:
        files = written[outcome.version]
        lock = files["requirements.lock"].read_text()
        assert f"tensorrt_rtx=={outcome.version}" in lock.replace("-", "_")
        assert outcome.cuda and "FROM ${BASE}" in files["Dockerfile"].read_text()
        assert f"ARG BASE={CUDA_CONTAINER[outcome.cuda]}" in files["Dockerfile"].read_text()
        # The check script runs with that version's own interpreter and says which version it was.
        done = subprocess.run(
            [outcome.python, str(files["check.py"]), str(model)], capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.strip().splitlines()[-1].startswith(f"{outcome.version} parses")


def test_a_named_cuda_or_driver_is_checked_against_the_wheels(four_versions: list[str], tmp_path: Path) -> None:
    report = check_versions(sample("detector.onnx"), ["1.6"], cuda="12.4", driver="535.104.05", cache_root=tmp_path)
    outcome = report.versions[0]
    assert outcome.cuda is not None and report.cuda == "12.4" and report.driver == "535.104.05"
    if outcome.cuda != "12":
        assert any("not the CUDA 12.4" in w for w in report.warnings)
    assert any("minimum Linux driver" in w for w in report.warnings) == (outcome.cuda == "13")
    fine = check_versions(sample("detector.onnx"), ["1.6"], cuda=f"{outcome.cuda}.0", driver="999.1", cache_root=tmp_path)
    assert fine.warnings == []


def test_specs_are_pip_requirements_or_versions() -> None:
    from workbench.compat import parse_spec

    assert parse_spec("1.6").requirement == "tensorrt-rtx==1.6.*"
    assert parse_spec("tensorrt-rtx==1.6.1.120").requirement == "tensorrt-rtx==1.6.1.120"
    assert parse_spec("tensorrt_rtx==1.6.*").version == "1.6"
    assert parse_spec("tensorrt==10.13.3.9").backend == "tensorrt"
    for bad, said in [
        ("tensorrt-rtx>=1.6", "pin it with =="),
        ("numpy==1.6", "compat manages"),
        ("latest", "not a version"),
        ("1.6.1.*", "wildcard"),
    ]:
        with pytest.raises(WorkbenchError, match=said):
            parse_spec(bad)


def test_cli_contract_and_bad_input(four_versions: list[str], tmp_path: Path) -> None:
    import json

    from conftest import run_cli

    model = _node_test("test_gridsample_volumetric_bilinear_align_corners_0")
    done = run_cli("compat", str(model), "--versions", "tensorrt-rtx==1.5.*,1.6", "--build-check", "--json", "--no-cache")
    assert done.returncode == 1, done.stderr  # 1.5 rejects it
    document = json.loads(done.stdout)
    for entry in document["results"]:
        assert set(entry) >= {"backend", "spec", "parse_ok", "build_ok", "errors", "engine_bytes", "layer_count", "precision_counts"}
        assert set(entry["backend"]) == {"name", "version"}
    assert [r["spec"] for r in document["results"]] == ["tensorrt-rtx==1.5.*", "tensorrt-rtx==1.6.*"]
    assert document["first_accepting"] == document["last_accepting"] == document["results"][1]["backend"]["version"]
    out = tmp_path / "ws"
    for argv, said in [
        (["--versions", "1.6,tensorrt-rtx>=1.7"], "pin it with =="),
        (["--versions", "1.6", "--driver", "new"], "not a driver version"),
        (["--versions", "1.6", "--input-value", "nope=[1]"], "not an input of the model"),
    ]:
        bad = run_cli("compat", str(model), *argv, "-o", str(out))
        assert bad.returncode == 2, bad.stderr
        last = bad.stderr.strip().splitlines()[-1]
        assert said in last and last.startswith("trt-workbench: error: ")
        assert not out.exists(), "nothing is written on bad input"
