"""Do the report's reproduction commands run? Each is checked by the tool's own parser.

``trt-workbench`` commands by this CLI's parser, ``polygraphy`` commands by Polygraphy's
tool registry, ModelOpt's by its argument parser; ``trtexec`` (not installable here) by
its documented flag table. Kept apart from :mod:`workbench.report` because checking our
own commands needs the CLI's grammar, and the CLI imports the report: this module sits
above both (tests, and anyone validating a report, import it).
"""

from __future__ import annotations

import re
import shlex

from workbench.report import Command


def validate_polygraphy(argv: list[str]) -> str | None:
    """None when Polygraphy's own parser accepts the command, else why not."""
    import argparse
    import contextlib
    import io

    from polygraphy.tools.registry import TOOL_REGISTRY

    parser = argparse.ArgumentParser(prog="polygraphy")
    subparsers = parser.add_subparsers(dest="tools")
    subparsers.required = True
    for tool in TOOL_REGISTRY:
        tool.setup_parser(subparsers)
    try:
        with contextlib.redirect_stderr(io.StringIO()) as err:
            args, unknown = parser.parse_known_args(argv[1:])
    except SystemExit:
        return f"polygraphy rejects it: {err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else 'usage error'}"
    if unknown:
        return f"polygraphy does not know {unknown}"
    try:
        args.subcommand.parse(args)
    except BaseException as exc:  # Polygraphy reports bad values with G_LOGGER.critical -> exception
        return f"polygraphy rejects the values: {exc}"
    return None


def validate_modelopt(argv: list[str]) -> str | None:
    """None when ModelOpt's own CLI parser (quantization or autocast) accepts the command."""
    import contextlib
    import importlib
    import io

    module = argv[2]
    parser = importlib.import_module(f"{module}.__main__").get_parser()
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            parser.parse_args(argv[3:])
    except SystemExit:
        return f"{module} rejects {shlex.join(argv[3:])}"
    return None


#: trtexec options the reports use (documented in `trtexec --help`), and value patterns.
_TRTEXEC_FLAGS = {
    "--onnx": r".+",
    "--saveEngine": r".+",
    "--stronglyTyped": None,
    "--fp16": None,
    "--bf16": None,
    "--int8": None,
    "--fp8": None,
    "--noTF32": None,
    "--calib": r".+",
    "--precisionConstraints": r"(none|prefer|obey)",
    "--layerPrecisions": r"[^:,]+:(fp32|fp16|bf16|int8|fp8)(,[^:,]+:(fp32|fp16|bf16|int8|fp8))*",
    "--minShapes": r"[^:,]+:\d+(x\d+)*(,[^:,]+:\d+(x\d+)*)*",
    "--optShapes": r"[^:,]+:\d+(x\d+)*(,[^:,]+:\d+(x\d+)*)*",
    "--maxShapes": r"[^:,]+:\d+(x\d+)*(,[^:,]+:\d+(x\d+)*)*",
    "--shapes": r"[^:,]+:\d+(x\d+)*(,[^:,]+:\d+(x\d+)*)*",
    "--best": None,
    "--exportLayerInfo": r".+",
    "--profilingVerbosity": r"(layer_names_only|detailed|none)",
    "--exportProfile": r".+",
    "--exportTimes": r".+",
    "--separateProfileRun": None,
    "--useCudaGraph": None,
    "--noDataTransfers": None,
    "--useSpinWait": None,
    # build options (workbench/build_options.py writes them)
    "--builderOptimizationLevel": r"[0-5]",
    "--memPoolSize": r"workspace:\d+M",
    "--timingCacheFile": r".+",
    "--versionCompatible": None,
    "--hardwareCompatibilityLevel": r"(none|ampere\+|sameComputeCapability)",
}


def validate_trtexec(argv: list[str]) -> str | None:
    """trtexec is not installed here: check each option against its documented syntax."""

    if argv[0] != "trtexec":
        return "not a trtexec command"
    if not any(a.startswith("--onnx=") for a in argv[1:]):
        return "trtexec needs --onnx="
    for arg in argv[1:]:
        name, sep, value = arg.partition("=")
        if name not in _TRTEXEC_FLAGS:
            return f"unknown trtexec option {name}"
        pattern = _TRTEXEC_FLAGS[name]
        if (pattern is None) != (not sep):
            return f"{name} {'takes no value' if pattern is None else 'needs =VALUE'}"
        if pattern is not None and not re.fullmatch(pattern, value):
            return f"bad value for {name}: {value}"
    return None


def validate_workbench(argv: list[str]) -> str | None:
    """None when the workbench's own CLI parser accepts the command."""
    import contextlib
    import io

    from workbench.cli import build_parser

    if argv[0] != "trt-workbench":
        return "not a trt-workbench command"
    try:
        with contextlib.redirect_stderr(io.StringIO()) as err, contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(argv[1:])
    except SystemExit:
        lines = err.getvalue().strip().splitlines()
        return f"trt-workbench rejects it: {lines[-1] if lines else 'usage error'}"
    return None


def validate(command: Command) -> str | None:
    if command.tool == "trt-workbench":
        return validate_workbench(command.argv)
    if command.tool == "polygraphy":
        return validate_polygraphy(command.argv)
    if command.tool == "modelopt":
        return validate_modelopt(command.argv)
    if command.tool == "trtexec":
        return validate_trtexec(command.argv)
    return None
