"""A model zoo run: diagnose, build, accuracy and latency per model × configuration.

:func:`run_sweep` calls the library's own functions (``diagnose.diagnose``,
``build.build_matrix``, ``compare.compare_precisions``, ``timing.profile_onnxruntime``)
for every model and every precision × target, on whatever executor is chosen (the local
pool, or a Ray cluster with ``--cluster``), and puts the outcomes in one table
(:class:`SweepResult`). It is resumable: every finished step is kept in the workspace
under a key of the model's content hash and the step's settings (builds in the build
cache, the other steps as cells under ``sweep/cells/``), so a rerun of an unchanged zoo
submits nothing and an interrupted one picks up where it stopped. The table is saved in
the workspace (``sweeps``), with an offline HTML view (``sweep/sweep.html``).

Accuracy is measured against FP32 in ONNX Runtime on the CPU and latency with ONNX Runtime
on the CPU, on the ONNX each precision builds from; both say so (``backend``), and
neither depends on the target, so they are computed once per model and precision.
"""

from __future__ import annotations

import hashlib
import html
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.serialize import JsonRecord
from workbench.workspace import Workspace

#: Bump when a cell's content changes meaning: older cells are then recomputed.
CELL_VERSION = 1
MODEL_SUFFIXES = (".onnx", ".zip")


@dataclass
class SweepCell(JsonRecord):
    """One row of the table: a model at one precision and target."""

    model: str
    model_hash: str
    precision: str
    target: str | None
    #: "parses", "does not parse", or the reason the model could not be read.
    diagnosis: str = ""
    parses: bool | None = None
    first_error: str | None = None
    build_ok: bool | None = None
    build_error: str | None = None
    engine_path: str | None = None
    engine_bytes: int | None = None
    build_seconds: float | None = None
    backend: str | None = None
    #: Where the build ran (the executor's ``ran_on``: executor, node), when it ran this time or before.
    ran_on: dict[str, Any] | None = None
    #: Accuracy against FP32: min cosine and max abs error over the outputs, top-1 agreement.
    cosine: float | None = None
    max_abs: float | None = None
    top1_agreement: float | None = None
    accuracy_backend: str | None = None
    accuracy_note: str | None = None
    latency_ms: float | None = None
    latency_p90_ms: float | None = None
    latency_backend: str | None = None
    latency_note: str | None = None
    #: Steps whose outcome came from the cache on this run (diagnose, build, accuracy, latency).
    cached: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.parses) and bool(self.build_ok)


@dataclass
class SweepResult(JsonRecord):
    models: list[str]
    precisions: list[str]
    targets: list[str]
    executor: str
    cells: list[SweepCell]
    seconds: float = 0.0
    #: Steps that ran on this run (parses, builds, accuracy and latency runs); 0 on an unchanged rerun.
    ran: int = 0
    notes: list[str] = field(default_factory=list)
    report_path: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.cells) and all(c.ok for c in self.cells)


def find_models(items: Iterable[str | Path]) -> list[Path]:
    """The models named: files as given, folders by their ``*.onnx`` / ``*.zip`` (sorted, not
    recursive). Raises one sentence for a path that does not exist or a folder with none."""
    found: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in MODEL_SUFFIXES)
            if not inside:
                raise WorkbenchError(f"{path} holds no .onnx or .zip model.")
            found.extend(inside)
        elif path.is_file():
            found.append(path)
        else:
            raise WorkbenchError(f"{path} does not exist.")
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise WorkbenchError("Give at least one model or folder of models.")
    return unique


# ----------------------------------------------------------------------------- the cache of cells


def _cell_path(workspace: Workspace, *parts: Any) -> Path:
    key = hashlib.sha256(json.dumps([CELL_VERSION, *parts], sort_keys=True, default=str).encode()).hexdigest()
    return workspace.root / "sweep" / "cells" / f"{key[:24]}.json"


