"""The model graph in the graph component, coloured by what the session knows.

``render_graph(sess, where)`` draws the current model's ONNX graph (or an engine's layers)
with the overlays the session's results give: TensorRT support from the diagnosis, engine
precision per layer (our builds and imported trtexec exports), time per node (ONNX Runtime
CPU, TensorRT exports), FP32-vs-quantized drift, the nodes kept in higher precision. The
overlay choice and the sortable per-node table are Streamlit widgets around the component;
search, pan/zoom, the overview, path highlight and the details panel live in the component.

The graph data is built once per content (``st.cache_data`` keyed by the model's content
hash and the results' identities) and the whole view is an ``st.fragment``: a click in the
graph or a new overlay reruns only this view, and the browser lays a graph out once.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from workbench.ui.state import Session

if TYPE_CHECKING:
    from workbench.build import BuildResult
    from workbench.diagnose import Diagnosis
    from workbench.engine_report import EngineReport

ONNX_VIEW = "ONNX graph"
#: Views of the fix history (shown once a fix is applied) and of another model.
DIFF_FIXES = "Diff: original → after the fixes"
DIFF_LAST = "Diff: the last fix"
DIFF_OTHER = "Diff with another model…"
#: Frame height of the component, in pixels.
HEIGHT = 640


def render_graph(sess: Session, key: str, label: str = "Graph", default: bool = True) -> None:
    """The graph view of ``sess``'s model on a page; ``key`` names the page's instance.

    ``label`` and ``default`` are kept for the pages' calls: drawing is the browser's work
    (the rerun only looks the data up), so the graph no longer hides behind a toggle.
    """
    del default
    if sess.model is None:
        return
    # The pages' labels were toggle captions ("Show the graph, coloured by ..."): keep their words.
    rest = label.removeprefix("Show the graph").strip(" ,")
    _graph_fragment(key, "Graph" if label.startswith("Show the graph") and not rest else
                    f"Graph, {rest}" if label.startswith("Show the graph") else label)


@st.fragment
def _graph_fragment(where: str, label: str) -> None:
    from workbench.ui.graph_component import graph_component
    from workbench.ui.state import session

    sess = session()
    if sess.model is None:
        return
    diagnosis = _diagnosis(sess)
    engines = _engines(sess)
    fixes = _fix_views(sess)
    views = [ONNX_VIEW, *fixes, *engines, DIFF_OTHER]
    comp_key = f"{where}_graph"
    value = st.session_state.get(comp_key)
    view = ONNX_VIEW
    header, picker = st.columns([2, 3])
    header.markdown(f"**{label}**")
    view_key = f"{where}_graph_view"
    if fixes and st.session_state.get(f"{where}_graph_steps") != len(_steps(sess)):
        # A new fix was applied (or one undone): show what it changed.
        st.session_state[f"{where}_graph_steps"] = len(_steps(sess))
        st.session_state[view_key] = next(iter(fixes))
    chosen = picker.selectbox("View", views, key=view_key)
    view = chosen if chosen in views else ONNX_VIEW
    if view in fixes:
        payload = _diff_payload(sess, view, fixes[view])
    elif view == DIFF_OTHER:
        other = _other_model(sess, where)
        if other is None:
            st.caption(
                "Choose a second ONNX model: the graph shows the current model's nodes changed, added and "
                "removed in it. " + _rule_text()
            )
            return
        payload = _other_payload(sess, other)
    else:
        payload = _payload(sess, diagnosis, view, engines)
    overlays = payload["overlays"]
    titles = {o["id"]: o["title"] for o in overlays}
    ids = list(titles)
    preferred = "diff" if "diff" in titles else "status" if "status" in titles else ids[0] if ids else None
    overlay_key = f"{where}_graph_overlay_{payload['kind']}" + ("_diff" if "diff" in titles else "")
    overlay = None
    if ids:
        current = st.session_state.get(overlay_key)
        overlay = st.selectbox(
            "Colour by",
            ids,
            index=ids.index(current) if current in ids else ids.index(preferred) if preferred else 0,
            format_func=lambda i: titles.get(i, i),
            key=overlay_key,
        )
    select = _selection(payload, value, st.session_state.pop(f"{where}_graph_pick", None))
    graph_component(payload, overlay=overlay, select=select, height=HEIGHT, key=comp_key)
    if payload.get("notes"):
        st.caption(" · ".join(payload["notes"]))
    if view == ONNX_VIEW:
        _node_actions(sess, where, payload, st.session_state.get(comp_key), diagnosis)
    chosen_overlay = next((o for o in overlays if o["id"] == overlay), None)
    if "diff" in titles:
        _diff_table(where, payload)
    elif chosen_overlay is not None and chosen_overlay["id"] not in ("operator", "type") and chosen_overlay["values"]:
        _side_table(where, payload, chosen_overlay)


#: The Build page's "Keep in FP32" choice (a widget key of build_page.py).
BUILD_KEEP_KEY = "build_keep"


def _node_actions(sess: Session, where: str, payload: dict[str, Any], value: dict[str, Any] | None,
                  diagnosis: Diagnosis | None) -> None:
    """What the user can do from the node selected in the graph: apply the fixes that concern
    it, extract it as a minimal reproduction, keep it in higher precision in the next build."""
    if not value or value.get("graph") != payload["key"] or not value.get("selected"):
        return
    node = next((n for n in payload["nodes"] if n["id"] == value["selected"]), None)
    if node is None or node.get("kind", "op") != "op":
        return
    name = node.get("name") or node["id"]
    fs = sess.fix_session
    st.markdown(f"**Selected node:** `{name}` ({node.get('op_type', '')})")
    cols = st.columns(3)
    fix_ids = list(dict.fromkeys(f.split(":", 1)[0] for note in node.get("notes") or [] for f in note.get("fixes") or []))
    if fs is not None and diagnosis is not None:
        from workbench.fixes import REGISTRY

        for fix_id in fix_ids:
            if fix_id in REGISTRY and cols[0].button(f"Apply to this node: {REGISTRY[fix_id].title}",
                                                     key=f"{where}_node_fix_{fix_id}_{node['id']}"):
                _apply_for_node(sess, fix_id, name, diagnosis)
                st.rerun(scope="app")
        if node.get("parent"):
            # A node inside an If/Loop/Scan body cannot be cut out alone: its holder can.
            cols[1].caption("Inside a subgraph: select the node that holds it to extract a reproduction.")
        elif cols[1].button("Extract as a minimal reproduction", key=f"{where}_node_extract_{node['id']}",
                            help="cut this node out with the constant subgraphs that feed it (a model of its own)"):
            _extract(sess, name, where)
    elif fix_ids:
        cols[0].caption("Diagnose the model (Diagnose & fix page) to apply its fixes from here.")
    kept = list(st.session_state.get(BUILD_KEEP_KEY) or [])
    if name in kept:
        cols[2].caption("Kept in FP32 in the next build (Build page).")
    elif sess.model is not None and any(n.name == name for n in sess.model.proto.graph.node) and cols[2].button("Keep in higher precision", key=f"{where}_node_keep_{node['id']}",
                                             help="add it to the Build page's 'Keep in FP32'"):
        st.session_state[BUILD_KEEP_KEY] = [*kept, name]
        st.rerun(scope="fragment")
    repro = sess.repro_path
    if repro and Path(repro).is_file() and st.session_state.get(f"{where}_node_repro") == name:
        st.download_button("Download the reproduction", Path(repro).read_bytes(), file_name=Path(repro).name.replace(
            ".fixed", ".repro"), key=f"{where}_node_repro_download")


def _issue_for(diagnosis: Diagnosis, fix_id: str, name: str) -> Any:
    for err in diagnosis.errors:
        if err.node_name == name and fix_id in err.fixes:
            return err
    for finding in diagnosis.findings:
        if name in finding.nodes and fix_id in finding.fixes:
            return finding
    return None


def _apply_for_node(sess: Session, fix_id: str, name: str, diagnosis: Diagnosis) -> None:
    from workbench.errors import WorkbenchError
    from workbench.fixing import FixStep, apply_fix

    assert sess.fix_session is not None
    with st.spinner(f"Applying {fix_id}, checking outputs in ONNX Runtime, parsing again…"):
        try:
            result = apply_fix(sess.fix_session, fix_id, issue=_issue_for(diagnosis, fix_id, name))
        except WorkbenchError as exc:
            sess.fix_error = exc.message
            return
    sess.fix_error = None if isinstance(result, FixStep) else result.reason


def _extract(sess: Session, name: str, where: str) -> None:
    from workbench.errors import WorkbenchError
    from workbench.fixing import FixStep, apply_fix

    assert sess.fix_session is not None
    with st.spinner(f"Extracting {name}…"):
        try:
            result = apply_fix(sess.fix_session, "extract-failing-subgraph", params={"node_name": name})
        except WorkbenchError as exc:
            st.error(exc.message)
            return
    if isinstance(result, FixStep):
        sess.repro_path = result.model_path
        st.session_state[f"{where}_node_repro"] = name
    else:
        st.error(result.reason)


def _rule_text() -> str:
    from workbench.graph_diff import MATCHING_RULE

    return MATCHING_RULE


def _steps(sess: Session) -> list[Any]:
    fs = sess.fix_session
    return list(fs.steps) if fs is not None else []


def _fix_views(sess: Session) -> dict[str, tuple[int, int]]:
    """Diff views of the fix history: label -> (from step, to step); 0 is the original model."""
    steps = _steps(sess)
    if not steps:
        return {}
    views = {DIFF_FIXES: (0, len(steps))}
    if len(steps) > 1:
        views[f"{DIFF_LAST} ({steps[-1].fix_id})"] = (len(steps) - 1, len(steps))
    return views


def _diff_payload(sess: Session, view: str, span: tuple[int, int]) -> dict[str, Any]:
    fs = sess.fix_session
    assert fs is not None
    start, end = span
    hashes = [fs.original_hash, *(s.content_hash for s in fs.steps)]
    fingerprint = hashlib.sha256(repr(("fixes", hashes[start], hashes[end], start, end, view)).encode()).hexdigest()
    return _cached_diff(fingerprint, _DiffInputs(fs, start, end))


class _DiffInputs:
    def __init__(self, fs: Any, start: int, end: int) -> None:
        self.fs, self.start, self.end = fs, start, end


@st.cache_data(show_spinner="Pairing the nodes of both graphs…", max_entries=12)
def _cached_diff(fingerprint: str, _inputs: _DiffInputs) -> dict[str, Any]:
    from workbench.graph_diff import fix_diff_graph

    del fingerprint
    return fix_diff_graph(_inputs.fs, _inputs.start, _inputs.end).to_wire()


def _other_model(sess: Session, where: str) -> Any:
    """The second model of a two-model diff: an upload, kept across reruns."""
    from workbench.errors import WorkbenchError
    from workbench.model import load_model

    upload = st.file_uploader(
        "Second model (.onnx, or a .zip of its folder)", type=["onnx", "zip"], key=f"{where}_graph_other_upload"
    )
    store = f"{where}_graph_other_model"
    if upload is None:
        st.session_state.pop(store, None)
        return None
    marker = (upload.name, upload.size)
    held = st.session_state.get(store)
    if held is not None and held[0] == marker:
        return held[1]
    try:
        other = load_model(upload.getvalue(), name=upload.name, workspace=sess.workspace)
    except WorkbenchError as exc:
        st.error(exc.message)
        return None
    st.session_state[store] = (marker, other)
    return other


def _other_payload(sess: Session, other: Any) -> dict[str, Any]:
    assert sess.model is not None
    fingerprint = hashlib.sha256(
        repr(("other", sess.model.content_hash, other.content_hash)).encode()
    ).hexdigest()
    return _cached_other(fingerprint, _OtherInputs(sess.model, other))


class _OtherInputs:
    def __init__(self, before: Any, after: Any) -> None:
        self.before, self.after = before, after


@st.cache_data(show_spinner="Pairing the nodes of both graphs…", max_entries=12)
def _cached_other(fingerprint: str, _inputs: _OtherInputs) -> dict[str, Any]:
    from workbench.graph_diff import diff_graph

    del fingerprint
    return diff_graph(_inputs.before, _inputs.after, before_label=_inputs.before.name,
                      after_label=_inputs.after.name).to_wire()


def _diff_table(where: str, payload: dict[str, Any]) -> None:
    """What changed, one row per node that is not unchanged; a row click finds the node."""
    order = {"removed": 0, "added": 1, "changed": 2, "renamed": 3}
    rows = [
        {
            "diff": n["mark"],
            "node": n["id"],
            "op": n.get("op_type", ""),
            "paired with": (n.get("details") or {}).get("paired with", ""),
            "what changed": (n.get("details") or {}).get("diff", "").partition(": ")[2],
        }
        for n in payload["nodes"]
        if n.get("mark")
    ]
    rows.sort(key=lambda r: order.get(r["diff"], 9))
    pick_key = f"{where}_graph_pick"
    table_key = f"{where}_graph_diff_table_{payload['key']}"

    picked = _row_picker(table_key, pick_key, rows)

    st.caption(f"{len(rows):,} node(s) differ (click a row to find the node). {_rule_text()}")
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch", height=min(320, 38 + 35 * len(rows)),
                     on_select=picked, selection_mode="single-row", key=table_key)


def _row_picker(table_key: str, pick_key: str, rows: list[dict[str, Any]]) -> Any:
    """The table's on_select callback: the clicked row's node becomes the graph's selection."""

    def picked() -> None:
        state = st.session_state.get(table_key)
        chosen = getattr(getattr(state, "selection", None), "rows", None)
        if chosen is None and isinstance(state, dict):
            chosen = state.get("selection", {}).get("rows")
        if chosen:
            st.session_state[pick_key] = rows[chosen[0]]["node"]

    return picked


