"""Engines page: real TensorRT engines, read from the files ``trtexec`` exports on a GPU machine.

Upload the exports (several files, or a .zip) or name a folder or zip on the server; pick
engines; see each engine's latency, layer times, precisions and tactics, mapped to the
session's ONNX model when there is one; and several engines side by side: where an INT8
engine loses to FP16, what fused differently, what reformats and Q/DQ cost.

What the page holds lives in ``st.session_state["trt_workbench_engines"]`` (one
:class:`EngineState`); the reports and comparisons are also saved in the session's
workspace as the result kinds ``engine_reports`` and ``engine_comparisons`` (the kinds
``trt-workbench engine show/compare -o WORKSPACE`` writes), where the report finds them.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from workbench.engine_report import (
    SUFFIXES,
    EngineComparison,
    EngineReport,
    OnnxMapping,
    compare_engines,
    compare_json,
    map_to_onnx,
    short_stem,
    show_json,
    summary_json,
)
from workbench.errors import WorkbenchError
from workbench.plots import (
    engine_compare_figure,
    engine_latency_figure,
    engine_layer_time_figure,
    engine_precision_mix_figure,
    engine_type_time_figure,
)
from workbench.server_paths import (
    ROOTS_ENV,
    configured_roots,
    listen_address,
    may_open,
    refusal,
    server_paths_enabled,
)
from workbench.ui.cache import engine_exports
from workbench.ui.state import Session, session
from workbench.workspace import Workspace

if TYPE_CHECKING:
    from workbench.model import LoadedModel

#: The one ``st.session_state`` key of this page (the workbench's Session has no engine field).
STATE_KEY = "trt_workbench_engines"
#: Folders the server-path field may open, ``os.pathsep``-separated; unset: any (a local tool).
#: Where uploads are kept in the session's workspace, one folder per upload batch.
UPLOADS_DIR = "engine_exports"
_PICK = "engines_pick"
_SUFFIX_ORDER = sorted(SUFFIXES.items(), key=lambda item: -len(item[1]))
_PRIMARY = ("graph", "profile", "timing", None)


@dataclass
class EngineState:
    """The engines loaded in this browser session, and what has been worked out from them."""

    #: label -> report, in load order (labels are unique).
    reports: dict[str, EngineReport] = field(default_factory=dict)
    #: label -> where it came from ("upload: a.zip", "path: /data/exports").
    sources: dict[str, str] = field(default_factory=dict)
    #: The last load error, shown under the load controls.
    error: str | None = None
    #: The upload batch last processed (file ids), so a rerun does not load it again.
    last_upload: tuple[str, ...] | None = None
    #: (labels..., model hash or "") -> comparison; (label, model hash) -> mapping. Cleared on load.
    comparisons: dict[tuple[str, ...], EngineComparison] = field(default_factory=dict)
    mappings: dict[tuple[str, str], OnnxMapping] = field(default_factory=dict)
    #: A load changed the engines: the selection starts over with all of them.
    reset_pick: bool = False


def engine_state() -> EngineState:
    # This file also runs as a page script (a fresh ``__main__`` on every rerun): take the
    # class from the imported module so the object kept in the session keeps one type.
    from workbench.ui import engines_page as stable

    value = st.session_state.get(STATE_KEY)
    if not isinstance(value, stable.EngineState):
        value = stable.EngineState()
        st.session_state[STATE_KEY] = value
    return value


# ----------------------------------------------------------------------------- server paths


def not_openable(text: str) -> str:
    """The one sentence for a server path that is missing or that this server may not open."""
    return refusal(text, "any").message


def _export_files(folder: Path, recursive: bool) -> list[Path]:
    found = folder.rglob("*.json") if recursive else folder.glob("*.json")
    return sorted(p for p in found if p.is_file() and p.name.endswith(tuple(SUFFIXES.values())))


def _digest(kind: str, name: str, items: Iterable[tuple[str, bytes]]) -> str:
    h = hashlib.sha256(f"{kind}\0{name}\0".encode())
    for rel, data in items:
        h.update(f"{rel}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def _path_digest(path: Path) -> tuple[str, Path]:
    """The content hash of what loading ``path`` reads (names and layout included, since
    labels come from them), and the folder the reports' file paths are relative to."""
    if path.is_dir():
        files = _export_files(path, recursive=True)
        return _digest("folder", path.name, ((f.relative_to(path).as_posix(), f.read_bytes()) for f in files)), path
    if path.suffix.lower() == ".zip":
        return _digest("zip", path.name, [("", path.read_bytes())]), path.parent
    files = _export_files(path.parent, recursive=False)
    if path not in files:
        files.append(path)
    return _digest(f"file {path.name}", path.parent.name, ((f.name, f.read_bytes()) for f in files)), path.parent


