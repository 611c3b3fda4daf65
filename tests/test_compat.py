"""Version compatibility: managed TensorRT-RTX environments (real installs from the package
index), the same worker code run in each through the executor seam, outcomes compared."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import has_module, sample

from workbench.compat import check_versions, differences
from workbench.environments import (
    EnvironmentError_,
    ensure_environment,
    existing_environment,
    list_environments,
)

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
    assert any("in other words" in d for d in report["differences"]), "the messages differ between 1.6 and 1.7"
    missing = run_cli("compat", str(sample("detector.onnx")), "--versions", "1.2", env=env)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1].startswith("trt-workbench: error: No version could be run")
    assert not list(envs_home.glob("envs/tensorrt-rtx-1.2*")), "a version the index lacks leaves nothing behind"