def _selection(payload: dict[str, Any], value: dict[str, Any] | None, picked: str | None) -> str | None:
    """The node to select in this view: a table pick, else the last click mapped to this view."""
    node_ids = {n["id"] for n in payload["nodes"]}
    if picked in node_ids:
        return picked
    if not value or not value.get("selected"):
        return None
    if value.get("graph") == payload["key"]:
        return str(value["selected"]) if value["selected"] in node_ids else None
    onnx_nodes = [str(n) for n in value.get("onnx_nodes") or []]
    if payload["kind"] == "onnx":
        return next((n for n in onnx_nodes if n in node_ids), None)
    layer_of = payload.get("onnx_to_layer") or {}
    return next((layer_of[n] for n in onnx_nodes if n in layer_of), None)


def _side_table(where: str, payload: dict[str, Any], overlay: dict[str, Any]) -> None:
    label = overlay.get("value_label") or "value"
    ops = {n["id"]: n.get("op_type", "") for n in payload["nodes"]}
    rows = [{"node": node, "op": ops.get(node, ""), label: value} for node, value in overlay["values"].items()]
    if overlay["kind"] == "scale":
        rows.sort(key=lambda r: -float(r[label]))
    pick_key = f"{where}_graph_pick"
    table_key = f"{where}_graph_table_{overlay['id']}"

    picked = _row_picker(table_key, pick_key, rows)

    st.caption(f"{overlay['title']}: {len(rows):,} nodes (click a column to sort, a row to find the node)")
    config: dict[str, Any] = {}
    if overlay["kind"] == "scale":
        config[label] = st.column_config.NumberColumn(label, format="%.4g")
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        height=min(320, 38 + 35 * len(rows)),
        column_config=config,
        on_select=picked,
        selection_mode="single-row",
        key=table_key,
    )


