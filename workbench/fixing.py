"""Applying fixes: one step at a time or automatically, each checked for meaning, kept in a
history that can be undone, and exported as the fixed model plus one standalone script.

A :class:`FixSession` starts from the original model. Each applied fix writes a new model
into the workspace (by content hash), diagnoses it again, and records a :class:`FixStep`
with the before/after diagnosis and a graph diff. A fix whose model no longer matches the
original's outputs in ONNX Runtime is reported as rejected and not applied.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx

from workbench.diagnose import Diagnosis, diagnose
from workbench.equivalence import MeaningCheck, compare_models
from workbench.errors import WorkbenchError
from workbench.fixes import REGISTRY, FixContext, FixOptions, get_fix, suggest
from workbench.graph_index import GraphIndex
from workbench.model import LoadedModel, load_model
from workbench.serialize import JsonRecord
from workbench.shapes import ShapeProfile
from workbench.summary import op_key
from workbench.workspace import Workspace

#: Models above this size are saved with external data (protobuf cannot hold 2 GiB).
_EXTERNAL_DATA_THRESHOLD = 1_500_000_000


@dataclass
class GraphDiff(JsonRecord):
    nodes_added: list[str] = field(default_factory=list)
    nodes_removed: list[str] = field(default_factory=list)
    nodes_changed: list[str] = field(default_factory=list)
    op_counts_before: dict[str, int] = field(default_factory=dict)
    op_counts_after: dict[str, int] = field(default_factory=dict)
    #: op -> after - before, only for ops whose count changed.
    op_count_delta: dict[str, int] = field(default_factory=dict)
    inputs_changed: list[str] = field(default_factory=list)
    initializers_added: int = 0
    initializers_removed: int = 0

    @property
    def empty(self) -> bool:
        return not (
            self.nodes_added
            or self.nodes_removed
            or self.nodes_changed
            or self.inputs_changed
            or self.initializers_added
            or self.initializers_removed
        )


@dataclass
class FixStep(JsonRecord):
    fix_id: str
    title: str
    params: dict[str, Any]
    model_path: str
    content_hash: str
    before: Diagnosis
    after: Diagnosis
    diff: GraphDiff
    meaning: MeaningCheck
    snippet: str


@dataclass
class RejectedFix(JsonRecord):
    fix_id: str
    params: dict[str, Any]
    reason: str
    meaning: MeaningCheck | None = None


@dataclass
class DiagnoseOptions(JsonRecord):
    backend: str = "auto"
    build_check: bool = False
    target: str | None = None
    shapes: ShapeProfile = field(default_factory=dict)
    #: Reuse build-check outcomes for model bytes checked before (see ``diagnose(cache=)``).
    cache: bool = True


@dataclass
class FixSession(JsonRecord):
    original_path: str
    original_hash: str
    original_diagnosis: Diagnosis
    options: FixOptions = field(default_factory=FixOptions)
    diagnose_options: DiagnoseOptions = field(default_factory=DiagnoseOptions)
    steps: list[FixStep] = field(default_factory=list)
    rejected: list[RejectedFix] = field(default_factory=list)
    workspace_root: str = ""

    @property
    def current_path(self) -> str:
        return self.steps[-1].model_path if self.steps else self.original_path

    @property
    def current_diagnosis(self) -> Diagnosis:
        return self.steps[-1].after if self.steps else self.original_diagnosis

    @property
    def applied(self) -> list[str]:
        return [s.fix_id for s in self.steps]

    def undo(self) -> FixStep | None:
        """Take back the last step (its model file stays in the workspace for reuse)."""
        return self.steps.pop() if self.steps else None


def parse_input_values(specs: list[str] | None) -> dict[str, Any]:
    """``["axes=[1,2]", "sr=16000"]`` -> ``{"axes": [1, 2], "sr": 16000}`` (values are JSON)."""
    values: dict[str, Any] = {}
    for spec in specs or []:
        name, sep, text = spec.partition("=")
        if not sep or not name.strip():
            raise WorkbenchError(f"Bad input value {spec!r}: write NAME=JSON, e.g. axes=[1,2].")
        try:
            values[name.strip()] = json.loads(text)
        except json.JSONDecodeError as exc:
            raise WorkbenchError(f"Bad input value {spec!r}: the value is not JSON ({exc.msg}).") from exc
    return values


# ----------------------------------------------------------------------------- session life cycle


def start_session(
    model: LoadedModel,
    *,
    workspace: Workspace | None = None,
    options: FixOptions | None = None,
    diagnose_options: DiagnoseOptions | None = None,
    diagnosis: Diagnosis | None = None,
) -> FixSession:
    options = options or FixOptions()
    diagnose_options = diagnose_options or DiagnoseOptions(shapes=dict(options.shapes))
    if diagnosis is None:
        diagnosis = _diagnose(model, diagnose_options, options)
    return FixSession(
        original_path=str(model.path),
        original_hash=model.content_hash,
        original_diagnosis=diagnosis,
        options=options,
        diagnose_options=diagnose_options,
        workspace_root=str((workspace or Workspace.default()).root),
    )


def _diagnose(model: LoadedModel, opts: DiagnoseOptions, fix_options: FixOptions) -> Diagnosis:
    return diagnose(
        model,
        backend=opts.backend,
        build_check=opts.build_check,
        target=opts.target,
        shapes=opts.shapes or None,
        fix_options=fix_options,
        cache=opts.cache,
    )


def _context(proto: onnx.ModelProto, options: FixOptions, diagnosis: Diagnosis) -> FixContext:
    try:
        inferred = onnx.shape_inference.infer_shapes(proto, data_prop=True)
    except Exception:
        inferred = proto
    return FixContext(
        model=proto,
        index=GraphIndex.build(proto.graph, inferred.graph),
        options=options,
        issues=diagnosis.issues,
    )


def apply_fix(
    session: FixSession,
    fix_id: str,
    *,
    params: dict[str, Any] | None = None,
    issue: Any = None,
    check_meaning: bool = True,
) -> FixStep | RejectedFix:
    """Apply one fix to the session's current model; return the new step or why it was rejected."""
    fix = get_fix(fix_id)
    current = load_model(session.current_path)
    full = current.load_full()
    ctx = _context(full, session.options, session.current_diagnosis)
    if params is None:
        params = fix.params(ctx, issue)
        if params is None:
            rejected = RejectedFix(
                fix_id=fix_id, params={}, reason=f"{fix.title} has nothing to work with here{_needs(fix_id)}."
            )
            session.rejected.append(rejected)
            return rejected
    try:
        with _polygraphy_quiet():
            fixed = fix.implementation(full, **params)
    except Exception as exc:
        rejected = RejectedFix(
            fix_id=fix_id,
            params=params,
            reason=f"{fix.title} failed: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}",
        )
        session.rejected.append(rejected)
        return rejected
    diff = graph_diff(full, fixed)
    if diff.empty and _same_graph(full, fixed):
        rejected = RejectedFix(
            fix_id=fix_id, params=params, reason=f"{fix.title} changes nothing in this model."
        )
        session.rejected.append(rejected)
        return rejected

    if fix.preserves_outputs and check_meaning:
        meaning = compare_models(
            session.original_path,
            fixed,
            shapes=session.diagnose_options.shapes or session.options.shapes or None,
            input_values=session.options.input_values or None,
        )
        if meaning.checked and not meaning.passed:
            rejected = RejectedFix(
                fix_id=fix_id,
                params=params,
                reason=f"{fix.title} changes the model's results ({meaning.reason}); not applied.",
                meaning=meaning,
            )
            session.rejected.append(rejected)
            return rejected
    else:
        meaning = MeaningCheck(
            checked=False,
            passed=None,
            reason="This fix makes a different model (a reproduction), so outputs are not compared."
            if not fix.preserves_outputs
            else "Not checked (turned off).",
        )

    path = save_fixed_model(fixed, Workspace(Path(session.workspace_root)), Path(session.original_path).stem)
    fixed_loaded = load_model(path)
    after = _diagnose(fixed_loaded, session.diagnose_options, session.options)
    step = FixStep(
        fix_id=fix_id,
        title=fix.title,
        params=params,
        model_path=str(path),
        content_hash=fixed_loaded.content_hash,
        before=session.current_diagnosis,
        after=after,
        diff=diff,
        meaning=meaning,
        snippet=fix.snippet(params),
    )
    if fix.preserves_outputs:
        session.steps.append(step)
    return step


