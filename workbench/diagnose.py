"""Why TensorRT rejects a model: parser and build errors mapped to ONNX nodes, plus
ONNX-level findings the parser does not explain well, each with ranked fixes.

The parse (``parse_from_file``, so external data resolves) and the optional build check
run in an isolated worker process (:mod:`workbench.isolation`): a parser or builder crash
becomes a reported error. The ONNX-level findings are computed here from the graph.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx

from workbench.backends import BackendInfo
from workbench.dtypes import TENSORRT_UNSUPPORTED_DTYPES, onnx_dtype_name
from workbench.env import EnvironmentReport, collect_environment
from workbench.graph_index import GraphIndex, attribute_summary
from workbench.isolation import IsolatedTaskError, TaskCancelled
from workbench.model import LoadedModel
from workbench.parse_job import ParseJob, start_parse_job
from workbench.serialize import JsonRecord
from workbench.shapes import ShapeProfile
from workbench.summary import STANDARD_DOMAINS, ModelSummary, op_key, summarize
from workbench.worker_records import ParseOutcome

#: Node inputs that TensorRT needs as build-time constants: op -> input positions.
CONSTANT_INPUTS: dict[str, tuple[int, ...]] = {
    **{
        op: (1,)
        for op in (
            "ReduceMean",
            "ReduceSum",
            "ReduceMax",
            "ReduceMin",
            "ReduceProd",
            "ReduceL1",
            "ReduceL2",
            "ReduceLogSum",
            "ReduceLogSumExp",
            "ReduceSumSquare",
        )
    },
    "Resize": (1, 2),
    "TopK": (1,),
    "Pad": (1,),
    "Squeeze": (1,),
    "Unsqueeze": (1,),
    "Split": (1,),
    "CumSum": (1,),
    "OneHot": (1,),
}

#: Ops of ONNX Runtime's dynamic (weight-only, runtime-scaled) quantization.
DYNAMIC_QUANTIZATION_OPS = frozenset(
    {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "DynamicQuantizeMatMul", "DynamicQuantizeLSTM"}
)

#: The end of the dynamic-dims finding's message until a profile answers it.
_NEEDS_PROFILE = " need an optimization profile (min/opt/max) to build."

#: Domains whose ops are for training only.
TRAINING_DOMAINS = frozenset({"ai.onnx.training", "ai.onnx.preview.training"})


@dataclass
class NodeContext(JsonRecord):
    """An ONNX node as the user needs to see it next to an error."""

    index: int
    name: str
    op_type: str
    domain: str
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    attributes: dict[str, str]
    producers: list[str]
    consumers: list[str]


@dataclass
class DiagnosticError(JsonRecord):
    stage: str  # "parse" | "build" | "onnx"
    node_name: str | None
    node_index: int | None
    op_type: str | None
    code: str | None
    message: str
    fixes: list[str] = field(default_factory=list)
    #: The parser's function that raised (``func()``), e.g. ``importConv``.
    func: str | None = None
    node: NodeContext | None = None
    #: Tensors the error is about (e.g. the input named by a dims clash).
    tensors: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return f"{self.stage}-error"


@dataclass
class Finding(JsonRecord):
    kind: str
    severity: str  # "error" | "warning" | "info"
    message: str
    nodes: list[str] = field(default_factory=list)
    tensors: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)
    #: The question the finding raises was answered (e.g. a profile was given for every
    #: dynamic dim and the build check passed with it): kept as information, not a warning.
    resolved: bool = False

    # Findings answer the same questions as errors for the fix registry.
    @property
    def stage(self) -> str:
        return "onnx"

    @property
    def op_type(self) -> str | None:
        return None

    @property
    def node_name(self) -> str | None:
        return self.nodes[0] if self.nodes else None


@dataclass
class NodeSupport(JsonRecord):
    index: int
    name: str
    op_type: str
    #: "supported" (in a subgraph TensorRT takes), "unsupported" (the parser rejects the
    #: node itself) or "blocked" (not reached: it depends on an unsupported node).
    status: str


@dataclass
class Diagnosis(JsonRecord):
    model: str
    content_hash: str
    parse_ok: bool
    build_ok: bool | None
    backend: BackendInfo | None
    errors: list[DiagnosticError]
    findings: list[Finding]
    target: str | None = None
    #: The optimization profile the build check used, and which inputs got assumed dims.
    profile: dict[str, Any] | None = None
    capability: list[NodeSupport] | None = None
    engine_bytes: int | None = None
    log: list[tuple[str, str]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    environment: EnvironmentReport | None = None
    #: The parse and build check came from the build-check cache (same model bytes,
    #: backend version, target and shapes), not from a build run now.
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.parse_ok and self.build_ok is not False

    @property
    def issues(self) -> list[DiagnosticError | Finding]:
        return [*self.errors, *self.findings]


# ----------------------------------------------------------------------------- public entry


def diagnose(
    model: LoadedModel,
    *,
    backend: str = "auto",
    build_check: bool = False,
    target: str | None = None,
    shapes: ShapeProfile | None = None,
    capability: bool = True,
    fix_options: Any = None,
    timeout: float = 300.0,
    cancelled: Callable[[], bool] | None = None,
    environment: bool = True,
    cache: bool = True,
    workspace: Any = None,
    job: ParseJob | None = None,
) -> Diagnosis:
    """Diagnose a model with the installed TensorRT parser (full TensorRT, else TensorRT-RTX).

    Args:
        model: the loaded model.
        backend: ``auto``, ``tensorrt`` or ``tensorrt-rtx``.
        build_check: after a successful parse, build the network once.
        target: compute capability for TensorRT-RTX's ahead-of-time build (default sm89 without a GPU).
        shapes: optimization profile for the build check; dynamic dims nobody gave become 1.
        capability: also partition the graph into supported and unsupported nodes.
        fix_options: options some fixes need (shapes, input values), for ranking suggestions.
        environment: record the environment report (versions, GPUs) in the diagnosis; a
            caller that neither shows nor saves it can skip the cost (onnxruntime's import).
        cache: reuse (and keep) build-check outcomes in the workspace, keyed by the model's
            content hash, the backend and its version, the target and the shapes. A cold
            check still runs in full; a cache hit stops the already started worker.
        workspace: where that cache lives (default: the user's workspace).
        job: a parse of ``model.path`` already started with
            :func:`~workbench.parse_job.start_parse_job`; the backend, build-check, target,
            shape and capability arguments are then the job's.

    Raises:
        BackendUnavailableError: no TensorRT of the requested kind is installed.
    """
    if job is None:
        job = start_parse_job(
            model.path,
            backend=backend,
            build_check=build_check,
            target=target,
            shapes=shapes,
            capability=capability,
            timeout=timeout,
            cancelled=cancelled,
        )
    return _collect(
        model,
        job,
        fix_options=fix_options,
        environment=environment,
        cache_root=_cache_root(workspace) if cache else None,
    )


def diagnose_file(
    path: str | Path,
    *,
    workspace: Any = None,
    backend: str = "auto",
    build_check: bool = False,
    target: str | None = None,
    shapes: ShapeProfile | None = None,
    capability: bool = True,
    fix_options: Any = None,
    timeout: float = 300.0,
    cancelled: Callable[[], bool] | None = None,
    job: ParseJob | None = None,
    environment: bool = True,
    cache: bool = True,
    hash_content: bool = True,
) -> tuple[LoadedModel, Diagnosis]:
    """Load and diagnose a model file, with TensorRT parsing it while this process loads and
    checks it. If the file turns out to be bad input, the parse is cancelled (its worker is
    killed unread) and the load error is raised, as :func:`~workbench.model.load_model` does.

    Args:
        job: a parse of this same file already started with
            :func:`~workbench.parse_job.start_parse_job` (the CLI starts it before importing
            onnx); the backend, build-check and shape arguments are then the job's.
        hash_content: compute the model's content hash (see ``load_model``); a build check
            with the cache on always does, as the cache is keyed by it.
    """
    from workbench.model import load_model

    path = Path(path)
    if job is not None and job.path.resolve() != path.resolve():
        raise ValueError(f"The parse job is for {job.path}, not {path}.")
    if path.suffix.lower() == ".zip" or not path.is_file():
        # Unpack (or fail) before anything parses it; the parse then starts from the copy.
        if job is not None:
            job.abort()
            job = None
        model = load_model(path, workspace=workspace)
    else:
        if job is None:
            job = start_parse_job(
                path,
                backend=backend,
                build_check=build_check,
                target=target,
                shapes=shapes,
                capability=capability,
                timeout=timeout,
                cancelled=cancelled,
            )
        try:
            model = load_model(
                path, workspace=workspace, hash_content=hash_content or (job.build_check and cache)
            )
        except BaseException:
            job.abort()
            raise
    return model, diagnose(
        model,
        backend=backend,
        build_check=build_check,
        target=target,
        shapes=shapes,
        capability=capability,
        fix_options=fix_options,
        timeout=timeout,
        cancelled=cancelled,
        environment=environment,
        cache=cache,
        workspace=workspace,
        job=job,
    )


def _cache_root(workspace: Any) -> Path:
    from workbench.workspace import Workspace

    return (workspace or Workspace.default()).root / "build-checks"


def _cached_check(root: Path, key: str) -> dict[str, Any] | None:
    import json

    try:
        raw = json.loads((root / f"{key[:32]}.json").read_text())
    except (OSError, ValueError):
        return None
    required = ("parse_ok", "parse_errors", "build_ok", "build_errors", "backend", "log")
    return raw if isinstance(raw, dict) and all(k in raw for k in required) else None


def _keep_check(root: Path, key: str, raw: dict[str, Any]) -> None:
    import json
    import os

    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / f".{key[:32]}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(raw))
        tmp.replace(root / f"{key[:32]}.json")  # atomic: a reader never sees half a file
    except OSError:
        pass  # a cache that cannot be written only costs the next run its speed


def _collect(
    model: LoadedModel,
    job: ParseJob,
    *,
    fix_options: Any,
    environment: bool = True,
    cache_root: Path | None = None,
) -> Diagnosis:
    """Look at the ONNX graph while the worker parses, then merge both into one diagnosis."""
    build_check, target, capability = job.build_check, job.target, job.capability
    total_start = job.started
    crash: IsolatedTaskError | None = None
    raw: dict[str, Any] = {}
    try:
        index = GraphIndex.build(
            model.proto.graph, model.inferred.graph if model.inferred is not None else None
        )
        findings = onnx_findings(model, index)
        errors = onnx_errors(model, index)
    except BaseException:
        job.abort()
        raise
    # A build check is the slow part (TensorRT compiles the engine): one done before for the
    # same bytes, backend version, target and shapes is reused, and the running one stopped.
    cache_dir = cache_root if build_check else None  # only build checks are worth keeping
    key = job.cache_key(model.content_hash) if cache_dir is not None else ""
    hit = _cached_check(cache_dir, key) if cache_dir is not None else None
    if hit is not None:
        job.abort()
        raw = hit
    else:
        try:
            raw = job.result()
        except TaskCancelled:
            raise
        except IsolatedTaskError as exc:
            crash = exc
        if crash is None and cache_dir is not None:
            _keep_check(cache_dir, key, raw)
    report = collect_environment() if environment else None
    if crash is not None:
        # The parser or builder crashed or hung: that is the diagnosis.
        stage = "build" if build_check else "parse"
        errors.append(
            DiagnosticError(
                stage=stage,
                node_name=None,
                node_index=None,
                op_type=None,
                code="CRASH",
                message=f"{crash.message} {_last_log_line(crash.log)}".strip(),
            )
        )
        diagnosis = Diagnosis(
            model=str(model.path),
            content_hash=model.content_hash,
            parse_ok=False,
            build_ok=None,
            backend=job.info,
            errors=errors,
            findings=findings,
            target=target,
            log=[("error", line) for line in crash.log.splitlines()[-50:]],
            environment=report,
        )
        return rank_fixes(diagnosis, model, index, fix_options)

    outcome = ParseOutcome.from_dict(raw)
    for err in outcome.parse_errors:
        errors.append(parse_error(err, index))
    build_ok = outcome.build_ok
    for message in outcome.build_errors:
        errors.append(build_error(message, index, model))
    profile = outcome.profile.to_dict() if outcome.profile is not None else None
    if outcome.profile is not None and outcome.profile.assumed:
        names = ", ".join(outcome.profile.assumed)
        failed = build_ok is False
        findings.append(
            Finding(
                kind="assumed-profile",
                severity="warning" if failed else "info",
                message=f"The build check gave {names} a profile with every dynamic dim set to 1 "
                "(Polygraphy's default); pass --shapes for the shapes you will serve."
                + (" The build failure may come from those tiny shapes." if failed else ""),
                tensors=list(outcome.profile.assumed),
            )
        )
    _answer_dynamic_dims(findings, profile, build_ok)
    for severity, message in outcome.log:
        if severity == "warning" and "ir_version" in message and "newer" in message:
            findings.append(
                Finding(kind="ir-newer-than-parser", severity="warning", message=clean_message(message))
            )

    # A cached outcome's worker timings belong to the run that made it, not to this one.
    seconds = {} if hit is not None else dict(outcome.seconds)
    seconds["total"] = time.perf_counter() - total_start
    diagnosis = Diagnosis(
        model=str(model.path),
        content_hash=model.content_hash,
        parse_ok=outcome.parse_ok,
        build_ok=build_ok,
        backend=BackendInfo(name=outcome.backend.name, version=outcome.backend.version),
        errors=errors,
        findings=findings,
        target=outcome.target,
        profile=profile,
        capability=_node_support(outcome.capability, outcome.parse_errors, index) if capability else None,
        engine_bytes=outcome.engine_bytes,
        log=[(s, clean_message(m)) for s, m in outcome.log],
        seconds=seconds,
        environment=report,
        cached=hit is not None,
    )
    return rank_fixes(diagnosis, model, index, fix_options)


def _answer_dynamic_dims(
    findings: list[Finding], profile: dict[str, Any] | None, build_ok: bool | None
) -> None:
    """The dynamic-dims finding asks for a profile: once the user gave shapes for every dynamic
    input and the build check passed with them, it is answered (info, resolved), not a warning."""
    if build_ok is not True or not profile:
        return
    from workbench.shapes import format_shape_spec

    assumed = set(profile.get("assumed") or [])
    given = {k: v for k, v in (profile.get("shapes") or {}).items() if k not in assumed}
    for finding in findings:
        if finding.kind != "dynamic-dims" or not finding.tensors:
            continue
        if all(t in given for t in finding.tensors):
            specs = " ".join(format_shape_spec(t, given[t]) for t in finding.tensors)
            finding.severity = "info"
            finding.resolved = True
            finding.message = finding.message.replace(
                _NEEDS_PROFILE, f": profile given: {specs}; the build check passed with it."
            )


def clean_message(text: str) -> str:
    """Drop log noise (the CPU-only cudaError 35 line, node banners) from a message."""
    from workbench.trt_worker import is_noise

    lines = [ln for ln in text.splitlines() if ln.strip() and not is_noise(ln)]
    return "\n".join(lines).strip()


def node_context(index: GraphIndex, i: int) -> NodeContext:
    node = index.nodes[i]
    producers = sorted(
        {index.node_label(p) for t in node.input if t and (p := index.producer.get(t)) is not None}
    )
    consumers = sorted({index.node_label(c) for t in node.output for c in index.consumers.get(t, [])})
    return NodeContext(
        index=i,
        name=index.node_label(i),
        op_type=node.op_type,
        domain=node.domain or "ai.onnx",
        inputs=index.describe_tensors(node.input),
        outputs=index.describe_tensors(node.output),
        attributes=attribute_summary(node),
        producers=producers,
        consumers=consumers,
    )


def parse_error(err: dict[str, Any], index: GraphIndex) -> DiagnosticError:
    i = index.find_node(err.get("node_name"), err.get("node_index"), err.get("op_type"))
    message = clean_message(err.get("desc", ""))
    lines = message.splitlines()
    if len(lines) > 1 and lines[0].startswith("Invalid Node -"):
        # The banner only repeats the node name; the reason is on the next line.
        message = "\n".join(lines[1:])
    if message in ("", "false"):
        # The parser's description is often just "false": say which check failed.
        message = f"The parser's check {err.get('func') or '?'} rejected this {err.get('op_type') or 'node'}."
    tensors: list[str] = []
    op_type: str | None
    if i is not None:
        node = index.nodes[i]
        op_type = node.op_type
        tensors = [
            t
            for pos in CONSTANT_INPUTS.get(node.op_type, ())
            if pos < len(node.input) and (t := node.input[pos])
        ]
    else:
        op_type = err.get("op_type") or None
    return DiagnosticError(
        stage="parse",
        node_name=index.node_label(i) if i is not None else (err.get("node_name") or None),
        node_index=i
        if i is not None
        else (err.get("node_index") if (err.get("node_index") or -1) >= 0 else None),
        op_type=op_type,
        code=err.get("code"),
        message=message,
        func=err.get("func") or None,
        node=node_context(index, i) if i is not None else None,
        tensors=tensors,
    )


_ERROR_CODE = re.compile(r"Error Code (\d+): ([^(]+?) \(")


def build_error(message: str, index: GraphIndex, model: LoadedModel) -> DiagnosticError:
    """Map a builder error to the node (or input) it names, when it names one."""
    text = clean_message(message)
    code_match = _ERROR_CODE.search(text)
    code = f"{code_match.group(1)}: {code_match.group(2).strip()}" if code_match else None
    detail = text
    inner = re.search(r"\((.*)\)\s*$", text, re.S)
    if inner and code_match:
        detail = re.sub(r"\s*In \w+ at \S+\s*$", "", inner.group(1)).strip()
    best: int | None = None
    for name, i in index.by_name.items():
        if name and name in text and (best is None or len(name) > len(index.nodes[best].name)):
            best = i
    tensors: list[str] = []
    dim_match = re.match(r"\s*(\S+): Input dimensions with this name", detail)
    if dim_match:
        dim = dim_match.group(1)
        summary = summarize(model)
        tensors = [t.name for t in summary.inputs if t.shape and dim in t.shape]
    return DiagnosticError(
        stage="build",
        node_name=index.node_label(best) if best is not None else None,
        node_index=best,
        op_type=index.nodes[best].op_type if best is not None else None,
        code=code,
        message=detail,
        node=node_context(index, best) if best is not None else None,
        tensors=tensors,
    )


def _last_log_line(log: str) -> str:
    lines = [ln for ln in log.splitlines() if ln.strip()]
    return lines[-1][:400] if lines else ""


def _node_support(
    ranges: list[dict[str, Any]] | None, parse_errors: list[dict[str, Any]], index: GraphIndex
) -> list[NodeSupport] | None:
    if ranges is None:
        return None
    status = ["blocked"] * len(index.nodes)
    for r in ranges:
        if r["supported"]:
            for n in r["nodes"]:
                if 0 <= n < len(status):
                    status[n] = "supported"
    if not ranges:  # supports_model_v2 reports no subgraphs when everything is supported
        status = ["supported"] * len(index.nodes)
    for err in parse_errors:
        i = index.find_node(err.get("node_name"), err.get("node_index"), err.get("op_type"))
        if i is not None:
            status[i] = "unsupported"
    return [
        NodeSupport(index=i, name=index.node_label(i), op_type=n.op_type, status=status[i])
        for i, n in enumerate(index.nodes)
    ]


# ----------------------------------------------------------------------------- ONNX-level checks


def onnx_errors(model: LoadedModel, index: GraphIndex) -> list[DiagnosticError]:
    errors = []
    if model.checker_error:
        errors.append(
            DiagnosticError(
                stage="onnx",
                node_name=None,
                node_index=None,
                op_type=None,
                code="CHECKER",
                message=f"ONNX checker: {model.checker_error}",
            )
        )
    if model.shape_inference_error:
        errors.append(
            DiagnosticError(
                stage="onnx",
                node_name=None,
                node_index=None,
                op_type=None,
                code="SHAPE_INFERENCE",
                message=f"ONNX shape inference: {model.shape_inference_error}",
            )
        )
    return errors


@dataclass
class _GraphFacts:
    """What every ONNX check reads: the model, its graph, its summary and the graph index."""

    proto: onnx.ModelProto
    graph: onnx.GraphProto
    summary: ModelSummary
    index: GraphIndex


#: The ONNX-level checks, in the order their findings are listed; each is small and
#: independent (add one: a function below and its entry here).
_ONNX_CHECKS: list[Callable[[_GraphFacts], list[Finding]]] = []


def _onnx_check(check: Callable[[_GraphFacts], list[Finding]]) -> Callable[[_GraphFacts], list[Finding]]:
    _ONNX_CHECKS.append(check)
    return check


def onnx_findings(model: LoadedModel, index: GraphIndex) -> list[Finding]:
    """What the ONNX graph says that the parser explains badly or not at all."""
    facts = _GraphFacts(model.proto, model.proto.graph, summarize(model), index)
    return [finding for check in _ONNX_CHECKS for finding in check(facts)]


@_onnx_check
def _check_versions(facts: _GraphFacts) -> list[Finding]:
    """Opset and IR versions newer than this onnx package knows: no parser will know them either."""
    proto = facts.proto
    summary = facts.summary
    findings: list[Finding] = []
    latest = onnx.defs.onnx_opset_version()
    default_opset = summary.opsets.get("ai.onnx")
    if default_opset is not None and default_opset > latest:
        findings.append(
            Finding(
                kind="opset-too-new",
                severity="warning",
                message=f"Opset {default_opset} is newer than this onnx package knows ({latest}); the parser may not import it.",
                fixes=[],
            )
        )
    if default_opset is not None and default_opset < 7:
        findings.append(
            Finding(
                kind="opset-too-old",
                severity="warning",
                message=f"Opset {default_opset} predates opset 7's broadcasting rules, which TensorRT does not support.",
            )
        )
    if proto.ir_version > onnx.IR_VERSION:
        findings.append(
            Finding(
                kind="ir-newer-than-parser",
                severity="warning",
                message=f"IR version {proto.ir_version} is newer than this onnx package's ({onnx.IR_VERSION}).",
            )
        )
    return findings


@_onnx_check
def _check_dtypes(facts: _GraphFacts) -> list[Finding]:
    """Dtypes TensorRT has no type for."""
    graph = facts.graph
    summary = facts.summary
    index = facts.index
    findings: list[Finding] = []
    for t in summary.inputs:
        if t.dtype in TENSORRT_UNSUPPORTED_DTYPES:
            consumers = [index.nodes[c] for c in index.consumers.get(t.name, [])]
            only_casts = consumers and all(n.op_type == "Cast" for n in consumers)
            if t.dtype == "uint8" and only_casts:
                severity, note = (
                    "info",
                    "TensorRT takes a uint8 input only straight into a Cast, which is the case here.",
                )
            else:
                severity, note = (
                    "warning",
                    "TensorRT has no such input type (uint8 only straight into a Cast).",
                )
            findings.append(
                Finding(
                    kind="unsupported-input-dtype",
                    severity=severity,
                    message=f"Input {t.name!r} is {t.dtype}. {note}",
                    tensors=[t.name],
                    nodes=[index.node_label(c) for c in index.consumers.get(t.name, [])],
                )
            )
    for t in summary.outputs:
        if t.dtype in TENSORRT_UNSUPPORTED_DTYPES - {"uint8"}:
            findings.append(
                Finding(
                    kind="unsupported-output-dtype",
                    severity="warning",
                    message=f"Output {t.name!r} is {t.dtype}, which TensorRT cannot produce.",
                    tensors=[t.name],
                )
            )
    float64 = [init.name for init in graph.initializer if init.data_type == onnx.TensorProto.DOUBLE]
    float64 += [
        n.output[0]
        for n in graph.node
        if n.op_type == "Constant"
        and any(a.t.data_type == onnx.TensorProto.DOUBLE for a in n.attribute if a.HasField("t"))
    ]
    if float64:
        findings.append(
            Finding(
                kind="float64-initializers",
                severity="warning",
                message=f"{len(float64)} float64 tensor(s) ({', '.join(float64[:4])}{'…' if len(float64) > 4 else ''}): TensorRT casts them to FP32 (older parsers reject them), so it does not compute what the model says.",
                tensors=float64,
            )
        )
    other = sorted(
        {onnx_dtype_name(init.data_type) for init in graph.initializer}
        & (TENSORRT_UNSUPPORTED_DTYPES - {"float64", "uint8"})
    )
    if other:
        findings.append(
            Finding(
                kind="unsupported-initializer-dtype",
                severity="warning",
                message=f"Initializers of type {', '.join(other)}, which TensorRT has no type for.",
            )
        )
    int64_big = []
    for init in graph.initializer:
        if init.data_type == onnx.TensorProto.INT64 and _int64_out_of_int32(init):
            int64_big.append(init.name)
    if int64_big:
        findings.append(
            Finding(
                kind="int64-out-of-int32-range",
                severity="info",
                message=f"{len(int64_big)} INT64 initializer(s) hold values outside INT32 ({', '.join(int64_big[:4])}); TensorRT 8.x clamps them with a warning, TensorRT 10 keeps INT64.",
                tensors=int64_big,
            )
        )
    return findings


@_onnx_check
def _check_domains(facts: _GraphFacts) -> list[Finding]:
    """Custom and training domains."""
    graph = facts.graph
    index = facts.index
    findings: list[Finding] = []
    custom_nodes = [(i, n) for i, n in enumerate(graph.node) if (n.domain or "") not in STANDARD_DOMAINS]
    if custom_nodes:
        ops = sorted({op_key(n) for _, n in custom_nodes})
        findings.append(
            Finding(
                kind="custom-domain",
                severity="warning",
                message=f"Custom-domain ops {', '.join(ops)}: TensorRT needs a plugin for each, or a rewrite into standard ops.",
                nodes=[index.node_label(i) for i, _ in custom_nodes],
            )
        )
    training = [
        i
        for i, n in enumerate(graph.node)
        if n.domain in TRAINING_DOMAINS or (n.op_type == "Dropout" and not n.domain)
    ]
    if training:
        findings.append(
            Finding(
                kind="training-nodes",
                severity="info",
                message=f"{len(training)} training-only node(s) (Dropout, training ops): inference engines do not need them.",
                nodes=[index.node_label(i) for i in training],
            )
        )
    return findings


@_onnx_check
def _check_dynamic_quantization(facts: _GraphFacts) -> list[Finding]:
    """ONNX Runtime's dynamic quantization has no TensorRT form."""
    graph = facts.graph
    index = facts.index
    findings: list[Finding] = []
    dynamic_q = [i for i, n in enumerate(graph.node) if n.op_type in DYNAMIC_QUANTIZATION_OPS]
    if dynamic_q:
        ops = sorted({graph.node[i].op_type for i in dynamic_q})
        findings.append(
            Finding(
                kind="dynamic-quantization",
                severity="warning",
                message=f"ONNX Runtime dynamic quantization ({', '.join(ops)}) has no TensorRT form: start from the float "
                "model and quantize it with Q/DQ nodes (an INT8 build does this with calibration).",
                nodes=[index.node_label(i) for i in dynamic_q],
            )
        )
    return findings


@_onnx_check
def _check_int32_dequantize(facts: _GraphFacts) -> list[Finding]:
    """ONNX Runtime's quantize_static stores biases as int32 behind a DequantizeLinear."""
    graph = facts.graph
    index = facts.index
    findings: list[Finding] = []
    from workbench.fixes.dtypes import int32_dequantize_outputs

    int32_dq = int32_dequantize_outputs(graph)
    if int32_dq:
        findings.append(
            Finding(
                kind="int32-dequantize",
                severity="warning",
                message=f"{len(int32_dq)} DequantizeLinear node(s) dequantize INT32 constants "
                f"({', '.join(int32_dq[:3])}{'…' if len(int32_dq) > 3 else ''}): biases as ONNX Runtime's "
                "quantize_static stores them. TensorRT's DequantizeLinear takes only 8-bit (and FP8/FP4/INT4) "
                "inputs, so the parser rejects them; as float32 biases TensorRT takes them.",
                nodes=[index.node_label(index.producer[t]) for t in int32_dq if t in index.producer],
                tensors=int32_dq,
            )
        )
    return findings


@_onnx_check
def _check_dynamic_dims(facts: _GraphFacts) -> list[Finding]:
    """Dynamic dims and shared dim names."""
    summary = facts.summary
    findings: list[Finding] = []
    if summary.dynamic_dims:
        unknown_rank = sorted({d.input for d in summary.dynamic_dims if d.axis is None})
        if unknown_rank:
            findings.append(
                Finding(
                    kind="unknown-input-rank",
                    severity="error",
                    message=f"Input(s) {', '.join(unknown_rank)} declare no shape at all: TensorRT needs at least the rank.",
                    tensors=unknown_rank,
                )
            )
        dims = [d for d in summary.dynamic_dims if d.axis is not None]
        if dims:
            text = ", ".join(f"{d.input}[{d.axis}]" + (f"={d.name}" if d.name else "") for d in dims)
            findings.append(
                Finding(
                    kind="dynamic-dims",
                    severity="info",
                    message=f"Dynamic dims {text}{_NEEDS_PROFILE}",
                    tensors=sorted({d.input for d in dims}),
                )
            )
    for name, shared in summary.shared_dim_names.items():
        findings.append(
            Finding(
                kind="shared-dim-names",
                severity="warning",
                message=f"Input {name!r} names several axes {', '.join(shared)}: TensorRT requires those axes to be equal at every shape, "
                "so the first shape where they differ fails to build, even if the default all-1 profile builds.",
                tensors=[name],
            )
        )
    return findings


@_onnx_check
def _check_if_nodes(facts: _GraphFacts) -> list[Finding]:
    """If nodes: TensorRT builds both branches; a condition that depends on an input can fail in the builder, and one that depends only on constants should be folded away."""
    graph = facts.graph
    index = facts.index
    findings: list[Finding] = []
    for i, node in enumerate(graph.node):
        if node.op_type != "If" or not node.input:
            continue
        cond = node.input[0]
        if index.is_constant(cond):
            continue
        _, inputs = index.ancestors(cond)
        if inputs:
            findings.append(
                Finding(
                    kind="data-dependent-if",
                    severity="warning",
                    message=f"If {index.node_label(i)!r} branches on input(s) {', '.join(sorted(inputs))}: TensorRT builds it as a "
                    "conditional, which can fail in the builder. If the input is fixed where you deploy, give it a value "
                    f"(--input-value {sorted(inputs)[0]}=...) and fold the If away.",
                    nodes=[index.node_label(i)],
                    tensors=sorted(inputs),
                )
            )
        else:
            findings.append(
                Finding(
                    kind="foldable-if",
                    severity="warning",
                    message=f"If {index.node_label(i)!r} branches on a value computed from constants: folding removes it.",
                    nodes=[index.node_label(i)],
                    tensors=[cond],
                )
            )
    return findings


@_onnx_check
def _check_constant_inputs(facts: _GraphFacts) -> list[Finding]:
    """Inputs TensorRT needs constant but that are computed at run time."""
    graph = facts.graph
    index = facts.index
    findings: list[Finding] = []
    for i, node in enumerate(graph.node):
        for pos in CONSTANT_INPUTS.get(node.op_type, ()):
            if pos >= len(node.input) or not node.input[pos] or index.is_constant(node.input[pos]):
                continue
            tensor = node.input[pos]
            _, inputs = index.ancestors(tensor)
            if tensor in index.graph_input_names:
                how, kind = "is a graph input", "runtime-constant-input"
            elif inputs:
                how, kind = (
                    f"is computed from graph input(s) {', '.join(sorted(inputs))}",
                    "runtime-computed-constant",
                )
            else:
                how, kind = "is computed by a subgraph of constants (foldable)", "foldable-constant-input"
            findings.append(
                Finding(
                    kind=kind,
                    severity="warning",
                    message=f"{node.op_type} {index.node_label(i)!r} input {pos} ({tensor}) {how}; TensorRT needs it as a build-time constant.",
                    nodes=[index.node_label(i)],
                    tensors=[tensor],
                )
            )
    return findings


def _int64_out_of_int32(init: onnx.TensorProto) -> bool:
    if init.data_location == onnx.TensorProto.EXTERNAL:
        return False
    from onnx import numpy_helper

    array = numpy_helper.to_array(init)
    if array.size == 0 or array.size > 1_000_000:
        return False
    return bool((array > 2**31 - 1).any() or (array < -(2**31)).any())


# ----------------------------------------------------------------------------- suggestions


def rank_fixes(
    diagnosis: Diagnosis, model: LoadedModel, index: GraphIndex | None = None, fix_options: Any = None
) -> Diagnosis:
    """Attach to every error and finding the fixes that answer it, best first."""
    from workbench.fixes import FixContext, FixOptions, suggest

    if fix_options is None:
        profile = diagnosis.profile or {"shapes": {}, "assumed": []}
        fix_options = FixOptions(
            shapes={k: v for k, v in profile["shapes"].items() if k not in profile["assumed"]}
        )
    index = index or GraphIndex.build(
        model.proto.graph, model.inferred.graph if model.inferred is not None else None
    )
    ctx = FixContext(
        model=model.proto, index=index, options=fix_options or FixOptions(), issues=diagnosis.issues
    )
    for issue in diagnosis.issues:
        if getattr(issue, "resolved", False):
            issue.fixes = []
            continue
        issue.fixes = [fix.id for fix, _ in suggest(issue, ctx)]
    return diagnosis