# ----------------------------------------------------------------------------- what the session knows


def _diagnosis(sess: Session) -> Diagnosis | None:
    """The diagnosis of exactly the model shown (the current step of the fix history)."""
    fs = sess.fix_session
    if fs is None or sess.model is None:
        return None
    if fs.current_path == str(sess.model.path):
        return fs.current_diagnosis
    if fs.original_path == str(sess.model.path) and not fs.steps:
        return fs.original_diagnosis
    return None


def _engines(sess: Session) -> dict[str, Callable[[], tuple[str, Any]]]:
    """Engine views: label -> (identity, layers or report), our builds first, then imports."""
    out: dict[str, Callable[[], tuple[str, Any]]] = {}
    for build in sess.builds:
        if build.ok and build.layers:
            label = f"Engine: {build.precision.upper()} build" + (f" ({build.target})" if build.target else "")
            out[label] = functools.partial(_build_layers, build)
    for label, report in _imported(sess).items():
        out[f"Engine: {label} (imported)"] = functools.partial(_report_layers, label, report)
    return out


def _build_layers(build: BuildResult) -> tuple[str, Any]:
    return build.cache_key or f"{build.precision}{len(build.layers)}", build.layers


def _report_layers(label: str, report: EngineReport) -> tuple[str, Any]:
    return f"{label}{len(report.layers)}{report.total_ms}", report


