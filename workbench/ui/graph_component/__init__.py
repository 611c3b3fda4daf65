"""The graph component: a Streamlit custom component (components v1) whose front end ships here.

``frontend/`` holds the built files (see README.md beside this file): ``index.html``,
``graph.js`` (the Streamlit protocol, drawing, search, details, overlays, overview),
``layout.js`` (the layered layout), ``graph.css`` and cytoscape's minified build with its
licence. Streamlit serves the folder from this server; the page loads nothing from anywhere
else. Rebuild with ``cd frontend/graph && npm ci && npm run build``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit.components.v1 as components

FRONTEND = Path(__file__).resolve().parent / "frontend"

_component = components.declare_component("graph", path=str(FRONTEND))


def graph_component(
    graph: dict[str, Any],
    *,
    overlay: str | None = None,
    select: str | None = None,
    height: int = 640,
    key: str | None = None,
) -> dict[str, Any] | None:
    """Draw ``graph`` (a :meth:`workbench.graph_model.GraphData.to_wire` dict).

    ``overlay`` is the id of the overlay to colour by, ``select`` a node id to select and
    centre (applied when it changes). Returns the last click: ``{"selected": node id or None,
    "graph": graph key, "kind": "onnx"|"engine", "onnx_nodes": [...], "nonce": n}``, or None
    before the first one.
    """
    value = _component(graph=graph, overlay=overlay, select=select, height=height, key=key, default=None)
    return value if isinstance(value, dict) else None
