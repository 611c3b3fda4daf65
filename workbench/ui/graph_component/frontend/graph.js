/*
 * The TensorRT Workbench graph component: draws a GraphData (workbench/graph_model.py) with
 * cytoscape, laid out by layout.js, and talks to Streamlit through the components v1
 * postMessage protocol (no streamlit-component-lib: four message types are all it needs).
 *
 *   component -> Streamlit   {isStreamlitMessage: true, type: "streamlit:componentReady", apiVersion: 1}
 *                            {isStreamlitMessage: true, type: "streamlit:setFrameHeight", height}
 *                            {isStreamlitMessage: true, type: "streamlit:setComponentValue", value, dataType: "json"}
 *   Streamlit -> component   {type: "streamlit:render", args, dfs, disabled, theme}
 *
 * args: graph (GraphData.to_wire()), overlay (an overlay id), select (a node id to select and
 * centre), height (px). The graph is laid out once per graph.key (and the layout kept in
 * sessionStorage, so coming back to the page does not lay it out again); a render with the same
 * key only changes the colours or the selection. A click on a node sends
 * {selected, graph, nonce} back, which reruns only the Streamlit fragment around the component.
 */
(function () {
  "use strict";

  // ------------------------------------------------------------------ Streamlit protocol
  const Streamlit = {
    send(type, data) {
      window.parent.postMessage(Object.assign({ isStreamlitMessage: true, type }, data || {}), "*");
    },
    ready() {
      this.send("streamlit:componentReady", { apiVersion: 1 });
    },
    setFrameHeight(height) {
      this.send("streamlit:setFrameHeight", { height });
    },
    setValue(value) {
      this.send("streamlit:setComponentValue", { value, dataType: "json" });
    },
  };

  const $ = (id) => document.getElementById(id);
  const state = {
    key: null,
    graph: null,
    cy: null,
    byId: new Map(),
    tensors: {},
    overlayId: null,
    overlay: null,
    selected: null,
    lastSelectArg: null,
    height: 0,
    stats: {},
    minimap: { scale: 1, ox: 0, oy: 0, base: null, bbox: null },
    nonce: 0,
  };
  window.__graph = state; // for tests and debugging: stats, the cytoscape instance

  function esc(text) {
    return String(text == null ? "" : text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }

  function textColor(hex) {
    const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex || "");
    if (!m) return "#1f2328";
    const [r, g, b] = [m[1], m[2], m[3]].map((h) => parseInt(h, 16) / 255);
    const lum = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    return lum > 0.55 ? "#1f2328" : "#ffffff";
  }

  function shapeText(shape) {
    if (shape == null) return "?";
    if (!shape.length) return "scalar";
    return shape.map((d) => (d == null ? "?" : d)).join("×");
  }

  function clip(text, max) {
    text = String(text || "");
    return text.length > max ? text.slice(0, max - 1) + "…" : text;
  }

  // ------------------------------------------------------------------ building the graph
  const NODE_H = 36;
  const NODE_H_SMALL = 24;

  function nodeSize(n) {
    const label = clip(n.label, 28);
    const sub = clip(n.sublabel || "", 30);
    const w = Math.max(56, 7.2 * label.length + 22, 6.1 * sub.length + 18);
    return [Math.round(w), sub ? NODE_H : NODE_H_SMALL];
  }

  function cachedLayout(key, compute) {
    const storeKey = "trt-workbench-graph:" + key;
    try {
      const hit = sessionStorage.getItem(storeKey);
      if (hit) {
        const parsed = JSON.parse(hit);
        parsed.cached = true;
        return parsed;
      }
    } catch (e) {
      /* storage off: lay out again */
    }
    const result = compute();
    const plain = { x: Array.from(result.x), y: Array.from(result.y), bends: result.bends, ms: result.ms, ranks: result.ranks, crossings: result.crossings };
    try {
      sessionStorage.setItem(storeKey, JSON.stringify(plain));
    } catch (e) {
      /* too big for the storage: fine, it was fast */
    }
    return plain;
  }

  function segmentsFor(sx, sy, tx, ty, pts) {
    const dx = tx - sx;
    const dy = ty - sy;
    const l2 = dx * dx + dy * dy;
    if (l2 < 1e-6) return null;
    const l = Math.sqrt(l2);
    const nx = -dy / l;
    const ny = dx / l;
    const ws = [];
    const ds = [];
    for (let i = 0; i < pts.length; i += 2) {
      const px = pts[i] - sx;
      const py = pts[i + 1] - sy;
      ws.push(((px * dx + py * dy) / l2).toFixed(4));
      ds.push((px * nx + py * ny).toFixed(1));
    }
    return { w: ws.join(" "), d: ds.join(" ") };
  }

  const STYLE = [
    {
      selector: "node",
      style: {
        shape: "round-rectangle",
        width: "data(w)",
        height: "data(h)",
        "background-color": "data(color)",
        "border-width": 1,
        "border-color": "rgba(0,0,0,0.35)",
        label: "data(text)",
        "text-wrap": "wrap",
        "text-valign": "center",
        "text-halign": "center",
        "font-size": 11,
        "font-family": "Helvetica, Arial, sans-serif",
        color: "data(fg)",
        "min-zoomed-font-size": 6,
        "corner-radius": 6,
      },
    },
    { selector: "node.io", style: { shape: "round-rectangle", "corner-radius": 12, "border-width": 2, "border-color": "#333" } },
    { selector: "node.has-error", style: { "border-width": 3, "border-color": "#cf222e" } },
    { selector: "node.has-warning", style: { "border-width": 2, "border-color": "#d4a72c", "border-style": "dashed" } },
    { selector: "node.mark-added", style: { "border-width": 3, "border-color": "#1a7f37" } },
    { selector: "node.mark-changed", style: { "border-width": 3, "border-color": "#bc4c00" } },
    { selector: "node.mark-renamed", style: { "border-width": 2, "border-color": "#8250df" } },
    { selector: "node.mark-removed", style: { "border-width": 3, "border-color": "#a40e26", "border-style": "dashed", "background-opacity": 0.7 } },
    { selector: "node.sel", style: { "border-width": 4, "border-color": "#0969da", "underlay-color": "#0969da", "underlay-opacity": 0.25, "underlay-padding": 6 } },
    { selector: "node.hit", style: { "underlay-color": "#f2cc0c", "underlay-opacity": 0.5, "underlay-padding": 5 } },
    { selector: "node.faded", style: { opacity: 0.28 } },
    {
      selector: "edge",
      style: {
        width: 1.3,
        "line-color": "#8c959f",
        "target-arrow-color": "#8c959f",
        "target-arrow-shape": "triangle",
        "arrow-scale": 0.7,
        "curve-style": "straight",
      },
    },
    { selector: "edge.bent", style: { "curve-style": "round-segments", "segment-weights": "data(sw)", "segment-distances": "data(sd)", "segment-radii": 14, "edge-distances": "node-position" } },
    { selector: "edge.up", style: { width: 2.4, "line-color": "#0969da", "target-arrow-color": "#0969da" } },
    { selector: "edge.down", style: { width: 2.4, "line-color": "#e36209", "target-arrow-color": "#e36209" } },
    { selector: "edge.faded", style: { opacity: 0.15 } },
  ];

  function build(graph) {
    const t0 = performance.now();
    state.graph = graph;
    state.key = graph.key;
    state.byId = new Map();
    state.tensors = graph.tensors || {};
    state.selected = null;
    state.lastSelectArg = null;
    state.marked = null;
    const nodes = graph.nodes;
    const index = new Map();
    nodes.forEach((n, i) => {
      // GraphData.to_wire() leaves out the defaults.
      if (n.name == null) n.name = n.id;
      if (n.kind == null) n.kind = "op";
      if (n.label == null) n.label = n.op_type || n.name;
      if (n.index == null) n.index = -1;
      index.set(n.id, i);
      state.byId.set(n.id, n);
      n.producers = [];
      n.consumers = [];
    });
    const edges = [];
    const edgeRefs = [];
    for (const e of graph.edges) {
      const s = index.get(e.source);
      const t = index.get(e.target);
      if (s === undefined || t === undefined) continue;
      edges.push([s, t]);
      edgeRefs.push(e);
      const src = nodes[s];
      const dst = nodes[t];
      if (!src.consumers.includes(dst.id)) src.consumers.push(dst.id);
      if (!dst.producers.includes(src.id)) dst.producers.push(src.id);
    }
    const sizes = nodes.map(nodeSize);
    const lay = cachedLayout(graph.key, () => window.GraphLayout.layout(nodes.length, edges, sizes));
    const tLayout = performance.now();
    // The drawing's extent from the layout (cytoscape's boundingBox() would measure every label).
    const bb = { x1: Infinity, y1: Infinity, x2: -Infinity, y2: -Infinity };
    nodes.forEach((n, i) => {
      bb.x1 = Math.min(bb.x1, lay.x[i] - sizes[i][0] / 2);
      bb.x2 = Math.max(bb.x2, lay.x[i] + sizes[i][0] / 2);
      bb.y1 = Math.min(bb.y1, lay.y[i] - sizes[i][1] / 2);
      bb.y2 = Math.max(bb.y2, lay.y[i] + sizes[i][1] / 2);
    });
    if (!nodes.length) Object.assign(bb, { x1: 0, y1: 0, x2: 1, y2: 1 });
    bb.w = bb.x2 - bb.x1;
    bb.h = bb.y2 - bb.y1;
    state.bbox = bb;
    const elements = [];
    nodes.forEach((n, i) => {
      const label = clip(n.label, 28);
      const sub = clip(n.sublabel || "", 30);
      const classes = [];
      if (n.kind === "input" || n.kind === "output") classes.push("io");
      const notes = n.notes || [];
      if (notes.some((x) => x.severity === "error")) classes.push("has-error");
      else if (notes.some((x) => x.severity === "warning")) classes.push("has-warning");
      if (n.mark) classes.push("mark-" + n.mark);
      elements.push({
        group: "nodes",
        data: { id: n.id, text: sub ? label + "\n" + sub : label, w: sizes[i][0], h: sizes[i][1], color: "#d9d9d9", fg: "#1f2328" },
        position: { x: lay.x[i], y: lay.y[i] },
        classes: classes.join(" "),
      });
    });
    edges.forEach(([s, t], k) => {
      const data = { id: "e" + k, source: nodes[s].id, target: nodes[t].id, tensor: edgeRefs[k].tensor || "" };
      let classes = "";
      const pts = lay.bends[k];
      if (pts && pts.length) {
        const seg = segmentsFor(lay.x[s], lay.y[s], lay.x[t], lay.y[t], pts);
        if (seg) {
          data.sw = seg.w;
          data.sd = seg.d;
          classes = "bent";
        }
      }
      elements.push({ group: "edges", data, classes });
    });
    if (state.cy) state.cy.destroy();
    const tElements = performance.now();
    const big = nodes.length > 700;
    const cy = cytoscape({
      container: $("cy"),
      elements,
      style: STYLE,
      layout: { name: "preset" },
      minZoom: 0.02,
      maxZoom: 4,
      boxSelectionEnabled: false,
      autoungrabify: true,
      textureOnViewport: big,
      hideEdgesOnViewport: nodes.length > 4000,
      motionBlur: false,
      pixelRatio: big ? 1 : "auto",
    });
    state.cy = cy;
    const tCy = performance.now();
    cy.on("tap", "node", (ev) => select(ev.target.id(), { center: false, send: true }));
    cy.on("tap", (ev) => {
      if (ev.target === cy) clearSelection(true);
    });
    cy.on("mouseover", "node", (ev) => {
      const n = state.byId.get(ev.target.id());
      if (n) setStatus(n.name + (n.op_type ? " · " + n.op_type : ""));
    });
    cy.on("mouseout", "node", () => setStatus(state.statsText));
    cy.on("viewport", scheduleMinimap);
    initialView(cy);
    $("title").textContent = graph.title || "";
    state.stats = {
      nodes: nodes.length,
      edges: edges.length,
      layoutMs: Math.round(tLayout - t0),
      layoutCached: !!lay.cached,
      elementsMs: Math.round(tElements - tLayout),
      cytoscapeMs: Math.round(tCy - tElements),
      pureLayoutMs: Math.round(lay.ms || 0),
      ranks: lay.ranks,
      crossings: lay.crossings,
    };
    state.minimap.bbox = null;
    // The diff's changes (added, removed, changed), top to bottom, for the ◀ ▶ buttons.
    state.changes = nodes
      .map((n, i) => [n, i])
      .filter(([n]) => n.mark === "added" || n.mark === "removed" || n.mark === "changed")
      .sort((a, b) => lay.y[a[1]] - lay.y[b[1]] || lay.x[a[1]] - lay.x[b[1]])
      .map(([n]) => n.id);
    state.changeAt = -1;
    $("changes").hidden = !state.changes.length;
    $("changes-count").textContent = state.changes.length ? `${state.changes.length} changes` : "";
    return t0;
  }

  function stepChange(delta) {
    const list = state.changes || [];
    if (!list.length) return;
    state.changeAt = (state.changeAt + delta + list.length) % list.length;
    const id = list[state.changeAt];
    select(id, { center: true, send: true });
    const n = state.byId.get(id);
    $("changes-count").textContent = `${state.changeAt + 1} of ${list.length}: ${n ? n.mark : ""}`;
  }

  function fit(cy, padding) {
    const bb = state.bbox;
    const zoom = Math.min((cy.width() - 2 * padding) / Math.max(bb.w, 1), (cy.height() - 2 * padding) / Math.max(bb.h, 1));
    const z = Math.max(cy.minZoom(), Math.min(cy.maxZoom(), zoom));
    cy.viewport({ zoom: z, pan: { x: cy.width() / 2 - ((bb.x1 + bb.x2) / 2) * z, y: cy.height() / 2 - ((bb.y1 + bb.y2) / 2) * z } });
    return z;
  }

  function initialView(cy) {
    const bb = state.bbox;
    const z = fit(cy, 20);
    if (z >= 0.6) {
      if (z > 1.4) cy.viewport({ zoom: 1.4, pan: { x: cy.width() / 2 - ((bb.x1 + bb.x2) / 2) * 1.4, y: cy.height() / 2 - ((bb.y1 + bb.y2) / 2) * 1.4 } });
      return;
    }
    // A graph too tall to read when fitted starts at a readable zoom on its inputs (the top),
    // like Netron; the overview shows the rest.
    const zoom = 0.85;
    let top = null;
    let topY = Infinity;
    cy.nodes().forEach((n) => {
      const y = n.position("y");
      if (y < topY) {
        topY = y;
        top = n;
      }
    });
    const x = top ? top.position("x") : (bb.x1 + bb.x2) / 2;
    cy.viewport({ zoom, pan: { x: cy.width() / 2 - x * zoom, y: 20 - bb.y1 * zoom } });
  }

  // ------------------------------------------------------------------ overlays and legend
  function applyOverlay(overlayId) {
    const graph = state.graph;
    const overlays = graph.overlays || [];
    const overlay = overlays.find((o) => o.id === overlayId) || overlays[0] || null;
    state.overlay = overlay;
    state.overlayId = overlay ? overlay.id : null;
    const colors = overlay ? overlay.colors || {} : {};
    const cats = overlay && overlay.kind === "category" && !overlay.colors ? overlay.category_colors || {} : null;
    state.cy.batch(() => {
      state.cy.nodes().forEach((node) => {
        const id = node.id();
        let c = colors[id];
        if (!c && cats && overlay.values[id] != null) c = cats[overlay.values[id]];
        c = c || "#d9d9d9";
        node.data({ color: c, fg: textColor(c) });
      });
    });
    renderLegend(overlay);
    const tMinimap = performance.now();
    drawMinimapBase();
    state.stats.minimapMs = Math.round(performance.now() - tMinimap);
    if (state.selected) renderDetails(state.selected);
  }

  function renderLegend(overlay) {
    const el = $("legend");
    if (!overlay) {
      el.innerHTML = "";
      return;
    }
    const rows = (overlay.legend || [])
      .map(
        (e) =>
          `<div class="row"><span class="swatch" style="background:${esc(e.color)}"></span><span>${esc(e.label)}</span>` +
          (e.count ? `<span class="count">${e.count}</span>` : "") +
          "</div>"
      )
      .join("");
    const missing = overlay.kind === "scale" ? `<div class="row"><span class="swatch" style="background:#d9d9d9"></span><span>no value</span></div>` : "";
    const scaleNote = overlay.kind === "scale" ? `<div class="source">${overlay.log_scale ? "log scale" : "linear scale"}${overlay.unit ? ", " + esc(overlay.unit) : ""}</div>` : "";
    el.innerHTML =
      `<h4>${esc(overlay.title)}</h4>${rows}${missing}${scaleNote}` +
      (overlay.source ? `<div class="source">${esc(overlay.source)}</div>` : "") +
      (overlay.note ? `<div class="source">${esc(overlay.note)}</div>` : "");
  }

  // ------------------------------------------------------------------ selection, path, details
  function clearSelection(send) {
    const cy = state.cy;
    state.selected = null;
    cy.batch(() => (state.marked || cy.elements()).removeClass("sel up down faded"));
    state.marked = null;
    $("details").innerHTML = `<p class="hint">Click a node (or find one by name) to see its details.</p>`;
    if (send) sendValue();
  }

  function highlightPath(node) {
    const cy = state.cy;
    cy.batch(() => {
      // Only the elements marked last time are cleared: restyling all of a large graph is what costs.
      if (state.marked) state.marked.removeClass("sel up down faded hit");
      cy.nodes(".hit").removeClass("hit");
      node.addClass("sel");
      state.marked = node;
      if (!$("path").checked) return;
      const upstream = node.predecessors();
      const downstream = node.successors();
      upstream.edges().addClass("up");
      downstream.edges().addClass("down");
      const keep = upstream.union(downstream).union(node);
      state.marked = keep;
      if (cy.nodes().length <= 800) {
        // Small graphs also fade what is off the path (on large ones the coloured edges say it).
        const rest = cy.elements().difference(keep);
        rest.addClass("faded");
        state.marked = keep.union(rest);
      }
    });
  }

  function select(id, opts) {
    const cy = state.cy;
    const node = cy && cy.getElementById(id);
    if (!node || node.empty()) return false;
    state.selected = id;
    highlightPath(node);
    renderDetails(id);
    if (opts && opts.center) {
      const zoom = Math.max(cy.zoom(), 0.9);
      cy.stop();
      cy.animate({ center: { eles: node }, zoom }, { duration: 180 });
    }
    if (opts && opts.send) sendValue();
    return true;
  }

  function sendValue() {
    state.nonce += 1;
    const n = state.selected ? state.byId.get(state.selected) : null;
    // The ONNX nodes behind the selection, so the page can keep it when the view switches.
    const onnx = !n ? [] : n.kind === "layer" ? (n.fused || []).slice(0, 50) : [n.id];
    Streamlit.setValue({ selected: state.selected, graph: state.key, kind: state.graph.kind, onnx_nodes: onnx, nonce: state.nonce });
  }

  function link(id) {
    const n = state.byId.get(id);
    const text = n ? n.name : id;
    return `<a data-node="${esc(id)}" title="${esc(text)}">${esc(clip(text, 60))}</a>`;
  }

  function tensorRows(names, direction) {
    if (!names || !names.length) return "<p class='hint'>none</p>";
    const rows = names
      .filter((t) => t)
      .map((t) => {
        const info = state.tensors[t] || {};
        let who = "";
        if (direction === "in") {
          if (info.producer) who = "from " + link(info.producer);
          else who = esc(info.kind || "");
        } else {
          const consumers = (info.consumers || []).slice(0, 6);
          who = consumers.length ? "to " + consumers.map(link).join(", ") + ((info.consumers || []).length > 6 ? " …" : "") : esc(info.kind || "");
        }
        return `<tr><td class="k">${esc(clip(t, 48))}</td><td>${esc(info.dtype || "?")} [${esc(shapeText(info.shape))}]<br/>${who}</td></tr>`;
      });
    return `<table>${rows.join("")}</table>`;
  }

  function renderDetails(id) {
    const n = state.byId.get(id);
    if (!n) return;
    const parts = [];
    parts.push(`<h3>${esc(n.name)}</h3>`);
    const what = n.kind === "op" ? `<span class="op">${esc(n.op_type)}</span>${n.domain ? " · domain " + esc(n.domain) : ""}${n.index >= 0 ? " · node " + n.index : ""}` : n.kind === "layer" ? `<span class="op">${esc(n.op_type)}</span> · engine layer ${n.index}` : `<span class="op">graph ${esc(n.kind)}</span>`;
    parts.push(`<div>${what}</div>`);
    if (n.details && n.details.diff) {
      // The diff first: what happened to this node, and how it was paired.
      parts.push(`<div class="note diff ${esc(n.mark || "unchanged")}"><b>${esc(n.details.diff)}</b>` + (n.details["paired with"] ? `<div class="fixes">paired with ${esc(n.details["paired with"])}</div>` : "") + "</div>");
    }
    const ov = state.overlay;
    if (ov && ov.values && ov.values[id] != null) {
      const v = ov.values[id];
      const shown = typeof v === "number" ? `${v.toPrecision(4)} ${esc(ov.unit || "")}` : esc(v);
      parts.push(`<div class="value">${esc(ov.title)}: <b>${shown}</b></div>`);
    }
    const notes = n.notes || [];
    if (notes.length) {
      parts.push(`<h5>Diagnosis</h5>`);
      for (const note of notes) {
        parts.push(
          `<div class="note ${esc(note.severity)}"><b>${esc(note.source)}</b>: ${esc(note.message)}` +
            (note.fixes && note.fixes.length ? `<div class="fixes">fixes: ${note.fixes.map(esc).join("; ")}</div>` : "") +
            "</div>"
        );
      }
    }
    if (n.fused && n.fused.length) {
      parts.push(`<h5>Fused ONNX nodes (${n.fused.length})</h5><div>${n.fused.map((f) => esc(f)).join("<br/>")}</div>`);
    }
    const details = n.details || {};
    const detailKeys = Object.keys(details);
    if (detailKeys.length) {
      parts.push(`<h5>Details</h5><table>${detailKeys.map((k) => `<tr><td class="k">${esc(k)}</td><td>${esc(details[k])}</td></tr>`).join("")}</table>`);
    }
    const attrs = n.attributes || {};
    const attrKeys = Object.keys(attrs);
    if (attrKeys.length) {
      parts.push(`<h5>Attributes</h5><table>${attrKeys.map((k) => `<tr><td class="k">${esc(k)}</td><td>${esc(attrs[k])}</td></tr>`).join("")}</table>`);
    }
    if (n.subgraphs && n.subgraphs.length) parts.push(`<h5>Subgraphs</h5><div>${n.subgraphs.map(esc).join("<br/>")}</div>`);
    if (n.kind !== "input") parts.push(`<h5>Inputs</h5>${tensorRows(n.inputs, "in")}`);
    if (n.kind !== "output") parts.push(`<h5>Outputs</h5>${tensorRows(n.outputs, "out")}`);
    parts.push(`<h5>Producers</h5><div>${n.producers.length ? n.producers.map(link).join("<br/>") : "<span class='hint'>none</span>"}</div>`);
    parts.push(`<h5>Consumers</h5><div>${n.consumers.length ? n.consumers.map(link).join("<br/>") : "<span class='hint'>none</span>"}</div>`);
    const el = $("details");
    el.innerHTML = parts.join("");
    el.scrollTop = 0;
  }

  $("details").addEventListener("click", (ev) => {
    const a = ev.target.closest("a[data-node]");
    if (a) select(a.getAttribute("data-node"), { center: true, send: true });
  });

  // ------------------------------------------------------------------ search ("Find node")
  let results = [];
  let active = 0;

  function search(text) {
    const q = text.trim().toLowerCase();
    if (!q || !state.graph) return [];
    const exact = [];
    const starts = [];
    const contains = [];
    for (const n of state.graph.nodes) {
      const name = (n.name || "").toLowerCase();
      const id = n.id.toLowerCase();
      const item = { id: n.id, text: n.name, what: n.op_type || n.kind };
      if (name === q || id === q) exact.push(item);
      else if (name.startsWith(q)) starts.push(item);
      else if (name.includes(q) || (n.op_type || "").toLowerCase() === q) contains.push(item);
    }
    for (const [t, info] of Object.entries(state.tensors)) {
      const name = t.toLowerCase();
      const target = info.producer || (info.consumers || [])[0];
      if (!target) continue;
      const item = { id: target, text: t, what: "tensor → " + (state.byId.get(target) || { name: target }).name };
      if (name === q) exact.push(item);
      else if (name.includes(q) && contains.length < 200) contains.push(item);
    }
    return exact.concat(starts, contains).slice(0, 60);
  }

  function showResults() {
    const box = $("results");
    if (!results.length) {
      box.hidden = true;
      return;
    }
    box.innerHTML = results
      .map((r, i) => `<div data-i="${i}" class="${i === active ? "active" : ""}">${esc(clip(r.text, 70))}<span class="what">${esc(r.what)}</span></div>`)
      .join("");
    box.hidden = false;
  }

  function choose(i) {
    const r = results[i];
    if (!r) return;
    $("results").hidden = true;
    select(r.id, { center: true, send: true });
  }

  $("find").addEventListener("input", (ev) => {
    results = search(ev.target.value);
    active = 0;
    showResults();
    if (state.cy) {
      state.cy.batch(() => {
        state.cy.nodes().removeClass("hit");
        if (ev.target.value.trim().length >= 2) for (const r of results.slice(0, 60)) state.cy.getElementById(r.id).addClass("hit");
      });
    }
  });
  $("find").addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowDown") {
      active = Math.min(active + 1, results.length - 1);
      showResults();
      ev.preventDefault();
    } else if (ev.key === "ArrowUp") {
      active = Math.max(active - 1, 0);
      showResults();
      ev.preventDefault();
    } else if (ev.key === "Enter") {
      if (!results.length) results = search(ev.target.value);
      choose(active);
      ev.preventDefault();
    } else if (ev.key === "Escape") {
      $("results").hidden = true;
    }
  });
  $("results").addEventListener("mousedown", (ev) => {
    const row = ev.target.closest("[data-i]");
    if (row) {
      ev.preventDefault();
      choose(Number(row.getAttribute("data-i")));
    }
  });
  $("find").addEventListener("blur", () => setTimeout(() => ($("results").hidden = true), 150));

  // ------------------------------------------------------------------ toolbar
  $("fit").addEventListener("click", () => state.cy && fit(state.cy, 20));
  $("prev-change").addEventListener("click", () => stepChange(-1));
  $("next-change").addEventListener("click", () => stepChange(1));
  $("zoom-in").addEventListener("click", () => zoomBy(1.4));
  $("zoom-out").addEventListener("click", () => zoomBy(1 / 1.4));
  $("path").addEventListener("change", () => {
    if (state.selected) highlightPath(state.cy.getElementById(state.selected));
  });
  $("show-minimap").addEventListener("change", (ev) => {
    $("minimap").style.display = ev.target.checked ? "" : "none";
    scheduleMinimap();
  });

  function zoomBy(f) {
    const cy = state.cy;
    if (!cy) return;
    cy.zoom({ level: cy.zoom() * f, renderedPosition: { x: cy.width() / 2, y: cy.height() / 2 } });
  }

  function setStatus(text) {
    $("status").textContent = text || "";
  }

  // ------------------------------------------------------------------ overview (minimap)
  function drawMinimapBase() {
    const cy = state.cy;
    const canvas = $("minimap");
    if (!cy) return;
    const W = canvas.width;
    const H = canvas.height;
    const bb = state.bbox;
    const scale = Math.min((W - 8) / Math.max(bb.w, 1), (H - 8) / Math.max(bb.h, 1));
    const mm = state.minimap;
    mm.scale = scale;
    mm.ox = (W - bb.w * scale) / 2 - bb.x1 * scale;
    mm.oy = (H - bb.h * scale) / 2 - bb.y1 * scale;
    const base = document.createElement("canvas");
    base.width = W;
    base.height = H;
    const ctx = base.getContext("2d");
    cy.nodes().forEach((node) => {
      const p = node.position();
      const w = Math.max(1.5, node.data("w") * scale);
      const h = Math.max(1.5, node.data("h") * scale);
      ctx.fillStyle = node.data("color");
      ctx.fillRect(p.x * scale + mm.ox - w / 2, p.y * scale + mm.oy - h / 2, w, h);
    });
    mm.base = base;
    drawMinimap();
  }

  let minimapQueued = false;
  function scheduleMinimap() {
    if (minimapQueued) return;
    minimapQueued = true;
    requestAnimationFrame(() => {
      minimapQueued = false;
      drawMinimap();
    });
  }

  function drawMinimap() {
    const canvas = $("minimap");
    const mm = state.minimap;
    if (!state.cy || !mm.base || canvas.style.display === "none") return;
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(mm.base, 0, 0);
    const ext = state.cy.extent();
    ctx.strokeStyle = "#0969da";
    ctx.lineWidth = 1.5;
    ctx.fillStyle = "rgba(9,105,218,0.08)";
    const x = ext.x1 * mm.scale + mm.ox;
    const y = ext.y1 * mm.scale + mm.oy;
    ctx.fillRect(x, y, ext.w * mm.scale, ext.h * mm.scale);
    ctx.strokeRect(x, y, ext.w * mm.scale, ext.h * mm.scale);
  }

  function minimapTo(ev) {
    const canvas = $("minimap");
    const rect = canvas.getBoundingClientRect();
    const mm = state.minimap;
    const cx = ((ev.clientX - rect.left) * (canvas.width / rect.width) - mm.ox) / mm.scale;
    const cyy = ((ev.clientY - rect.top) * (canvas.height / rect.height) - mm.oy) / mm.scale;
    const cy = state.cy;
    cy.pan({ x: cy.width() / 2 - cx * cy.zoom(), y: cy.height() / 2 - cyy * cy.zoom() });
  }
  let dragging = false;
  $("minimap").addEventListener("mousedown", (ev) => {
    dragging = true;
    minimapTo(ev);
  });
  window.addEventListener("mousemove", (ev) => dragging && minimapTo(ev));
  window.addEventListener("mouseup", () => (dragging = false));

  // ------------------------------------------------------------------ render events
  function showMessage(text) {
    const el = $("message");
    el.textContent = text || "";
    el.hidden = !text;
  }

  function onRender(data) {
    const args = data.args || {};
    const theme = data.theme || {};
    document.body.classList.toggle("dark", theme.base === "dark");
    const height = Number(args.height) || 620;
    if (height !== state.height) {
      state.height = height;
      document.getElementById("app").style.height = height + "px";
      Streamlit.setFrameHeight(height);
    }
    const graph = args.graph;
    if (!graph || !graph.nodes) {
      showMessage("No graph to draw.");
      return;
    }
    showMessage("");
    let t0 = null;
    if (graph.key !== state.key) {
      document.body.dataset.ready = "0";
      t0 = build(graph);
      state.overlayId = null;
    } else {
      // Same layout; the overlays may carry new values (a new profile, a new build).
      state.graph.overlays = graph.overlays;
    }
    const tOverlay = performance.now();
    applyOverlay(args.overlay);
    if (t0 !== null) state.stats.overlayMs = Math.round(performance.now() - tOverlay);
    if (args.select && args.select !== state.lastSelectArg) {
      state.lastSelectArg = args.select;
      if (args.select !== state.selected) select(args.select, { center: true, send: false });
    } else if (!args.select) {
      state.lastSelectArg = null;
    }
    if (t0 !== null) {
      // Draw time: from the render message to the first frame cytoscape has painted.
      state.cy.one("render", () => {
        requestAnimationFrame(() => {
          const s = state.stats;
          s.drawMs = Math.round(performance.now() - t0);
          state.statsText = `${s.nodes.toLocaleString()} nodes · ${s.edges.toLocaleString()} edges · layout ${s.layoutMs} ms${s.layoutCached ? " (kept)" : ""} · drawn in ${s.drawMs} ms`;
          setStatus(state.statsText);
          document.body.dataset.ready = "1";
          document.body.dataset.drawMs = String(s.drawMs);
        });
      });
      state.cy.resize();
    }
  }

  window.addEventListener("message", (ev) => {
    const data = ev.data;
    if (data && data.type === "streamlit:render") {
      try {
        onRender(data);
      } catch (err) {
        showMessage("The graph could not be drawn: " + (err && err.message ? err.message : err));
        document.body.dataset.ready = "error";
        throw err;
      }
    }
  });
  Streamlit.ready();
})();