def _reroot(reports: list[EngineReport], base: Path) -> None:
    for report in reports:
        report.files = {k: v if os.path.isabs(v) else f"{base}/{v}" for k, v in report.files.items()}


def _file_of(value: str) -> Path:
    return Path(value.split("!", 1)[0])  # "x.zip!member" names the zip


def load_server_path(text: str, workspace: Workspace) -> list[EngineReport]:
    """Engine reports from a folder, zip or export file on the server, within the allowed roots."""
    text = text.strip()
    path = Path(text).expanduser()
    address = listen_address()
    if not text or not may_open(path, workspace=workspace, address=address):
        raise WorkbenchError(not_openable(text))
    path = path.resolve()
    try:
        digest, base = _path_digest(path)
    except OSError as exc:
        raise WorkbenchError(f"{text} cannot be read: {exc.strerror or exc}.") from exc
    reports = engine_exports(digest, (str(path),), str(base))
    _reroot(reports, base)
    # A link inside an allowed folder may point anywhere: every file read must pass too.
    for report in reports:
        if not all(
            may_open(_file_of(v), workspace=workspace, address=address, contents=False) for v in report.files.values()
        ):
            raise WorkbenchError(not_openable(text))
    return reports


# ----------------------------------------------------------------------------- uploads


def _stem_and_kind(name: str) -> tuple[str, str | None]:
    for kind, suffix in _SUFFIX_ORDER:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], kind
    return name.rsplit(".", 1)[0] or name, None


def _safe_name(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch if ch.isprintable() else "_" for ch in base).strip().lstrip(".")
    return base or "upload.json"


def upload_layout(files: list[tuple[str, bytes]]) -> tuple[list[tuple[str, bytes]], list[str], dict[str, str]]:
    """Where an upload batch goes in its folder, and what to load from there.

    Loose files go one folder per engine (named by the engine's file stem, so the folder
    names the engine as ``load_engine_exports`` labels it, and siblings sit together);
    zips stay whole. Returns (relative path, bytes) to write, the relative paths to load,
    and relative path -> uploaded name (for messages).
    """
    groups: dict[str, dict[str | None, tuple[str, bytes]]] = {}
    zips: list[tuple[str, bytes]] = []
    names: dict[str, str] = {}
    for name, data in files:
        safe = _safe_name(name)
        if safe.lower().endswith(".zip"):
            rel = safe
            while rel in names:
                rel = "_" + rel
            zips.append((rel, data))
            names[rel] = name
            continue
        stem, kind = _stem_and_kind(safe)
        folder = short_stem(stem) or "engine"
        key, n = folder, 1
        while kind in groups.get(key, {}) or key in names:
            n += 1
            key = f"{folder}-{n}"
        groups.setdefault(key, {})[kind] = (safe, data)
        names[f"{key}/{safe}"] = name
    layout = [(f"{key}/{safe}", data) for key, group in groups.items() for safe, data in group.values()]
    layout += zips
    sources = []
    for key, group in groups.items():
        primary = next((group[k] for k in _PRIMARY if k in group), None)
        if primary is not None:
            sources.append(f"{key}/{primary[0]}")
    if not sources and not zips:  # metadata files only: let the loader say what they are
        sources = [rel for rel, _ in layout[:1]]
    sources += [rel for rel, _ in zips]
    return layout, sources, names


def load_upload(files: list[tuple[str, bytes]], workspace: Workspace) -> list[EngineReport]:
    """Engine reports from uploaded exports, kept in ``<workspace>/engine_exports/<hash>/``.

    The batch is written to a staging folder first and moved into place only once it
    loads, so a bad upload leaves nothing behind.
    """
    layout, sources, names = upload_layout(files)
    digest = _digest("upload", "", sorted(layout))
    final = workspace.root / UPLOADS_DIR / digest[:16]
    if final.is_dir():
        reports = engine_exports(digest, tuple(str(final / s) for s in sources), str(final))
    else:
        with workspace.staging_dir() as stage:
            batch = stage / "batch"
            try:
                for rel, data in layout:
                    target = batch / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
            except OSError as exc:
                raise WorkbenchError(f"The upload cannot be saved in the workspace: {exc.strerror or exc}.") from exc
            try:
                reports = engine_exports(digest, tuple(str(batch / s) for s in sources), str(batch))
            except WorkbenchError as exc:
                message = exc.message
                for rel in sorted(names, key=len, reverse=True):
                    message = message.replace(str(batch / rel), names[rel])
                raise WorkbenchError(message.replace(str(batch) + "/", ""), detail=exc.detail) from exc
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(batch, final)
    _reroot(reports, final)
    return reports