def _imported(sess: Session) -> dict[str, EngineReport]:
    from workbench.ui.engines_page import STATE_KEY

    state = st.session_state.get(STATE_KEY)
    return dict(getattr(state, "reports", {}) or {})


def _fingerprint(sess: Session, diagnosis: Diagnosis | None, view: str, engines: dict[str, Any]) -> str:
    """A cheap identity of everything the payload is made from (no result is serialised)."""
    assert sess.model is not None
    parts: list[Any] = [sess.model.content_hash or str(sess.model.path), view]
    if diagnosis is not None:
        parts += [
            diagnosis.content_hash,
            diagnosis.parse_ok,
            diagnosis.build_ok,
            [(e.stage, e.node_name, e.message[:200], tuple(e.fixes)) for e in diagnosis.errors],
            [(f.kind, tuple(f.nodes), tuple(f.tensors), f.resolved) for f in diagnosis.findings],
            [s.status for s in diagnosis.capability or []],
        ]
    parts += [(b.cache_key, b.precision, b.target, len(b.layers), tuple(b.config.keep_precision)) for b in sess.builds if b.ok]
    parts += [(k, p.backend, p.device, p.latency_ms.mean, len(p.layers)) for k, p in sess.profiles.items()]
    if sess.comparison is not None:
        parts += [
            (r.precision, len(r.layerwise), sum(x.max_abs for x in r.layerwise)) for r in sess.comparison.results
        ]
    if sess.keep_result is not None:
        parts.append(tuple(sess.keep_result.nodes))
    for label, make in engines.items():
        if label.endswith("(imported)"):
            parts.append(make()[0])
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _payload(sess: Session, diagnosis: Diagnosis | None, view: str, engines: dict[str, Any]) -> dict[str, Any]:
    return _cached_payload(_fingerprint(sess, diagnosis, view, engines), _Inputs(sess, diagnosis, view, engines))


