"""Diagnosis with the real TensorRT-RTX parser and builder on the bundled samples."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import manifest, requires_rtx, run_cli, sample, sample_shapes

from workbench.diagnose import Diagnosis, diagnose
from workbench.model import load_model

pytestmark = [pytest.mark.rtx, requires_rtx]

ENTRIES = manifest()


def _diagnose(entry: dict, cache: bool = True) -> Diagnosis:
    return diagnose(
        load_model(sample(entry["file"])),
        backend="tensorrt-rtx",
        build_check=True,
        shapes=sample_shapes(entry) or None,
        cache=cache,
    )


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e["file"])
def test_each_sample_is_diagnosed_as_its_manifest_says(entry: dict) -> None:
    d = _diagnose(entry)
    expect = entry["expect"]
    assert d.backend is not None and d.backend.name == "tensorrt-rtx"
    assert d.parse_ok == expect["parse"]
    assert d.build_ok == expect["build"]
    trt_errors = [e for e in d.errors if e.stage in ("parse", "build")]
    if not expect["parse"]:
        first = trt_errors[0]
        assert first.stage == "parse"
        assert first.node_name == expect["error_node"]
        assert expect["error_contains"] in first.message
        assert first.node is not None and first.node.name == expect["error_node"]
        assert first.op_type == first.node.op_type
    elif expect["build"] is False:
        assert trt_errors and trt_errors[0].stage == "build"
        assert expect["error_contains"] in trt_errors[0].message
    else:
        assert trt_errors == []
    for fix_id in entry["fixes"]:
        offered = {f for issue in d.issues for f in issue.fixes}
        assert fix_id in offered, f"{fix_id} is not suggested for {entry['file']}"
    # Noise that a CPU-only machine prints is filtered everywhere.
    text = json.dumps(d.to_dict())
    assert "cudaError 35" not in text


def test_error_carries_the_node_context() -> None:
    d = _diagnose(next(e for e in ENTRIES if e["file"] == "broken_reduce_axes_subgraph.onnx"))
    err = d.errors[0]
    assert err.func == "getReduceAxisMask"
    assert err.code == "UNSUPPORTED_NODE"
    assert err.node_index is not None and err.node is not None
    assert err.node.producers == ["/block/Relu"] or "/pool/axes/Add" in err.node.producers
    axes = next(t for t in err.node.inputs if t["name"] == err.tensors[0])
    assert axes["producer"] == "/pool/axes/Add"
    assert err.fixes[0] == "fold-constants"
    kinds = {f.kind for f in d.findings}
    assert "foldable-constant-input" in kinds


def test_first_fix_answers_each_broken_sample() -> None:
    expected_first = {
        "broken_contrib_ops.onnx": "decompose-contrib-ops",
        "broken_reduce_axes_subgraph.onnx": "fold-constants",
        "broken_shared_dim_names.onnx": "rename-shared-dims",
        "broken_uint8_input.onnx": "retype-inputs",
        "broken_missing_shapes.onnx": "override-input-shapes",
        "broken_int32_bias_qdq.onnx": "dequantize-int32-bias",
    }
    for entry in ENTRIES:
        if entry["file"] in expected_first:
            d = _diagnose(entry)
            first_error = next(e for e in d.errors if e.stage in ("parse", "build"))
            assert first_error.fixes[0] == expected_first[entry["file"]], entry["file"]


def test_build_error_maps_to_the_input_with_the_clashing_dims() -> None:
    d = _diagnose(next(e for e in ENTRIES if e["file"] == "broken_shared_dim_names.onnx"))
    build = next(e for e in d.errors if e.stage == "build")
    assert build.tensors == ["image"]
    assert build.code and build.code.startswith("4")
    assert d.profile is not None and d.profile["shapes"]["image"][1] == [1, 3, 32, 48]


def test_capability_view() -> None:
    contrib = diagnose(load_model(sample("broken_contrib_ops.onnx")), backend="tensorrt-rtx")
    status = {n.name: n.status for n in contrib.capability or []}
    assert status["/mlp/fc1/FusedMatMul"] == "unsupported"
    assert status["/mlp/act/BiasGelu"] == "unsupported"
    assert set(status.values()) <= {"supported", "unsupported", "blocked"}
    cnn = diagnose(load_model(sample("resnet_cnn.onnx")), backend="tensorrt-rtx")
    assert cnn.capability and all(n.status == "supported" for n in cnn.capability)


def test_default_profile_is_reported_as_assumed() -> None:
    d = diagnose(load_model(sample("transformer_encoder.onnx")), backend="tensorrt-rtx", build_check=True)
    assert d.build_ok is True
    assert d.profile["assumed"] == ["hidden_states"]
    assert any(f.kind == "assumed-profile" for f in d.findings)
    with_shapes = diagnose(
        load_model(sample("transformer_encoder.onnx")),
        backend="tensorrt-rtx",
        build_check=True,
        shapes={"hidden_states": [[1, 1, 64], [4, 128, 64], [8, 512, 64]]},
    )
    assert with_shapes.build_ok is True and with_shapes.profile["assumed"] == []


def test_dynamic_dims_finding_is_answered_by_a_given_profile() -> None:
    model = load_model(sample("transformer_encoder.onnx"))
    unanswered = diagnose(model, backend="tensorrt-rtx", build_check=True)
    dims = next(f for f in unanswered.findings if f.kind == "dynamic-dims")
    assert not dims.resolved and "need an optimization profile" in dims.message
    shapes = {"hidden_states": [[1, 1, 64], [4, 128, 64], [8, 512, 64]]}
    # Shapes given but no build check: nothing says the profile works yet.
    unchecked = diagnose(model, backend="tensorrt-rtx", shapes=shapes)
    assert not next(f for f in unchecked.findings if f.kind == "dynamic-dims").resolved
    answered = diagnose(model, backend="tensorrt-rtx", build_check=True, shapes=shapes)
    assert answered.build_ok is True
    dims = next(f for f in answered.findings if f.kind == "dynamic-dims")
    assert dims.resolved and dims.severity == "info" and dims.fixes == []
    assert "profile given: hidden_states:1x1x64,4x128x64,8x512x64" in dims.message
    assert "need an optimization profile" not in dims.message
    assert not any(f.severity == "warning" for f in answered.findings), [f.message for f in answered.findings]
    assert Diagnosis.from_json(answered.to_json()).findings == answered.findings


def test_dynamic_dims_stay_a_question_while_one_input_has_no_profile(tmp_path) -> None:
    import onnx
    from onnx import TensorProto, helper

    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, ["n", 8])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, ["m", 8])
    ya = helper.make_tensor_value_info("ya", TensorProto.FLOAT, ["n", 8])
    yb = helper.make_tensor_value_info("yb", TensorProto.FLOAT, ["m", 8])
    nodes = [
        helper.make_node("Relu", ["a"], ["ya"], name="ra"),
        helper.make_node("Relu", ["b"], ["yb"], name="rb"),
    ]
    path = tmp_path / "two_inputs.onnx"
    onnx.save(
        helper.make_model(
            helper.make_graph(nodes, "g", [a, b], [ya, yb]), opset_imports=[helper.make_opsetid("", 17)]
        ),
        str(path),
    )
    d = diagnose(
        load_model(path), backend="tensorrt-rtx", build_check=True, shapes={"a": [[1, 8], [2, 8], [4, 8]]}
    )
    assert d.build_ok is True and d.profile["assumed"] == ["b"]
    dims = next(f for f in d.findings if f.kind == "dynamic-dims")
    assert not dims.resolved and "need an optimization profile" in dims.message


def test_fp8_style_target_errors_are_build_errors() -> None:
    d = diagnose(load_model(sample("detector.onnx")), backend="tensorrt-rtx", build_check=True, target="sm90")
    assert d.build_ok is False
    assert "SM90" in d.errors[-1].message


def test_external_data_model_parses_from_file() -> None:
    d = diagnose(
        load_model(sample("external_data/detector_external.onnx")), backend="tensorrt-rtx", build_check=True
    )
    assert d.parse_ok and d.build_ok


def test_diagnosis_json_round_trip() -> None:
    d = _diagnose(next(e for e in ENTRIES if e["file"] == "broken_contrib_ops.onnx"))
    again = Diagnosis.from_json(d.to_json())
    assert again.to_dict() == d.to_dict()


def test_cli_diagnose_contract_and_exit_codes() -> None:
    broken = run_cli("diagnose", str(sample("broken_uint8_input.onnx")), "--build-check", "--json")
    assert broken.returncode == 1, broken.stderr
    payload = json.loads(broken.stdout)
    for key in ("parse_ok", "build_ok", "backend", "errors", "findings"):
        assert key in payload
    assert set(payload["backend"]) >= {"name", "version"}
    error = payload["errors"][0]
    assert set(error) >= {"stage", "node_name", "node_index", "op_type", "code", "message", "fixes"}
    assert error["stage"] == "parse" and error["node_name"] == "/preprocess/to_nchw/Transpose"
    assert payload["build_ok"] is None

    good = run_cli("diagnose", str(sample("detector.onnx")), "--build-check", "--target", "sm86", "--json")
    assert good.returncode == 0
    assert json.loads(good.stdout)["build_ok"] is True and json.loads(good.stdout)["target"] == "sm86"

    text = run_cli("diagnose", str(sample("broken_reduce_axes_subgraph.onnx")))
    assert text.returncode == 1
    assert "/pool/ReduceMean" in text.stdout and "fold-constants" in text.stdout


def test_cli_diagnose_bad_input_is_exit_2(tmp_path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_text("not a model")
    result = run_cli("diagnose", str(junk))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    bad_shapes = run_cli("diagnose", str(sample("resnet_cnn.onnx")), "--shapes", "input:1x3x224")
    assert bad_shapes.returncode == 0  # a shape for the build check only matters with --build-check
    wrong = run_cli("diagnose", str(sample("resnet_cnn.onnx")), "--shapes", "input=1x3")
    assert wrong.returncode == 2 and "NAME:DIMS" in wrong.stderr


@pytest.mark.parametrize(
    "entry",
    [
        e
        for e in ENTRIES
        if e["file"] in ("broken_uint8_input.onnx", "broken_shared_dim_names.onnx", "detector.onnx")
    ],
    ids=lambda e: e["file"],
)
def test_cli_fork_path_matches_the_library_pool_path(entry: dict, tmp_path) -> None:
    """The CLI parses in a child forked before onnx is imported; the app and notebooks use
    pool workers. Both must say the same thing about the same model."""
    shapes = [a for s in entry.get("shapes") or [] for a in ("--shapes", s)]
    cli = run_cli(
        "diagnose",
        str(sample(entry["file"])),
        "--build-check",
        "--json",
        *shapes,
        env={"TMPDIR": str(tmp_path)},
    )
    assert cli.returncode in (0, 1), cli.stderr
    forked = json.loads(cli.stdout)
    assert forked["cached"] is False
    pooled = _diagnose(entry, cache=False).to_dict()  # a real second check, not the CLI's cached one
    for key in ("parse_ok", "build_ok", "backend", "target", "profile", "errors", "findings", "capability"):
        assert forked[key] == pooled[key], key
    assert forked["environment"] == pooled["environment"], "JSON keeps the full environment report"
    # (TensorRT-RTX keeps a small ".ses" session file in the temp folder; that one is not ours.)
    ours = [p for p in tmp_path.iterdir() if p.name.startswith("trt-workbench")]
    assert ours == [], "the forked child's log must not outlive the command"


def test_cli_bad_input_leaves_no_forked_child_behind(tmp_path) -> None:
    junk = tmp_path / "model.onnx"
    junk.write_bytes(b"\x08\x07" + b"\xff" * 64)  # starts like ONNX, then garbage
    logs = tmp_path / "tmp"
    logs.mkdir()
    result = run_cli("diagnose", str(junk), "--build-check", env={"TMPDIR": str(logs)})
    assert result.returncode == 2 and "truncated or corrupt" in result.stderr
    assert [p for p in logs.iterdir() if p.name.startswith("trt-workbench")] == []


def test_build_check_outcome_is_cached_by_content_and_settings(tmp_path) -> None:
    """A repeated build check of the same bytes, backend, target and shapes is reused; any
    change of those builds again; --no-cache always builds."""
    model = tmp_path / "detector.onnx"
    model.write_bytes(sample("detector.onnx").read_bytes())

    def check(*extra: str) -> dict:
        out = run_cli("diagnose", str(model), "--build-check", "--json", *extra)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    cold = check("--target", "sm86")
    warm = check("--target", "sm86")
    assert (cold["cached"], warm["cached"]) == (False, True)
    for key in ("parse_ok", "build_ok", "target", "profile", "errors", "findings", "capability", "log"):
        assert warm[key] == cold[key], key
    assert "build" in cold["seconds"] and "build" not in warm["seconds"]
    assert check("--target", "sm89")["cached"] is False, "another target is another build"
    assert check("--target", "sm86", "--no-cache")["cached"] is False

    # Other bytes (even one changed doc string) are another model.
    import onnx

    proto = onnx.load(str(model))
    proto.doc_string = "changed"
    onnx.save(proto, str(model))
    assert check("--target", "sm86")["cached"] is False

    # A damaged cache entry is ignored, never trusted.
    for entry in (Path(os.environ["TRT_WORKBENCH_HOME"]) / "build-checks").glob("*.json"):
        entry.write_text("{not json")
    assert check("--target", "sm86")["cached"] is False
    plain = run_cli("diagnose", str(model), "--json")
    assert json.loads(plain.stdout)["cached"] is False, "only build checks are cached"


def test_content_hash_only_skipped_where_nothing_uses_it(tmp_path) -> None:
    from workbench.diagnose import diagnose_file
    from workbench.model import hash_files

    path = sample("detector.onnx")
    assert load_model(path, hash_content=False).content_hash == ""
    assert load_model(path).content_hash == hash_files(path, [])
    # A cached build check is keyed by the hash, so it is computed even when not asked for.
    model, d = diagnose_file(path, build_check=True, hash_content=False, environment=False)
    assert model.content_hash == hash_files(path, []) == d.content_hash
    as_json = json.loads(run_cli("diagnose", str(path), "--json").stdout)
    assert as_json["content_hash"] == hash_files(path, [])