# ----------------------------------------------------------------------------- state


def add_reports(state: EngineState, reports: list[EngineReport], source: str, workspace: Workspace) -> None:
    """Keep ``reports`` beside those loaded before (same files: replaced; same label: renamed)
    and save each in the workspace (kind ``engine_reports``) for the report."""
    for report in reports:
        same = next((label for label, old in state.reports.items() if old.files == report.files), None)
        if same is not None:
            report.label = same
        else:
            base, n = report.label, 1
            while report.label in state.reports:
                n += 1
                report.label = f"{base}-{n}"
        state.reports[report.label] = report
        state.sources[report.label] = source
        workspace.save_result("engine_reports", report, label=report.label)
    state.comparisons.clear()
    state.mappings.clear()
    state.error = None
    state.reset_pick = True


def comparison_for(
    state: EngineState, labels: list[str], workspace: Workspace, model: LoadedModel | None = None
) -> EngineComparison:
    """The comparison of the engines ``labels`` (in that order), worked out once per
    selection and saved in the workspace (kind ``engine_comparisons``)."""
    key = (*labels, model.content_hash if model is not None else "")
    if key not in state.comparisons:
        comparison = compare_engines([state.reports[label] for label in labels], onnx_nodes=model)
        workspace.save_result("engine_comparisons", comparison, label=" vs ".join(labels))
        state.comparisons[key] = comparison
    return state.comparisons[key]


def mapping_for(state: EngineState, label: str, model: LoadedModel) -> OnnxMapping:
    key = (label, model.content_hash)
    if key not in state.mappings:
        state.mappings[key] = map_to_onnx(state.reports[label], model)
    return state.mappings[key]


# ----------------------------------------------------------------------------- loading controls


def _pick_upload(sess: Session, state: EngineState) -> None:
    uploads = st.file_uploader(
        "Upload trtexec exports: the files of one or more engines (X.engine.graph.json, X.engine.profile.json, "
        "X.engine.timing.json, metadata), or a .zip of their folders",
        type=["json", "zip"],
        accept_multiple_files=True,
        key="engines_upload",
    )
    if not uploads:
        return
    marker = tuple(u.file_id for u in uploads)
    if state.last_upload == marker:
        return
    state.last_upload = marker
    names = ", ".join(u.name for u in uploads)
    with st.spinner(f"Reading {names}…"):
        try:
            reports = load_upload([(u.name, u.getvalue()) for u in uploads], sess.workspace)
        except WorkbenchError as exc:
            state.error = exc.message
            return
    add_reports(state, reports, f"upload: {names}", sess.workspace)


def _pick_path(sess: Session, state: EngineState) -> None:
    roots = configured_roots()
    if not server_paths_enabled(listen_address()):
        roots = []
    with st.form("engines_path_form"):
        text = st.text_input(
            "…or a folder or .zip on the server (every *.engine.graph.json under it is one engine)",
            key="engines_path",
            disabled=roots == [],
        )
        submitted = st.form_submit_button("Load", key="engines_path_load", disabled=roots == [])
    if roots == []:
        st.caption(
            f"Server paths are off on this server: it listens beyond localhost or {ROOTS_ENV} names no folder."
        )
    elif roots is not None:
        st.caption("Server paths may be under: " + ", ".join(f"`{r}`" for r in roots))
    if submitted and text.strip():
        with st.spinner(f"Reading {text}…"):
            try:
                reports = load_server_path(text, sess.workspace)
            except WorkbenchError as exc:
                state.error = exc.message
                return
        add_reports(state, reports, f"path: {text.strip()}", sess.workspace)


# ----------------------------------------------------------------------------- one engine


def _ms(value: float | None) -> str:
    return f"{value:.4f}" if value is not None else "—"


def _mix(counts: dict[str, int]) -> str:
    return " · ".join(f"{k} {v}" for k, v in counts.items()) or "unknown"


