#!/usr/bin/env python3
"""Diagnose (and auto-fix) every single-operator backend test model that onnx 1.22.0 ships.

    python benchmarks/onnx_node_tests.py [--auto] [--limit N] [--json OUT]

The models come from the onnx 1.22.0 wheel (fetched with pip into .cache/, never
installed). For --auto, each model's test inputs (test_data_set_0) play the part of what a
user knows: their values for set-input-constant (axes, scales, K given as inputs) and
their shapes for override-input-shapes. Prints the parse rate before and after, the most
common errors, and which fixes did the work. A crash of the workbench itself (anything
but a reported diagnosis) is counted and listed: the target is zero.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache"
ONNX_WHEEL = "onnx==1.22.0"


def fetch_wheel(requirement: str, cache: Path = CACHE) -> Path:
    """Download a wheel (no dependencies) into the cache once; return its path."""
    import subprocess

    folder = cache / "wheels"
    name = requirement.split("==")[0].replace("-", "_").lower()
    version = requirement.split("==")[1] if "==" in requirement else ""
    found = sorted(p for p in folder.glob("*.whl") if p.name.lower().startswith(f"{name}-{version}"))
    if found:
        return found[-1]
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
            str(folder),
            requirement,
        ],
        check=True,
        capture_output=True,
    )
    found = sorted(p for p in folder.glob("*.whl") if p.name.lower().startswith(f"{name}-{version}"))
    if not found:
        raise RuntimeError(f"pip did not produce a wheel for {requirement}")
    return found[-1]


def node_test_dir(cache: Path = CACHE) -> Path:
    """The onnx 1.22.0 backend node tests, unpacked once from the wheel."""
    target = cache / "onnx-1.22.0-node-tests"
    marker = target / ".complete"
    if not marker.exists():
        wheel = fetch_wheel(ONNX_WHEEL, cache)
        prefix = "onnx/backend/test/data/node/"
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.infolist():
                if member.filename.startswith(prefix) and not member.is_dir():
                    out = target / member.filename[len(prefix) :]
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_bytes(archive.read(member))
        marker.write_text("ok\n")
    return target


def test_inputs(case_dir: Path, model: Any) -> dict[str, Any]:
    """The case's test_data_set_0 inputs by graph input name (numpy arrays)."""
    import onnx
    from onnx import numpy_helper

    data_dir = case_dir / "test_data_set_0"
    initializers = {t.name for t in model.graph.initializer}
    names = [vi.name for vi in model.graph.input if vi.name not in initializers]
    values = {}
    for i, name in enumerate(names):
        path = data_dir / f"input_{i}.pb"
        if not path.exists():
            continue
        tensor = onnx.TensorProto()
        try:
            tensor.ParseFromString(path.read_bytes())
            values[name] = numpy_helper.to_array(tensor)
        except Exception:
            continue  # sequences and optionals are stored differently; skip them
    return values


@dataclass
class CaseResult:
    name: str
    parse_before: bool
    parse_after: bool
    first_error: str = ""
    applied: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    crash: str = ""
    seconds: float = 0.0


def _error_key(message: str) -> str:
    text = message.splitlines()[0] if message else ""
    for marker in ("Assertion failed: ", "ERROR: "):
        if marker in text:
            text = text.split(marker, 1)[1]
    return text[:90]


def run_case(case_dir: Path, auto: bool, workspace: Any, backend: str = "auto") -> CaseResult:
    from workbench.diagnose import diagnose
    from workbench.errors import WorkbenchError
    from workbench.fixes import FixOptions
    from workbench.fixing import DiagnoseOptions, auto_fix, start_session
    from workbench.model import load_model

    start = time.perf_counter()
    name = case_dir.name
    try:
        model = load_model(case_dir / "model.onnx")
    except WorkbenchError as exc:
        return CaseResult(
            name, False, False, first_error=f"load: {exc.message}", seconds=time.perf_counter() - start
        )
    try:
        diagnosis = diagnose(model, backend=backend, capability=False)
        parse_errors = [e for e in diagnosis.errors if e.stage == "parse"]
        result = CaseResult(
            name,
            diagnosis.parse_ok,
            diagnosis.parse_ok,
            first_error=_error_key(parse_errors[0].message) if parse_errors else "",
        )
        if auto and not diagnosis.parse_ok:
            values = test_inputs(case_dir, model.proto)
            shapes = {k: [list(v.shape)] * 3 for k, v in values.items() if hasattr(v, "shape")}
            options = FixOptions(
                shapes=shapes, input_values={k: v.tolist() for k, v in values.items() if hasattr(v, "tolist")}
            )
            session = start_session(
                model,
                workspace=workspace,
                options=options,
                diagnose_options=DiagnoseOptions(backend=backend, shapes=shapes),
                diagnosis=diagnosis,
            )
            auto_fix(session)
            result.parse_after = session.current_diagnosis.parse_ok
            result.applied = session.applied
            result.rejected = [r.fix_id for r in session.rejected]
    except Exception as exc:  # the workbench must never crash: count it and go on
        import traceback

        result = CaseResult(
            name, False, False, crash=f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
        )
    result.seconds = time.perf_counter() - start
    return result


def run(
    limit: int | None = None, auto: bool = True, backend: str = "auto", progress: bool = True
) -> list[CaseResult]:
    import tempfile

    from workbench.workspace import Workspace

    cases = sorted(p for p in node_test_dir().iterdir() if (p / "model.onnx").exists())[:limit]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Workspace(Path(tmp))
        iterator: Any = cases
        if progress:
            from tqdm import tqdm

            iterator = tqdm(cases, desc="node tests", unit="model", file=sys.stderr)
        for case in iterator:
            results.append(run_case(case, auto, workspace, backend))
    return results


def report(results: list[CaseResult]) -> str:
    total = len(results)
    before = sum(r.parse_before for r in results)
    after = sum(r.parse_after for r in results)
    crashes = [r for r in results if r.crash]
    lines = [
        f"models                      {total}",
        f"parse before                {before} ({100 * before / total:.1f}%)",
        f"parse after --auto          {after} ({100 * after / total:.1f}%)",
        f"fixed by --auto             {after - before}",
        f"workbench crashes           {len(crashes)}",
        f"seconds (sum of cases)      {sum(r.seconds for r in results):.1f}",
        "",
        "fixes that made a model parse:",
    ]
    for fix_id, n in Counter(
        f for r in results if r.parse_after and not r.parse_before for f in r.applied
    ).most_common():
        lines.append(f"  {n:5d}  {fix_id}")
    lines += ["", "most common errors left after --auto:"]
    for error, n in Counter(r.first_error for r in results if not r.parse_after and not r.crash).most_common(
        12
    ):
        lines.append(f"  {n:5d}  {error}")
    for r in crashes[:10]:
        lines.append(f"CRASH {r.name}: {r.crash.splitlines()[0]}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int)
    parser.add_argument("--no-auto", action="store_true", help="only diagnose")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--json", type=Path, help="write per-model results here")
    args = parser.parse_args()
    start = time.perf_counter()
    results = run(args.limit, auto=not args.no_auto, backend=args.backend)
    print(report(results))
    print(f"wall seconds                {time.perf_counter() - start:.1f}")
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=1))


if __name__ == "__main__":
    main()
