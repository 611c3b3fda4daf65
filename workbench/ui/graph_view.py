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
from typing import TYPE_CHECKING, Any

import streamlit as st

from workbench.ui.state import Session

if TYPE_CHECKING:
    from workbench.build import BuildResult
    from workbench.diagnose import Diagnosis
    from workbench.engine_report import EngineReport

ONNX_VIEW = "ONNX graph"
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
    views = [ONNX_VIEW, *engines]
    comp_key = f"{where}_graph"
    value = st.session_state.get(comp_key)
    view = ONNX_VIEW
    header, picker = st.columns([2, 3])
    header.markdown(f"**{label}**")
    if len(views) > 1:
        chosen = picker.selectbox("View", views, key=f"{where}_graph_view", label_visibility="collapsed")
        view = chosen if chosen in views else ONNX_VIEW
    payload = _payload(sess, diagnosis, view, engines)
    overlays = payload["overlays"]
    titles = {o["id"]: o["title"] for o in overlays}
    ids = list(titles)
    preferred = "status" if "status" in titles else ids[0] if ids else None
    overlay_key = f"{where}_graph_overlay_{payload['kind']}"
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
    chosen_overlay = next((o for o in overlays if o["id"] == overlay), None)
    if chosen_overlay is not None and chosen_overlay["id"] not in ("operator", "type") and chosen_overlay["values"]:
        _side_table(where, payload, chosen_overlay)


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

    def picked() -> None:
        state = st.session_state.get(table_key)
        chosen = getattr(getattr(state, "selection", None), "rows", None)
        if chosen is None and isinstance(state, dict):
            chosen = state.get("selection", {}).get("rows")
        if chosen:
            st.session_state[pick_key] = rows[chosen[0]]["node"]

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
