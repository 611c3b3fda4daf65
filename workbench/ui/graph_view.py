"""The model graph, coloured by what the session knows: parser status, drift, time, engine precision."""

from __future__ import annotations

import streamlit as st

from workbench.plots import graph_figure
from workbench.ui.state import Session


def render_graph(sess: Session, key: str, label: str = "Show the graph", default: bool = False) -> None:
    # Behind a toggle, not an expander: a collapsed expander still runs its body on every
    # rerun, and laying out a large graph is work no rerun should repeat unasked.
    if sess.model is None or not st.toggle(label, value=default, key=f"{key}_show"):
        return
    proto = sess.model.proto
    inferred = sess.model.inferred or proto
    shapes = {}
    from workbench.summary import tensor_info

    for vi in [*inferred.graph.value_info, *inferred.graph.output]:
        shapes[vi.name] = tensor_info(vi).shape_str()
    status = None
    if sess.fix_session is not None and sess.fix_session.current_path == str(sess.model.path):
        diagnosis = sess.fix_session.current_diagnosis
        status = {n.name: n.status for n in diagnosis.capability or []}
        for err in diagnosis.errors:
            if err.node_name:
                status[err.node_name] = "error"
    elif (
        sess.fix_session is not None
        and sess.fix_session.original_path == str(sess.model.path)
        and not sess.fix_session.steps
    ):
        diagnosis = sess.fix_session.original_diagnosis
        status = {n.name: n.status for n in diagnosis.capability or []}
    drift = None
    if sess.comparison is not None:
        worst = max(
            (r for r in sess.comparison.results if r.layerwise),
            key=lambda r: max(x.max_abs for x in r.layerwise),
            default=None,
        )
        if worst is not None:
            drift = {row.node: row.max_abs for row in worst.layerwise}
    times = None
    profile = sess.profiles.get("onnxruntime")
    if profile is not None:
        # Rows are ONNX Runtime's (fused) nodes: each ONNX node gets its row's time, split
        # equally among the ONNX nodes that row ran (node_rows maps node -> row).
        row_ms = {layer.name: layer.ms for layer in profile.layers}
        members: dict[str, int] = {}
        for row in profile.node_rows.values():
            members[row] = members.get(row, 0) + 1
        times = {node: row_ms[row] / members[row] for node, row in profile.node_rows.items() if row in row_ms}
        times = times or row_ms  # a profile recorded before node_rows existed
    precision = None
    from workbench.precision import lower_precisions

    lowest = [b for b in sess.builds if b.ok and b.precision in lower_precisions()]
    color_by = "status"
    if lowest:
        color_by = st.radio(
            "Colour by",
            ["status", f"{lowest[0].precision.upper()} engine precision"],
            horizontal=True,
            key=f"{key}_color",
        )
        if color_by != "status":
            precision = {node: layer.precision for layer in lowest[0].layers for node in layer.onnx_nodes}
    names = [n.name for n in proto.graph.node if n.name]
    focus = None
    if len(proto.graph.node) > 400:
        focus = st.selectbox("Show the neighbourhood of", names, key=f"{key}_focus")
    st.plotly_chart(
        graph_figure(
            proto, status=status, shapes=shapes, drift=drift, times=times, precision=precision, focus=focus
        ),
        width="stretch",
        key=f"{key}_graph",
    )
    legend = "green: TensorRT supports it · red: parser error or unsupported · pink: not reached · grey: not diagnosed yet"
    st.caption(
        legend if color_by == "status" else "colours: engine precision of the layer each node ended up in"
    )