def layer_rows(report: EngineReport) -> list[dict[str, Any]]:
    """The layer table: the same fields as ``trt-workbench engine show --json``'s layers."""
    return [
        {
            "name": layer.name,
            "type": layer.type_label,
            "precision": layer.precision,
            "avg_ms": layer.avg_ms,
            "percent": layer.percent,
            "tactic": layer.tactic,
            "onnx_nodes": ", ".join(layer.onnx_nodes),
            "reformat": layer.is_reformat,
        }
        for layer in report.layers
    ]


def _engine_view(sess: Session, state: EngineState, report: EngineReport) -> None:
    label = report.label
    st.subheader(label)
    st.caption(f"{report.backend} · {state.sources.get(label, '')}")
    d = report.device
    device = ", ".join(
        x
        for x in [
            d.name or "device not recorded",
            f"compute capability {d.compute_capability}" if d.compute_capability else "",
            f"{d.sms} SMs" if d.sms else "",
            f"{d.memory_mib:.0f} MiB" if d.memory_mib else "",
        ]
        if x
    )
    batch = f"batch {report.batch} ({report.batch_source})" if report.batch else "batch not recorded"
    built = report.build_options.get("Precision") or report.requested_precision or "not recorded"
    st.markdown(f"**Device:** {device}  \n**Batch:** {batch}  \n**Built for:** {built}")
    lat = report.latency_ms
    cols = st.columns(6)
    cols[0].metric(
        "Layer sum, ms",
        _ms(report.total_ms),
        help="Sum of the per-layer averages of the profiled run (--exportProfile)",
    )
    cols[1].metric("Median latency, ms", _ms(lat.median if lat else None), help=report.latency_source or None)
    cols[2].metric("p99 latency, ms", _ms(lat.p99 if lat else None), help=report.latency_source or None)
    cols[3].metric(
        "Inferences/s",
        f"{report.throughput:.1f}" if report.throughput is not None else "—",
        help=report.throughput_source or None,
    )
    cols[4].metric("Layers", str(len(report.layers)))
    cols[5].metric("Reformat ms", f"{report.reformat_ms:.4f}", help=f"of which Q/DQ {report.qdq_ms:.4f} ms")
    latency_note = str(summary_json(report)["latency_note"])
    st.caption(
        f"All numbers: {report.backend}. Latency: {report.latency_source or 'no timing export'}; throughput: "
        f"{report.throughput_source or 'not recorded'}"
        + (f", {report.samples_per_second:.0f} samples/s at batch {report.batch}" if report.samples_per_second else "")
        + f". {latency_note}"
    )
    st.markdown(
        f"**Precision mix (layers):** {_mix(report.precision_counts)}  \n"
        f"**Compute layers:** {_mix(report.compute_precision_counts)}"
    )
    for warning in report.warnings:
        st.warning(warning)
    if report.missing:
        st.caption("Not in the exports: " + "; ".join(report.missing) + ".")
    for note in report.notes:
        if note != latency_note:
            st.caption(note)
    st.dataframe(
        layer_rows(report),
        hide_index=True,
        width="stretch",
        column_config={
            "avg_ms": st.column_config.NumberColumn("avg ms", format="%.4f", help="--exportProfile average"),
            "percent": st.column_config.NumberColumn("% of layer time", format="%.1f"),
            "onnx_nodes": st.column_config.TextColumn("ONNX nodes"),
            "reformat": st.column_config.CheckboxColumn("reformat"),
        },
        key=f"engines_layers_table_{label}",
    )
    st.plotly_chart(engine_layer_time_figure(report), width="stretch", key=f"engines_layers_{label}")
    st.download_button(
        "Download as JSON (same as `trt-workbench engine show --json`)",
        json.dumps(show_json(report), indent=1),
        file_name=f"{label}.engine.json",
        mime="application/json",
        key=f"engines_json_{label}",
    )
    if sess.model is not None:
        _mapping_view(state, report, sess.model)