def _polygraphy_quiet() -> Any:
    """Polygraphy logs folding statistics at INFO; keep only its warnings and errors."""
    import contextlib

    try:
        from polygraphy.logger import G_LOGGER
    except ImportError:
        return contextlib.nullcontext()
    return G_LOGGER.verbosity(G_LOGGER.WARNING)


def _needs(fix_id: str) -> str:
    return {
        "set-input-constant": " (give the value with --input-value NAME=JSON)",
        "override-input-shapes": " (give the shapes with --shapes NAME:DIMS)",
    }.get(fix_id, "")


def auto_fix(
    session: FixSession,
    *,
    max_steps: int = 12,
    progress: Callable[[str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> FixSession:
    """Apply the top-ranked applicable fix for the first unanswered problem, re-diagnose,
    and repeat until the model parses (and builds, with a build check) or nothing applies.

    Then apply the fixes meant for warnings (such as float64 weights, or dims that share one
    name, which the default all-1 profile hides) that still apply; one that makes the model
    fail is undone again.
    A fix is tried again only after the model has changed since its last try. A fallback
    fix (low relevance) that leaves the problems as they were is undone again, so the
    history holds only steps that did something for the model.
    """
    tried: set[tuple[str, str]] = set()
    for _ in range(max_steps):
        if cancelled is not None and cancelled():
            break
        diagnosis = session.current_diagnosis
        done = diagnosis.parse_ok and (diagnosis.build_ok is not False)
        candidates = _candidates(session, diagnosis, warnings_only=done)
        applied = False
        for fix_id, issue, score in candidates:
            key = (fix_id, _current_hash(session))
            if key in tried:
                continue
            tried.add(key)
            if progress:
                progress(f"trying {fix_id}")
            result = apply_fix(session, fix_id, issue=issue)
            if not isinstance(result, FixStep):
                continue
            if done and not result.after.ok:
                # A fix for a warning (e.g. renaming dims that were meant to be equal) must not
                # break a model that parsed and built.
                session.undo()
                errors = [e.message for e in result.after.errors if e.stage in ("parse", "build")]
                why = errors[0].splitlines()[0][:200] if errors and errors[0] else "see its diagnosis"
                session.rejected.append(
                    RejectedFix(
                        fix_id=fix_id,
                        params=result.params,
                        reason=f"{result.title} made the model fail ({why}); undone.",
                    )
                )
                continue
            if score < _FALLBACK_SCORE and not _improved(diagnosis, result.after):
                session.undo()
                session.rejected.append(
                    RejectedFix(
                        fix_id=fix_id,
                        params=result.params,
                        reason=f"{result.title} left the problems as they were; undone.",
                    )
                )
                continue
            applied = True
            break
        if not applied:
            break
    return session


#: Suggestions ranked below this are fallbacks: kept by --auto only when they help.
_FALLBACK_SCORE = 5.0


def _signature(diagnosis: Diagnosis) -> tuple[Any, ...]:
    return (
        diagnosis.parse_ok,
        diagnosis.build_ok,
        tuple((e.stage, e.op_type, e.message) for e in diagnosis.errors if e.stage in ("parse", "build")),
    )


def _improved(before: Diagnosis, after: Diagnosis) -> bool:
    if after.ok and not before.ok:
        return True
    return _signature(before) != _signature(after) and len(after.errors) <= len(before.errors)


def _current_hash(session: FixSession) -> str:
    return session.steps[-1].content_hash if session.steps else session.original_hash


def _candidates(
    session: FixSession, diagnosis: Diagnosis, *, warnings_only: bool
) -> list[tuple[str, Any, float]]:
    current = load_model(session.current_path)
    ctx = _context(current.proto, session.options, diagnosis)
    ordered: list[tuple[str, Any, float]] = []
    if warnings_only:
        issues: list[Any] = [f for f in diagnosis.findings if f.severity in ("warning", "error")]
    else:
        # Errors in the order the parser met them, then the findings that explain them.
        issues = [
            *[e for e in diagnosis.errors if e.stage in ("parse", "build")],
            *[f for f in diagnosis.findings if f.severity in ("error", "warning")],
            *[e for e in diagnosis.errors if e.stage == "onnx"],
        ]
    for issue in issues:
        for fix, score in suggest(issue, ctx):
            if not fix.auto:
                continue
            if warnings_only and not fix.auto_for_warnings:
                continue
            if all(fix.id != f for f, _, _ in ordered):
                ordered.append((fix.id, issue, score))
    return ordered


# ----------------------------------------------------------------------------- diff, saving, script


def _node_key(node: onnx.NodeProto, i: int) -> str:
    return node.name or f"{node.op_type}:{','.join(node.output) or i}"


def graph_diff(before: onnx.ModelProto, after: onnx.ModelProto) -> GraphDiff:
    old = {_node_key(n, i): n for i, n in enumerate(before.graph.node)}
    new = {_node_key(n, i): n for i, n in enumerate(after.graph.node)}
    changed = [
        k
        for k in old.keys() & new.keys()
        if old[k].SerializeToString(deterministic=True) != new[k].SerializeToString(deterministic=True)
    ]
    ops_before = Counter(op_key(n) for n in before.graph.node)
    ops_after = Counter(op_key(n) for n in after.graph.node)
    delta = {
        op: ops_after[op] - ops_before[op]
        for op in ops_before.keys() | ops_after.keys()
        if ops_after[op] != ops_before[op]
    }
    old_inputs = {vi.name: vi.SerializeToString(deterministic=True) for vi in before.graph.input}
    new_inputs = {vi.name: vi.SerializeToString(deterministic=True) for vi in after.graph.input}
    inputs_changed = sorted(
        k for k in old_inputs.keys() | new_inputs.keys() if old_inputs.get(k) != new_inputs.get(k)
    )
    old_inits = {t.name for t in before.graph.initializer}
    new_inits = {t.name for t in after.graph.initializer}
    return GraphDiff(
        nodes_added=sorted(new.keys() - old.keys()),
        nodes_removed=sorted(old.keys() - new.keys()),
        nodes_changed=sorted(changed),
        op_counts_before=dict(ops_before),
        op_counts_after=dict(ops_after),
        op_count_delta=dict(sorted(delta.items())),
        inputs_changed=inputs_changed,
        initializers_added=len(new_inits - old_inits),
        initializers_removed=len(old_inits - new_inits),
    )


def _same_graph(a: onnx.ModelProto, b: onnx.ModelProto) -> bool:
    return a.graph.SerializeToString(deterministic=True) == b.graph.SerializeToString(deterministic=True)


def save_fixed_model(model: onnx.ModelProto, workspace: Workspace, stem: str) -> Path:
    """Save into ``<workspace>/fixes/<hash>/``; the same model is written once."""
    large = model.ByteSize() > _EXTERNAL_DATA_THRESHOLD
    data = b"" if large else model.SerializeToString(deterministic=True)
    digest = hashlib.sha256(data or model.graph.SerializeToString(deterministic=True)).hexdigest()
    folder = workspace.root / "fixes" / digest[:16]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.fixed.onnx"
    if not path.exists():
        if large:
            onnx.save_model(model, str(path), save_as_external_data=True, location=path.name + ".data")
        else:
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
    return path


SCRIPT_TEMPLATE = '''#!/usr/bin/env python3
"""Reproduce the fixes TensorRT Workbench applied to {name}.

    python {script_name} {name} {name_stem}.fixed.onnx

Fixes, in order:
{fix_list}
Needs: onnx, onnx-graphsurgeon, polygraphy and onnxruntime{extra}.
Original sha256: {original_hash}
"""

from __future__ import annotations

import sys

import onnx


{functions}


def main(source: str, destination: str) -> None:
    model = onnx.load(source)  # loads external data from beside the source file
{calls}
    large = model.ByteSize() > {threshold}
    onnx.save_model(model, destination, save_as_external_data=large)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(f"usage: {{sys.argv[0]}} ORIGINAL.onnx FIXED.onnx")
    main(sys.argv[1], sys.argv[2])
'''


def fix_script(session: FixSession, script_name: str = "fix.py") -> str:
    """One standalone script that reproduces every applied fix from the original file."""
    import inspect
    import textwrap

    name = Path(session.original_path).name
    functions: dict[str, str] = {}
    calls = []
    for step in session.steps:
        fix = REGISTRY[step.fix_id]
        impl = fix.implementation
        functions.setdefault(impl.__name__, textwrap.dedent(inspect.getsource(impl)))
        args = "".join(f", {k}={_literal(v)}" for k, v in step.params.items())
        calls.append(f"    model = {impl.__name__}(model{args})  # {step.fix_id}")
    extra = ", onnxslim" if any(s.fix_id == "simplify-onnxslim" for s in session.steps) else ""
    return SCRIPT_TEMPLATE.format(
        # The names go into the script's docstring: any quote, backslash or control
        # character in a user's file name is escaped so the script stays valid Python.
        name=_docstring_safe(name),
        name_stem=_docstring_safe(Path(name).stem),
        script_name=_docstring_safe(script_name),
        fix_list="".join(f"  {i}. {s.fix_id}: {s.title}\n" for i, s in enumerate(session.steps, 1))
        or "  (none)\n",
        extra=extra,
        original_hash=session.original_hash,
        functions="\n\n\n".join(f.rstrip() for f in functions.values()) or "# no fixes applied",
        calls="\n".join(calls) or "    pass",
        threshold=_EXTERNAL_DATA_THRESHOLD,
    )


def _docstring_safe(text: str) -> str:
    """``text`` fit for the inside of a triple-quoted docstring: backslashes and quotes
    escaped, control characters written as escapes (format() substitutes values verbatim)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in escaped)


def _literal(value: Any) -> str:
    # JSON-compatible values print as valid Python literals via repr.
    json.dumps(value)
    return repr(value)


def export(session: FixSession, output: Path, script: Path | None = None) -> tuple[Path, Path | None]:
    """Write the current model to ``output`` (with external data beside it when large) and the script."""
    if not session.steps:
        raise WorkbenchError("No fix was applied, so there is nothing to export.")
    model = onnx.load(session.current_path)
    output.parent.mkdir(parents=True, exist_ok=True)
    large = model.ByteSize() > _EXTERNAL_DATA_THRESHOLD
    onnx.save_model(
        model, str(output), save_as_external_data=large, location=output.name + ".data" if large else None
    )
    if script is not None:
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(fix_script(session, script.name))
    return output, script
