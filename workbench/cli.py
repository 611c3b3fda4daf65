"""The ``trt-workbench`` command line: a thin front end over the library.

Exit status: 0 success, 1 the model fails what was asked (e.g. it does not parse),
2 bad input (the message says which, in one sentence, with no traceback).
Heavy modules are imported inside the commands so ``trt-workbench --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from workbench import __version__

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def _print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2) + "\n")


# ----------------------------------------------------------------------------- commands


def cmd_summary(args: argparse.Namespace) -> int:
    from workbench.model import load_model
    from workbench.summary import summarize

    summary = summarize(load_model(args.model))
    if args.json:
        _print_json(summary.to_dict())
        return EXIT_OK
    print(format_summary(summary))
    return EXIT_OK


def cmd_env(args: argparse.Namespace) -> int:
    from workbench.env import collect_environment

    report = collect_environment()
    if args.json:
        _print_json(report.to_dict())
        return EXIT_OK
    width = max(len(label) for label, _ in report.lines())
    for label, value in report.lines():
        print(f"{label:<{width}}  {value}")
    return EXIT_OK


def cmd_ui(args: argparse.Namespace) -> int:
    import subprocess
    from pathlib import Path

    from workbench.samples import find_sample

    if args.sample:
        find_sample(args.sample)  # a wrong name is a one-sentence error, not a blank page
    app = Path(__file__).resolve().parent / "ui" / "app_main.py"
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.maxUploadSize",
        "2048",
        "--browser.gatherUsageStats",
        "false",
        "--server.port",
        str(args.port),
        "--server.address",
        args.address,
        "--server.headless",
        "true" if args.headless else "false",
    ]
    if args.sample:
        command += ["--", "--sample", args.sample]
    return subprocess.call(command)


def format_summary(summary: Any) -> str:
    def mib(n: int) -> str:
        return f"{n / 2**20:.2f} MiB"

    lines = [
        f"Model        {summary.name}  ({mib(summary.total_bytes)} on disk, sha256 {summary.content_hash[:12]})",
        f"Producer     {summary.producer_name or '?'} {summary.producer_version}".rstrip(),
        f"IR version   {summary.ir_version}",
        "Opsets       " + ", ".join(f"{d} {v}" for d, v in summary.opsets.items()),
    ]
    if summary.custom_domains:
        lines.append(
            "Custom       " + ", ".join(summary.custom_domains) + "  (TensorRT needs plugins for these)"
        )
    if summary.external_data_files:
        lines.append("Ext. data    " + ", ".join(summary.external_data_files))
    lines.append("Inputs")
    for t in summary.inputs:
        lines.append(f"  {t.name:<24} {t.dtype:<10} {t.shape_str()}")
    lines.append("Outputs")
    for t in summary.outputs:
        lines.append(f"  {t.name:<24} {t.dtype:<10} {t.shape_str()}")
    extra = f" ({summary.subgraph_node_count} in subgraphs)" if summary.subgraph_node_count else ""
    lines.append(f"Nodes        {summary.node_count}{extra}")
    lines.append("Operators    " + ", ".join(f"{op} {n}" for op, n in summary.op_histogram.items()))
    lines.append(f"Parameters   {summary.parameter_count:,} ({mib(summary.parameter_bytes)})")
    lines.append("Initializers " + ", ".join(f"{d} {n}" for d, n in summary.initializer_dtypes.items()))
    if summary.dynamic_dims:
        dims = ", ".join(
            f"{d.input}[{'rank' if d.axis is None else d.axis}]" + (f"={d.name}" if d.name else "")
            for d in summary.dynamic_dims
        )
        lines.append(f"Dynamic      {dims}  (TensorRT needs an optimization profile)")
    for name, dims in summary.shared_dim_names.items():
        lines.append(f"Shared dims  {name}: {', '.join(dims)} name more than one axis")
    lines.append(f"Checker      {'ok' if summary.checker_ok else summary.checker_error}")
    if summary.shape_inference_error:
        lines.append(f"Shapes       inference failed: {summary.shape_inference_error}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trt-workbench",
        description="From an ONNX model to a fast, accurate TensorRT engine: inspect, diagnose, fix, build, compare.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "summary", help="what a model is: inputs, outputs, dynamic dims, opsets, operators, size"
    )
    p.add_argument("model", help="an .onnx file, or a .zip holding one with its external data")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("ui", help="open the workbench in the browser (Streamlit)")
    p.add_argument(
        "--sample", default="resnet_cnn.onnx", help="bundled sample model to open (default: %(default)s)"
    )
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--address", default="localhost")
    p.add_argument("--headless", action="store_true", help="do not open a browser")
    p.set_defaults(func=cmd_ui)

    p = sub.add_parser("env", help="installed backends and versions, and the GPU if any")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_env)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    from workbench.errors import WorkbenchError

    try:
        return func(args)
    except WorkbenchError as exc:
        print(f"trt-workbench: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly.
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        print("trt-workbench: cancelled", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