def _mapping_view(state: EngineState, report: EngineReport, model: LoadedModel) -> None:
    mapping = mapping_for(state, report.label, model)
    st.markdown(f"#### {report.label} mapped to {model.name} (the session's ONNX model)")
    matched = sum(1 for layer in mapping.layers if layer.nodes)
    if not matched:
        st.info(
            f"No layer of {report.label} names a node of {model.name}: the engine was built from another model "
            f"({report.model or 'not recorded'}). Open that model on the Model page to map it."
        )
        return
    cols = st.columns(5)
    cols[0].metric("Layers matched", f"{matched} of {len(mapping.layers)}")
    cols[1].metric("Layers matching no node", str(len(mapping.unmatched_layers)))
    cols[2].metric("ONNX nodes in a layer", f"{len(mapping.node_layers)} of {mapping.model_nodes}")
    cols[3].metric("Nodes in no layer", str(len(mapping.uncovered_nodes)))
    cols[4].metric("Absorbed into a fused kernel", str(len(mapping.absorbed_nodes)))
    ops = {n.name: n.op_type for n in model.proto.graph.node}
    st.dataframe(
        [
            {
                "node": node,
                "op": ops.get(node, ""),
                "ms": mapping.node_ms.get(node),
                "precision": mapping.node_precision.get(node, ""),
                "layers": " | ".join(layers),
            }
            for node, layers in mapping.node_layers.items()
        ],
        hide_index=True,
        width="stretch",
        column_config={"ms": st.column_config.NumberColumn("ms (share of its layer)", format="%.4f")},
        key=f"engines_mapping_{report.label}",
    )
    st.caption(f"{report.backend}. {mapping.note}")


# ----------------------------------------------------------------------------- several engines


def summary_rows(comparison: EngineComparison) -> list[dict[str, Any]]:
    rows = []
    for e in comparison.engines:
        lat = e.latency_ms
        rows.append(
            {
                "engine": e.label,
                "device": e.device,
                "batch": e.batch,
                "layers": e.layers,
                "layer ms": e.total_ms,
                "median ms": lat.median if lat else None,
                "p99 ms": lat.p99 if lat else None,
                "inferences/s": e.throughput,
                "reformat ms": e.reformat_ms,
                "Q/DQ ms": e.qdq_ms,
                "precision": e.dominant_precision,
                "precision mix": _mix(e.precision_counts),
                "warnings": " | ".join(e.warnings),
            }
        )
    return rows


def comparison_rows(comparison: EngineComparison) -> list[dict[str, Any]]:
    """One row per matched layer, in the comparison's order (slower than the reference first)."""
    slower = set(comparison.slower_than_reference)
    out = []
    for row in comparison.rows:
        entry: dict[str, Any] = {"key": row.key, "kind": row.kind}
        if comparison.reference:
            entry[f"slower than {comparison.reference}"] = row.key in slower
        for label, cell in zip(comparison.labels, row.per_engine):
            entry[f"{label} ms"] = cell.avg_ms if cell is not None else None
            entry[f"{label} precision"] = cell.precision if cell is not None else ""
        entry["note"] = row.note
        entry["onnx nodes"] = ", ".join(row.onnx_nodes)
        entry["matched by"] = row.matched_by
        out.append(entry)
    return out


def _comparison_view(sess: Session, state: EngineState, labels: list[str]) -> None:
    st.header(f"Comparison: {' vs '.join(labels)}")
    model = None
    if sess.model is not None:
        align = st.toggle(
            f"Line the engines up by the nodes of {sess.model.name} (only when they were built from it)",
            key="engines_align_onnx",
        )
        model = sess.model if align else None
    comparison = comparison_for(state, labels, sess.workspace, model)
    reports = [state.reports[label] for label in labels]
    backends = sorted({r.backend for r in reports})
    st.caption("All numbers: " + "; ".join(backends) + ".")
    st.dataframe(
        summary_rows(comparison),
        hide_index=True,
        width="stretch",
        column_config={
            k: st.column_config.NumberColumn(k, format="%.4f")
            for k in ("layer ms", "median ms", "p99 ms", "reformat ms", "Q/DQ ms")
        },
        key="engines_compare_summary",
    )
    st.caption(str(summary_json(reports[0])["latency_note"]))
    st.plotly_chart(engine_compare_figure(comparison), width="stretch", key="engines_compare")
    left, right = st.columns(2)
    left.plotly_chart(engine_type_time_figure(comparison), width="stretch", key="engines_type_time")
    right.plotly_chart(engine_latency_figure(reports), width="stretch", key="engines_latency")
    st.plotly_chart(engine_precision_mix_figure(reports), width="stretch", key="engines_precision_mix")
    st.subheader("Layer by layer")
    if comparison.slower_than_reference:
        st.markdown(
            f"**{len(comparison.slower_than_reference)} rows** where a quantized engine is slower than "
            f"**{comparison.reference}** come first, the largest excess first."
        )
    st.dataframe(
        comparison_rows(comparison),
        hide_index=True,
        width="stretch",
        column_config={f"{label} ms": st.column_config.NumberColumn(format="%.4f") for label in labels},
        key="engines_compare_rows",
    )
    for note in comparison.notes:
        st.caption(note)
    st.subheader("Fused differently")
    if comparison.fused_differently:
        st.dataframe(
            [
                {
                    "ONNX nodes": " + ".join(f.nodes),
                    **{f"{label} layers": " | ".join(ls) for label, ls in zip(labels, f.layers_per_engine)},
                }
                for f in comparison.fused_differently
            ],
            hide_index=True,
            width="stretch",
            key="engines_fused",
        )
    else:
        st.caption("No set of ONNX nodes is one layer in one engine and several in another.")
    graphs = [state.reports[label].files.get("graph") or next(iter(state.reports[label].files.values()), "")
              for label in labels]
    st.caption("The same from the command line: `trt-workbench engine compare " + " ".join(graphs) + "`")
    st.download_button(
        "Download as JSON (same as `trt-workbench engine compare --json`)",
        json.dumps(compare_json(comparison), indent=1),
        file_name="engine-comparison.json",
        mime="application/json",
        key="engines_compare_json",
    )