def _cached(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _keep(path: Path, value: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_suffix(".part")
    staged.write_text(json.dumps(value, sort_keys=True))
    staged.replace(path)


# ----------------------------------------------------------------------------- the run


def run_sweep(
    models: Iterable[str | Path],
    precisions: list[str],
    targets: list[str] | None = None,
    *,
    workspace: Workspace | None = None,
    backend: str = "auto",
    accuracy: bool = True,
    latency: bool = True,
    iterations: int = 20,
    progress: Callable[[str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> SweepResult:
    """Diagnose, build (one engine per precision × target), compare and time every model.

    Failures are cells, not exceptions: a model that does not load or parse, a build that
    fails, an accuracy run that cannot be made. Raises only for bad arguments (a missing
    path, an unknown precision) and on cancel (:class:`~workbench.isolation.TaskCancelled`).
    """
    from workbench.build import BuildConfig, build_matrix
    from workbench.capabilities import expand_targets
    from workbench.diagnose import diagnose
    from workbench.executor import default_executor_name
    from workbench.model import load_model
    from workbench.precision import parse_precisions
    from workbench.shapes import concrete_shapes
    from workbench.summary import summarize

    started = time.perf_counter()
    paths = find_models(models)
    precisions = parse_precisions(",".join(precisions))
    targets = list(targets or [])
    workspace = workspace or Workspace.default()
    executor = default_executor_name()
    say = progress or (lambda _text: None)
    from workbench.executor import task_backend

    info = task_backend(backend)
    backend_key = {"name": info.name, "version": info.version}
    cells: list[SweepCell] = []
    notes: list[str] = []
    ran = 0

    def stop_if_cancelled() -> None:
        if cancelled is not None and cancelled():
            from workbench.isolation import TaskCancelled

            raise TaskCancelled("Cancelled.")

    for path in paths:
        stop_if_cancelled()
        name = path.name
        target_list: list[str | None] = list(targets) if targets else [None]
        rows: list[tuple[str, str | None]] = [(p, t) for p in precisions for t in target_list]
        try:
            model = load_model(path, workspace=workspace)
        except WorkbenchError as exc:
            cells += [SweepCell(model=str(path), model_hash="", precision=p, target=t, diagnosis=exc.message)
                      for p, t in rows]
            continue
        summary = summarize(model)
        shapes, defaulted = concrete_shapes(summary.inputs)
        notes += [f"{name}: {n}" for n in defaulted]
        profile = {k: [v, v, v] for k, v in shapes.items()} if defaulted else None

        # Diagnose (a parse on the executor), once per model and backend version.
        where = _cell_path(workspace, "diagnose", model.content_hash, backend_key)
        diag = _cached(where)
        diag_cached = diag is not None
        if diag is None:
            say(f"{name}: diagnosing")
            found = diagnose(model, backend=info.name, capability=False, environment=False, workspace=workspace,
                             cancelled=cancelled)
            diag = {
                "parses": found.parse_ok,
                "first_error": found.errors[0].message if found.errors else None,
                "errors": len(found.errors),
            }
            _keep(where, diag)
            ran += 1
        parses = bool(diag["parses"])
        base: dict[str, Any] = {
            "model": str(path), "model_hash": model.content_hash,
            "diagnosis": "parses" if parses else f"does not parse ({diag['errors']} error(s))",
            "parses": parses, "first_error": diag.get("first_error"), "backend": f"{info.name} {info.version}",
        }
        if not parses:
            cells += [SweepCell(precision=p, target=t, build_ok=False, build_error="not built: the model does not parse",
                                cached=["diagnose"] if diag_cached else [], **base) for p, t in rows]
            continue

        # Builds: the whole matrix at once (the build cache makes an unchanged rerun submit nothing).
        configs = expand_targets(
            [BuildConfig(precision=p, backend=info.name, profiles=[profile] if profile else [],
                         target=targets[0] if len(targets) == 1 else None) for p in precisions],
            targets if len(targets) > 1 else None,
        )
        say(f"{name}: building {len(configs)} engine(s)")
        results = build_matrix(
            model, configs, workspace=workspace, cancelled=cancelled,
            max_parallel=len(configs) if executor != "local" else None,
        )
        ran += sum(1 for r in results if not r.cached)
        built = dict(zip(rows, results))

        # Accuracy and latency: once per precision, on the ONNX that precision builds from.
        measured: dict[str, dict[str, Any]] = {}
        for precision in precisions:
            stop_if_cancelled()
            first = next((r for (p, _), r in built.items() if p == precision and r.ok), None)
            entry: dict[str, Any] = {"cached": []}
            if accuracy:
                where = _cell_path(workspace, "accuracy", model.content_hash, precision, profile)
                value = _cached(where)
                if value is None:
                    say(f"{name}: {precision} accuracy")
                    value = _accuracy(model, precision, workspace, profile, cancelled)
                    _keep(where, value)
                    ran += 1
                else:
                    entry["cached"].append("accuracy")
                entry.update(value)
            if latency and first is not None and first.built_model_path:
                source = Path(first.built_model_path)
                digest = hashlib.sha256(source.read_bytes()).hexdigest() if source.is_file() else ""
                where = _cell_path(workspace, "latency", digest, shapes, iterations)
                value = _cached(where) if digest else None
                if value is None:
                    say(f"{name}: {precision} latency")
                    value = _latency(str(source), shapes, iterations)
                    if digest:
                        _keep(where, value)
                    ran += 1
                else:
                    entry["cached"].append("latency")
                entry.update(value)
            measured[precision] = entry

        for precision, target in rows:
            result = built[(precision, target)]
            entry = dict(measured.get(precision, {}))
            cached = (["diagnose"] if diag_cached else []) + (["build"] if result.cached else [])
            cached += entry.pop("cached", [])
            cells.append(SweepCell(
                precision=precision, target=result.target or target,
                build_ok=result.ok, build_error=result.error, engine_path=result.engine_path,
                engine_bytes=result.engine_bytes, build_seconds=result.build_seconds,
                ran_on=_ran_on_of(result), cached=cached,
                **{k: v for k, v in entry.items() if k in _MEASURED},
                **base,
            ))
    sweep = SweepResult(
        models=[str(p) for p in paths], precisions=precisions, targets=targets, executor=executor, cells=cells,
        seconds=time.perf_counter() - started, ran=ran, notes=notes,
    )
    report = workspace.root / "sweep" / "sweep.html"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(render_html(sweep))
    sweep.report_path = str(report)
    workspace.save_result("sweeps", sweep, label=f"sweep of {len(paths)} model(s): {', '.join(precisions)}")
    return sweep


_MEASURED = {
    "cosine", "max_abs", "top1_agreement", "accuracy_backend", "accuracy_note",
    "latency_ms", "latency_p90_ms", "latency_backend", "latency_note",
}


def _ran_on_of(result: Any) -> dict[str, Any] | None:
    """The build's ``ran_on`` once build.py records it (BuildResult.executor / .node)."""
    executor = getattr(result, "executor", None)
    if executor:
        return {"executor": executor, "node": getattr(result, "node", None)}
    found = getattr(result, "ran_on", None)
    return found if isinstance(found, dict) else None


def _accuracy(model: Any, precision: str, workspace: Workspace, profile: Any, cancelled: Any) -> dict[str, Any]:
    from workbench.compare import compare_precisions
    from workbench.isolation import IsolatedTaskError, TaskCancelled

    if precision == "fp32":
        return {"cosine": 1.0, "max_abs": 0.0, "accuracy_backend": "reference",
                "accuracy_note": "FP32 is the reference."}
    try:
        comparison = compare_precisions(model, [precision], workspace=workspace, cancelled=cancelled,
                                        shapes=profile or None)
    except TaskCancelled:
        raise
    except (WorkbenchError, IsolatedTaskError) as exc:
        return {"accuracy_note": exc.message}
    one = comparison.results[0]
    if not one.available or not one.outputs:
        return {"accuracy_backend": one.backend, "accuracy_note": one.note or "not computable here"}
    return {
        "cosine": min(o.cosine for o in one.outputs),
        "max_abs": max(o.max_abs for o in one.outputs),
        "top1_agreement": one.top1_agreement,
        "accuracy_backend": f"{one.backend} ({one.device})" if one.device else one.backend,
        "accuracy_note": one.note,
    }


def _latency(path: str, shapes: dict[str, list[int]], iterations: int) -> dict[str, Any]:
    from workbench.timing import profile_onnxruntime

    try:
        profile = profile_onnxruntime(path, shapes=shapes or None, iterations=iterations, warmup=3,
                                      profiled_iterations=1)
    except WorkbenchError as exc:
        return {"latency_note": exc.message}
    except Exception as exc:  # ONNX Runtime refusing a graph: a cell, not a crash
        return {"latency_note": f"ONNX Runtime could not time it: {str(exc).strip().splitlines()[0]}"}
    return {
        "latency_ms": profile.latency_ms.mean,
        "latency_p90_ms": profile.latency_ms.p90,
        "latency_backend": f"{profile.backend} ({profile.device})",
    }


# ----------------------------------------------------------------------------- views


COLUMNS = ("model", "precision", "target", "diagnosis", "build", "MiB", "ran on", "cosine", "max abs", "latency ms", "cached")


def table_rows(result: SweepResult) -> list[list[str]]:
    """The table as text cells, in :data:`COLUMNS` order."""

    def num(value: float | None, fmt: str) -> str:
        return "—" if value is None else format(value, fmt)

    rows = []
    for c in result.cells:
        node = (c.ran_on or {}).get("node") or {}
        where = (c.ran_on or {}).get("executor", "")
        if node:
            where += f" {node.get('host', '')}"
        build = "ok" if c.build_ok else ("—" if c.build_ok is None else "FAILED")
        rows.append([
            Path(c.model).name, c.precision, c.target or "—", c.diagnosis, build,
            num(c.engine_bytes / 2**20 if c.engine_bytes else None, ".2f"), where or "—",
            num(c.cosine, ".5f"), num(c.max_abs, ".3g"), num(c.latency_ms, ".2f"), ",".join(c.cached) or "—",
        ])
    return rows


def text_lines(result: SweepResult) -> list[str]:
    rows = [list(COLUMNS), *table_rows(result)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    for c in result.cells:
        if c.build_error and c.build_ok is False:
            lines.append(f"{Path(c.model).name} {c.precision} {c.target or ''}: {c.build_error}")
    lines += result.notes
    ok = sum(1 for c in result.cells if c.ok)
    lines.append(
        f"{ok}/{len(result.cells)} cell(s) ok on {result.executor}; {result.ran} step(s) ran, the rest came from the "
        f"cache; {result.seconds:.1f} s" + (f"; report {result.report_path}" if result.report_path else "")
    )
    return lines


def render_html(result: SweepResult) -> str:
    """One self-contained page: the table, failures in red, what computed each number."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = []
    for cell, row in zip(result.cells, table_rows(result)):
        style = "" if cell.ok else ' style="background:#fde2e2"'
        title = html.escape(cell.build_error or cell.first_error or "", quote=True)
        body.append(f'<tr{style} title="{title}">' + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>")
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.notes)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>trt-workbench sweep</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:2px 6px;font-size:13px}</style></head><body>"
        f"<h1>Sweep: {len(result.models)} model(s), {', '.join(result.precisions)}"
        f"{' @ ' + ', '.join(result.targets) if result.targets else ''}</h1>"
        f"<p>Executor: {html.escape(result.executor)}. Accuracy: against FP32 in ONNX Runtime on the CPU. "
        "Latency: ONNX Runtime on the CPU (not a TensorRT timing).</p>"
        f"<table><tr>{head}</tr>{''.join(body)}</table><ul>{notes}</ul></body></html>"
    )
