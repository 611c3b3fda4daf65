"""The precision table and the build-option table drive the CLI, the worker's arguments,
the UI lists and the reproduction commands: a new row is all it takes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from conftest import sample

from workbench import build_options, precision


@pytest.fixture
def fake_rows():
    # Rows added to the real tables (other modules hold references to them), removed after.
    saved_precisions = dict(precision.PRECISION_INFO)
    saved_options = dict(build_options.BUILD_OPTIONS)
    yield _register_fakes()
    for table, saved in ((precision.PRECISION_INFO, saved_precisions), (build_options.BUILD_OPTIONS, saved_options)):
        table.clear()
        table.update(saved)
    precision.PRECISIONS = tuple(precision.PRECISION_INFO)


def _register_fakes():
    row = precision.register_precision(
        precision.PrecisionInfo(
            "fp4",
            "FP4",
            (10, 0),
            True,
            "quantize",
            "FP4 tensor cores arrived with Blackwell (SM100)",
            trt10_flags=("fp4",),
            trtexec_flags=("--fp4",),
            polygraphy_flags=("--fp4",),
            quantized=True,
            color="#123456",
        )
    )
    option = build_options.register_build_option(
        build_options.BuildOption(
            "sparse_weights",
            "--sparse-weights",
            "let TensorRT use 2:4 structured-sparse tactics",
            "bool",
            "Sparse weights",
            default=False,
            trtexec=lambda v: ["--sparsity=enable"] if v else [],
            polygraphy=lambda v: ["--sparse-weights"] if v else [],
        )
    )
    return row, option


def test_a_precision_row_reaches_every_consumer(fake_rows) -> None:
    from workbench.compare import _executor_for
    from workbench.plots import precision_color
    from workbench.trt_worker import builder_switches

    assert precision.parse_precisions("fp32,fp4") == ["fp32", "fp4"]
    assert "SM100" in (precision.refusal("fp4", "sm89") or "")
    assert precision.refusal("fp4", "sm100") is None
    assert "fp4" in precision.calibrated_precisions() and "fp4" in precision.lower_precisions()
    assert builder_switches("fp4", strongly_typed=False) == {"fp4": True}
    assert builder_switches("fp4", strongly_typed=True) == {}
    assert precision_color("fp4") == "#123456"
    engine, backend, note = _executor_for("fp4")
    assert engine is None and backend == "none" and "FP4" in (note or "")


def test_a_build_option_row_reaches_cli_worker_and_commands(fake_rows, tmp_path: Path) -> None:
    from workbench.build import BuildConfig, build
    from workbench.cli import build_parser
    from workbench.model import load_model
    from workbench.report import collect, reproduction_commands
    from workbench.workspace import Workspace

    args = build_parser().parse_args(
        ["build", "m.onnx", "--precision", "fp4", "--sparse-weights", "--opt-level", "2", "--no-timing-cache"]
    )
    options = build_options.values_from_args(args)
    assert options["sparse_weights"] is True and options["builder_optimization_level"] == 2
    config = BuildConfig.with_options(options, precision="fp4")
    assert config.extra_options == {"sparse_weights": True} and config.timing_cache is False
    worker = build_options.worker_arguments(config, tmp_path)
    assert worker["sparse_weights"] is True and worker["builder_optimization_level"] == 2
    assert worker["timing_cache_path"] is None

    # A real FP32 build gives the report something to reproduce; then it is relabelled as
    # an FP4 build with the new option, as if built on a Blackwell GPU.
    workspace = Workspace(tmp_path / "ws")
    result = build(load_model(sample("detector.onnx")), BuildConfig(precision="fp32"), workspace=workspace)
    assert result.ok, result.error
    bundle = collect(workspace)
    bundle.builds = [dataclasses.replace(result, precision="fp4", config=config)]
    commands = [c.argv for c in reproduction_commands(bundle)]
    trt10 = next(a for a in commands if a[0] == "trtexec" and "--stronglyTyped" not in a)
    assert "--fp4" in trt10 and "--sparsity=enable" in trt10 and "--builderOptimizationLevel=2" in trt10
    assert "--timingCacheFile=timing.cache" not in trt10
    rtx = next(a for a in commands if a[:2] == ["polygraphy", "convert"])
    assert "--sparse-weights" in rtx and rtx[rtx.index("--builder-optimization-level"):][:2] == ["--builder-optimization-level", "2"]


def test_every_build_option_appears_in_the_reproduction_commands(tmp_path: Path) -> None:
    """The options the reproduction commands once dropped (opt level, workspace, version
    and hardware compatibility) are written into trtexec and polygraphy commands."""
    from workbench.build import BuildConfig

    config = BuildConfig(
        builder_optimization_level=4, workspace_mib=512, version_compatible=True, hardware_compatibility="ampere_plus"
    )
    trtexec = build_options.trtexec_arguments(config)
    polygraphy = build_options.polygraphy_arguments(config)
    for option in build_options.BUILD_OPTIONS.values():
        value = option.value_in(config)
        assert option.trtexec(value) and set(option.trtexec(value)) <= set(trtexec), option.name
        assert option.polygraphy(value) and set(option.polygraphy(value)) <= set(polygraphy), option.name
    from workbench.command_check import validate_trtexec

    assert validate_trtexec(["trtexec", "--onnx=m.onnx", *trtexec]) is None