class _Inputs:
    """What a payload is built from; not hashed (the fingerprint is the cache key)."""

    def __init__(self, sess: Session, diagnosis: Diagnosis | None, view: str, engines: dict[str, Any]) -> None:
        self.sess, self.diagnosis, self.view, self.engines = sess, diagnosis, view, engines


@st.cache_data(show_spinner=False, max_entries=24)
def _cached_payload(fingerprint: str, _inputs: _Inputs) -> dict[str, Any]:
    del fingerprint
    return build_payload(_inputs.sess, _inputs.diagnosis, _inputs.view, _inputs.engines)


def build_payload(sess: Session, diagnosis: Diagnosis | None, view: str, engines: dict[str, Any]) -> dict[str, Any]:
    """The component's data for one view: the ONNX graph with every overlay, or an engine's layers."""
    from workbench.engine_report import map_to_onnx
    from workbench.graph_model import engine_graph, onnx_graph, with_overlays

    assert sess.model is not None
    onnx = onnx_graph(sess.model, diagnosis)
    if view in engines:
        _, layers = engines[view]()
        label = view.removeprefix("Engine: ")
        return engine_graph(layers, label=label, onnx=onnx).to_wire()
    imported = _imported(sess)
    exports = [
        (label, map_to_onnx(report, sess.model), report.device.name) for label, report in imported.items()
    ]
    with_overlays(
        onnx,
        diagnosis=diagnosis,
        builds=sess.builds,
        profiles=sess.profiles,
        comparison=sess.comparison,
        keep=sess.keep_result,
        exports=[e for e in exports if e[1].node_precision or e[1].node_ms],
    )
    return onnx.to_wire()