@st.fragment
def _explore(sess: Session, state: EngineState) -> None:
    # A fragment: picking engines redraws this part only; the load controls above stay put.
    labels = list(state.reports)
    current = st.session_state.get(_PICK)
    if state.reset_pick or current is None:
        st.session_state[_PICK] = labels
        state.reset_pick = False
    else:
        st.session_state[_PICK] = [label for label in current if label in state.reports]
    picked = st.multiselect("Engines", labels, key=_PICK, help="Two or more are compared layer by layer.")
    if not picked:
        st.info("Pick one or more engines.")
        return
    for tab, label in zip(st.tabs(picked), picked):
        with tab:
            _engine_view(sess, state, state.reports[label])
    if len(picked) >= 2:
        _comparison_view(sess, state, picked)


def build_reports(builds: list[Any]) -> list[EngineReport]:
    """This session's own engine builds (TensorRT-RTX on this machine) as reports without times:
    their layers, precisions and ONNX nodes line up with GPU exports of the same model."""
    reports = []
    for build in builds:
        if not build.ok or not build.layers:
            continue
        layers = [
            {"name": layer.name, "type": layer.type, "precision": layer.precision, "onnx_nodes": list(layer.onnx_nodes), "tactic": layer.tactic}
            for layer in build.layers
        ]
        label = f"build {build.precision} ({build.target or 'this machine'})"
        report = EngineReport.from_build_layers(layers, label=label, precision=build.precision)
        if build.engine_bytes:
            report.notes.append(f"Engine of {build.engine_bytes / 2**20:.2f} MiB built here by {build.backend.name if build.backend else 'TensorRT'}; no GPU ran it, so no times.")
        reports.append(report)
    return reports


def _pick_builds(sess: Session, state: EngineState) -> None:
    ours = build_reports(sess.builds or [])
    if not ours:
        return
    if st.button(f"Add this session's {len(ours)} build(s) (layers and precisions, no times)", key="engines_add_builds"):
        add_reports(state, ours, "this session's builds", sess.workspace)


def render() -> None:
    sess = session()
    state = engine_state()
    st.title("Engines")
    st.caption(
        "Real TensorRT engines, from the files `trtexec` writes on a GPU machine: `trtexec --onnx=MODEL "
        "--saveEngine=X.engine --exportLayerInfo=X.engine.graph.json --profilingVerbosity=detailed "
        "--exportProfile=X.engine.profile.json --exportTimes=X.engine.timing.json --separateProfileRun`. "
        "Per-layer times, precisions, tactics and latency, and several engines side by side."
    )
    left, right = st.columns(2)
    with left:
        _pick_upload(sess, state)
    with right:
        _pick_path(sess, state)
    _pick_builds(sess, state)
    if state.error:
        st.error(state.error)
    if not state.reports:
        st.info("No engines yet: upload a trtexec export or name a folder of them on the server.")
        return
    if st.button("Forget these engines", key="engines_clear"):
        st.session_state[STATE_KEY] = type(state)()
        st.session_state.pop(_PICK, None)
        st.rerun()
    _explore(sess, state)


if __name__ == "__main__":  # run by st.navigation as a page
    render()
