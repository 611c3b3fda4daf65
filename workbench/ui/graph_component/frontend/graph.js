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
  // In a report (graph_model.graph_view_html) the arguments come with the page and nobody listens.
  const STATIC = window.__GRAPH_ARGS__ || null;
  const Streamlit = {
    send(type, data) {
      if (STATIC) return;
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
  window.__graph = state; // for tests and debugging: stats, the cytoscape instance, api

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

  // Open subgraphs: a box's padding around what it holds, the band its label takes above it,
  // and the gap between two bodies of one node (then_branch | else_branch).
  const BOX_PAD = 12;
  const BOX_LABEL = 18;
  const BOX_GAP = 24;

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
    { selector: "node.group", style: { shape: "round-rectangle", "border-width": 3, "border-style": "double", "border-color": "#57606a", "corner-radius": 4 } },
    { selector: "node.mark-added", style: { "border-width": 3, "border-color": "#1a7f37" } },
    { selector: "node.mark-changed", style: { "border-width": 3, "border-color": "#bc4c00" } },
    { selector: "node.mark-renamed", style: { "border-width": 2, "border-color": "#8250df" } },
    { selector: "node.mark-removed", style: { "border-width": 3, "border-color": "#a40e26", "border-style": "dashed", "background-opacity": 0.7 } },
    { selector: "node.sel", style: { "border-width": 4, "border-color": "#0969da", "underlay-color": "#0969da", "underlay-opacity": 0.25, "underlay-padding": 6 } },
    { selector: "node.hit", style: { "underlay-color": "#f2cc0c", "underlay-opacity": 0.5, "underlay-padding": 5 } },
    { selector: "node.faded", style: { opacity: 0.28 } },
    // A node holding subgraphs (If/Loop/Scan): closed, a double border; open, a compound box
    // around its bodies (one dashed box per body, labelled with the attribute).
    { selector: "node.holder", style: { "border-width": 3, "border-style": "double", "border-color": "#6639ba" } },
    {
      selector: "node.holder-open",
      style: { "background-opacity": 0.18, "text-valign": "top", "text-halign": "center", "text-margin-y": -3, padding: BOX_PAD, "border-width": 2, "border-style": "solid", "border-color": "#6639ba", "corner-radius": 8, "font-weight": "bold" },
    },
    {
      selector: "node.body-box",
      style: { "background-color": "#ffffff", "background-opacity": 0.92, "border-width": 1, "border-style": "dashed", "border-color": "#8c959f", "text-valign": "top", "text-halign": "center", "text-margin-y": -2, padding: BOX_PAD, color: "#57606a", "font-size": 10, "corner-radius": 4 },
    },
    { selector: "node.holder-open.sel", style: { "border-width": 4, "border-color": "#0969da" } },
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

  // Graphs above this many nodes start with their long chains of sections collapsed.
  const COLLAPSE_AT = 3000;
  // Collapsed sections aim at this many drawn boxes at most.
  const DRAWN_TARGET = 600;

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
    state.open = new Set();
    state.bodies = new Map(); // holder id -> [scope, ...]: its bodies, in order
    state.scopeAttr = new Map(); // scope ("<holder>/<attr>") -> attr
    const topOf = new Int32Array(nodes.length);
    nodes.forEach((n, i) => {
      // GraphData.to_wire() leaves out the defaults (and a body node's name, which ends its id).
      if (n.name == null) n.name = n.parent ? n.id.slice(n.parent.length + n.attr.length + 2) : n.id;
      if (n.kind == null) n.kind = "op";
      if (n.label == null) n.label = n.op_type || n.name;
      if (n.index == null) n.index = -1;
      index.set(n.id, i);
      state.byId.set(n.id, n);
      n.producers = [];
      n.consumers = [];
      // Bodies follow their holder in the graph's node order (graph_model._Bodies).
      const pi = n.parent ? index.get(n.parent) : undefined;
      topOf[i] = pi === undefined ? i : topOf[pi];
      if (n.parent) {
        n.scope = n.parent + "/" + n.attr;
        if (!state.bodies.has(n.parent)) state.bodies.set(n.parent, []);
        const list = state.bodies.get(n.parent);
        if (!list.includes(n.scope)) list.push(n.scope);
        state.scopeAttr.set(n.scope, n.attr);
      }
    });
    state.topOf = topOf;
    const edges = [];
    for (const e of graph.edges) {
      const s = index.get(e.source);
      const t = index.get(e.target);
      if (s === undefined || t === undefined) continue;
      edges.push([s, t, e.tensor || ""]);
      const src = nodes[s];
      const dst = nodes[t];
      if (!src.consumers.includes(dst.id)) src.consumers.push(dst.id);
      if (!dst.producers.includes(src.id)) dst.producers.push(src.id);
    }
    state.index = index;
    state.edges = edges;
    // Sections are cut in the main graph: a body's edges count as its top-level holder's.
    const topEdges = state.bodies.size ? edges.map(([s, t]) => [topOf[s], topOf[t]]).filter(([s, t]) => s !== t) : edges;
    state.groups = findSections(nodes, topEdges);
    state.groupOf = new Map();
    state.groups.forEach((g) => g.members.forEach((m) => state.groupOf.set(m, g)));
    const collapse = nodes.length > COLLAPSE_AT;
    state.groups.forEach((g) => (g.collapsed = collapse && !g.keep));
    $("collapse-wrap").hidden = !state.groups.length;
    $("collapse").checked = collapse;
    const bodyNodes = nodes.filter((n) => n.parent).length;
    state.stats = { nodes: nodes.length - bodyNodes, bodyNodes, holders: state.bodies.size, edges: edges.length, sections: state.groups.length };
    draw();
    state.stats.buildMs = Math.round(performance.now() - t0);
    // The diff's changes (added, removed, changed), in graph order, for the ◀ ▶ buttons.
    state.changes = nodes.filter((n) => n.mark === "added" || n.mark === "removed" || n.mark === "changed").map((n) => n.id);
    state.changeAt = -1;
    $("changes").hidden = !state.changes.length;
    $("changes-count").textContent = state.changes.length ? `${state.changes.length} changes` : "";
    return t0;
  }

  // Sections: runs of nodes between cut points of the graph in topological order (a point where
  // one node's output is the only live tensor: between two residual blocks, two transformer
  // layers). Consecutive sections are grouped into collapsible boxes of about `size` nodes; a
  // group holding an error, a finding or a diff mark starts expanded (keep).
  function findSections(nodes, edges) {
    const n = nodes.length;
    if (n < 400) return [];
    const out = Array.from({ length: n }, () => []);
    const indeg = new Int32Array(n);
    for (const [s, t] of edges) {
      out[s].push(t);
      indeg[t]++;
    }
    const order = [];
    const queue = [];
    for (let v = 0; v < n; v++) if (indeg[v] === 0) queue.push(v);
    for (let h = 0; h < queue.length; h++) {
      const v = queue[h];
      order.push(v);
      for (const w of out[v]) if (--indeg[w] === 0) queue.push(w);
    }
    if (order.length < n) return []; // a cycle: draw everything
    const pos = new Int32Array(n);
    order.forEach((v, i) => (pos[v] = i));
    const live = new Int32Array(n + 1);
    const lastUse = new Int32Array(n).fill(-1);
    for (const [s, t] of edges) lastUse[s] = Math.max(lastUse[s], pos[t]);
    for (let v = 0; v < n; v++) {
      if (lastUse[v] > pos[v]) {
        live[pos[v]] += 1;
        live[lastUse[v]] -= 1;
      }
    }
    const size = Math.max(6, Math.ceil(n / DRAWN_TARGET));
    const groups = [];
    let current = [];
    let running = 0;
    const flush = () => {
      const members = current.filter((v) => nodes[v].kind === "op" && !nodes[v].parent);
      if (members.length >= 3) {
        const keep = members.some((v) => nodes[v].mark || (nodes[v].notes || []).length);
        groups.push({ id: "section:" + groups.length, members: members.map((v) => nodes[v].id), keep, collapsed: false });
      }
      current = [];
    };
    for (let p = 0; p < n; p++) {
      running += live[p];
      const v = order[p];
      current.push(v);
      const cut = running === 1 && lastUse[v] > p;
      if (cut && current.length >= size) flush();
    }
    if (current.length) flush();
    return groups;
  }

  function groupProxy(g) {
    if (g.proxy) return g.proxy;
    const counts = new Map();
    for (const id of g.members) {
      const op = state.byId.get(id).op_type || "?";
      counts.set(op, (counts.get(op) || 0) + 1);
    }
    const top = Array.from(counts.entries()).sort((a, b) => b[1] - a[1]);
    const first = state.byId.get(g.members[0]);
    const last = state.byId.get(g.members[g.members.length - 1]);
    const lastOut = last && last.outputs && last.outputs[0] ? state.tensors[last.outputs[0]] : null;
    g.proxy = {
      id: g.id,
      kind: "group",
      name: `${g.members.length} nodes: ${first.name} … ${last.name}`,
      label: `${g.members.length} nodes`,
      sublabel: top.slice(0, 3).map(([op, c]) => `${op} ×${c}`).join(" · "),
      op_type: "",
      members: g.members,
      group: g,
      outputShape: lastOut ? shapeText(lastOut.shape) : "",
      producers: [],
      consumers: [],
    };
    return g.proxy;
  }

  // The layout with subgraphs open: every open body laid out on its own (deepest first), its
  // holder sized to hold its bodies side by side, then the main graph with those sizes, then
  // each body moved into its holder's box. An edge is laid out in the innermost scope that
  // holds both ends (an edge from outside into a body counts as one into the holder there);
  // only edges between two nodes of one scope get bends, the rest are drawn straight.
  function composeLayout(visible, edges, baseSizes, slot) {
    const t0 = performance.now();
    const m = visible.length;
    const sizes = baseSizes.slice();
    const scopeOf = visible.map((n) => (n.parent ? n.scope : ""));
    const up = visible.map((n) => (n.parent ? slot.get(n.parent) : -1));
    const depth = new Int32Array(m);
    for (let i = 0; i < m; i++) depth[i] = up[i] >= 0 ? depth[up[i]] + 1 : 0;
    const scopes = new Map(); // scope -> {items: [visible index], edges: [[a, b]], direct: [global k]}
    const scopeOfItem = (s) => {
      if (!scopes.has(s)) scopes.set(s, { items: [], edges: [], direct: [], depth: 0 });
      return scopes.get(s);
    };
    scopeOfItem("");
    const local = new Int32Array(m);
    for (let i = 0; i < m; i++) {
      const sc = scopeOfItem(scopeOf[i]);
      local[i] = sc.items.length;
      sc.items.push(i);
      sc.depth = depth[i];
    }
    edges.forEach(([a, b], k) => {
      let x = a;
      let y = b;
      while (depth[x] > depth[y]) x = up[x];
      while (depth[y] > depth[x]) y = up[y];
      while (scopeOf[x] !== scopeOf[y]) {
        x = up[x];
        y = up[y];
      }
      if (x === y) return;
      const sc = scopes.get(scopeOf[x]);
      sc.edges.push([local[x], local[y]]);
      sc.direct.push(x === a && y === b ? k : -1);
    });
    const rel = new Map(); // scope -> {x, y, w, h, bends: [[k, pts]]}: positions from the box's top left
    const order = Array.from(scopes.keys()).filter((s) => s).sort((p, q) => scopes.get(q).depth - scopes.get(p).depth);
    let ranks = 0;
    let crossings = 0;
    const layScope = (s) => {
      const sc = scopes.get(s);
      const lay = window.GraphLayout.layout(sc.items.length, sc.edges, sc.items.map((i) => sizes[i]));
      ranks = Math.max(ranks, lay.ranks || 0);
      crossings += lay.crossings || 0;
      let x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
      sc.items.forEach((i, j) => {
        x1 = Math.min(x1, lay.x[j] - sizes[i][0] / 2);
        x2 = Math.max(x2, lay.x[j] + sizes[i][0] / 2);
        y1 = Math.min(y1, lay.y[j] - sizes[i][1] / 2);
        y2 = Math.max(y2, lay.y[j] + sizes[i][1] / 2);
      });
      return { lay, x1, y1, w: x2 - x1, h: y2 - y1 };
    };
    // Deepest first: a body's holders are sized before the body is laid out; each body then
    // resizes its own holder (its bodies side by side, its label band above them).
    for (const s of order) {
      rel.set(s, layScope(s));
      const holderId = s.slice(0, s.length - state.scopeAttr.get(s).length - 1);
      const hi = slot.get(holderId);
      if (hi === undefined) continue;
      let w = 0;
      let h = 0;
      const list = state.bodies.get(holderId).filter((q) => rel.has(q));
      for (const q of list) {
        const r = rel.get(q);
        w += r.w + 2 * BOX_PAD;
        h = Math.max(h, r.h + 2 * BOX_PAD + BOX_LABEL);
      }
      sizes[hi] = [Math.round(Math.max(w + BOX_GAP * (list.length - 1), baseSizes[hi][0]) + 2 * BOX_PAD), Math.round(h + 2 * BOX_PAD + BOX_LABEL)];
    }
    const top = layScope("");
    const x = new Float64Array(m);
    const y = new Float64Array(m);
    const bends = new Array(edges.length).fill(null);
    const place = (s, ox, oy, r) => {
      const sc = scopes.get(s);
      sc.items.forEach((i, j) => {
        x[i] = r.lay.x[j] - r.x1 + ox;
        y[i] = r.lay.y[j] - r.y1 + oy;
      });
      sc.direct.forEach((k, e) => {
        const pts = r.lay.bends[e];
        if (k < 0 || !pts) return;
        bends[k] = pts.map((v, p) => (p % 2 ? v - r.y1 + oy : v - r.x1 + ox));
      });
    };
    place("", top.x1, top.y1, top);
    const boxes = [];
    // Outer scopes first: a holder's place is known before its bodies go into it.
    for (const s of order.slice().reverse()) {
      const holderId = s.slice(0, s.length - state.scopeAttr.get(s).length - 1);
      const hi = slot.get(holderId);
      if (hi === undefined) continue;
      const list = state.bodies.get(holderId).filter((q) => rel.has(q));
      const [W, H] = sizes[hi];
      let left = x[hi] - W / 2 + BOX_PAD;
      const boxTop = y[hi] - H / 2 + BOX_LABEL + BOX_PAD;
      for (const q of list) {
        const r = rel.get(q);
        if (q === s) {
          place(s, left + BOX_PAD, boxTop + BOX_LABEL + BOX_PAD, r);
          boxes.push({ id: "body:" + s, holder: holderId, scope: s, label: state.scopeAttr.get(s), x1: left, y1: boxTop, x2: left + r.w + 2 * BOX_PAD, y2: boxTop + BOX_LABEL + r.h + 2 * BOX_PAD });
        }
        left += r.w + 2 * BOX_PAD + BOX_GAP;
      }
    }
    return { x, y, bends, sizes, boxes, ms: performance.now() - t0, ranks: Math.max(ranks, top.lay.ranks || 0), crossings: crossings + (top.lay.crossings || 0) };
  }

  function hashText(text) {
    let h = 5381;
    for (let i = 0; i < text.length; i++) h = ((h * 33) ^ text.charCodeAt(i)) >>> 0;
    return h.toString(36);
  }

  // Draw what is visible: every node outside a collapsed section, one box per collapsed one.
  function draw(anchor) {
    const t0 = performance.now();
    const graph = state.graph;
    const all = graph.nodes;
    const rep = new Array(all.length);
    const visible = [];
    const slot = new Map();
    // A body node is drawn when its holder is drawn as itself and open; else it is part of
    // whatever its holder is drawn as (the holder's box, or the holder's collapsed section).
    const self = new Uint8Array(all.length);
    let anyOpen = false;
    all.forEach((n, i) => {
      if (n.parent) {
        const pi = state.index.get(n.parent);
        if (pi !== undefined && !(self[pi] && state.open.has(n.parent))) {
          rep[i] = rep[pi];
          return;
        }
        anyOpen = true;
      }
      const g = state.groupOf.get(n.id);
      const id = g && g.collapsed ? g.id : n.id;
      if (!slot.has(id)) {
        slot.set(id, visible.length);
        visible.push(g && g.collapsed ? groupProxy(g) : n);
      }
      self[i] = g && g.collapsed ? 0 : 1;
      rep[i] = slot.get(id);
    });
    for (const g of state.groups) if (g.proxy) g.proxy.producers = g.proxy.consumers = [];
    const pairSeen = new Set();
    const edges = [];
    const edgeTensors = [];
    for (const [s, t, tensor] of state.edges) {
      const a = rep[s];
      const b = rep[t];
      if (a === b) continue;
      const k = a * 4294967296 + b;
      if (pairSeen.has(k)) continue;
      pairSeen.add(k);
      edges.push([a, b]);
      edgeTensors.push(tensor);
      if (visible[a].kind === "group" && !visible[a].consumers.includes(visible[b].id)) visible[a].consumers.push(visible[b].id);
      if (visible[b].kind === "group" && !visible[b].producers.includes(visible[a].id)) visible[b].producers.push(visible[a].id);
    }
    let sizes = visible.map(nodeSize);
    const collapsedSig = state.groups.filter((g) => g.collapsed).map((g) => g.id).join(",");
    let lay;
    let boxes = [];
    if (anyOpen) {
      // Open subgraphs: each body laid out on its own, inside its holder's box (not cached:
      // bodies are small, and which are open changes with every double-click).
      const composed = composeLayout(visible, edges, sizes, slot);
      lay = composed;
      sizes = composed.sizes;
      boxes = composed.boxes;
    } else {
      lay = cachedLayout(state.key + (collapsedSig ? ":" + hashText(collapsedSig) : ""), () => window.GraphLayout.layout(visible.length, edges, sizes));
    }
    const tLayout = performance.now();
    // The drawing's extent from the layout (cytoscape's boundingBox() would measure every label).
    const bb = { x1: Infinity, y1: Infinity, x2: -Infinity, y2: -Infinity };
    visible.forEach((n, i) => {
      bb.x1 = Math.min(bb.x1, lay.x[i] - sizes[i][0] / 2);
      bb.x2 = Math.max(bb.x2, lay.x[i] + sizes[i][0] / 2);
      bb.y1 = Math.min(bb.y1, lay.y[i] - sizes[i][1] / 2);
      bb.y2 = Math.max(bb.y2, lay.y[i] + sizes[i][1] / 2);
    });
    if (!visible.length) Object.assign(bb, { x1: 0, y1: 0, x2: 1, y2: 1 });
    bb.w = bb.x2 - bb.x1;
    bb.h = bb.y2 - bb.y1;
    state.bbox = bb;
    state.layout = { x: lay.x, y: lay.y, visible, bends: lay.bends, sizes, boxes };
    const elements = [];
    visible.forEach((n, i) => {
      const label = clip(n.label, 28);
      const sub = clip(n.sublabel || "", 30);
      const classes = [];
      if (n.kind === "input" || n.kind === "output") classes.push("io");
      if (n.kind === "group") classes.push("group");
      const notes = n.notes || [];
      if (notes.some((x) => x.severity === "error")) classes.push("has-error");
      else if (notes.some((x) => x.severity === "warning")) classes.push("has-warning");
      if (n.mark) classes.push("mark-" + n.mark);
      const opened = state.bodies.has(n.id) && anyOpen && state.open.has(n.id);
      if (state.bodies.has(n.id)) classes.push(opened ? "holder-open" : "holder");
      const data = { id: n.id, text: sub ? label + "\n" + sub : label, w: sizes[i][0], h: sizes[i][1], color: "#d9d9d9", fg: "#1f2328" };
      if (opened) data.text = `${n.op_type} ${clip(n.name, 40)}`;
      if (n.parent) data.parent = "body:" + n.scope;
      elements.push({ group: "nodes", data, position: { x: lay.x[i], y: lay.y[i] }, classes: classes.join(" ") });
    });
    // The bodies' boxes: children of their holder, parents of their nodes.
    const boxEls = new Map();
    for (const b of boxes) {
      const el = { group: "nodes", data: { id: b.id, parent: b.holder, text: b.label, color: "#ffffff", fg: "#57606a", w: 10, h: 10 }, classes: "body-box" };
      const at = slot.get(b.holder);
      if (!boxEls.has(at)) boxEls.set(at, []);
      boxEls.get(at).push(el);
    }
    const withBoxes = (list) => {
      if (!boxEls.size) return list;
      // A parent is added before its children: each box right after its holder.
      const out = [];
      for (const el of list) {
        out.push(el);
        if (el.group === "nodes" && boxEls.has(slot.get(el.data.id))) out.push(...boxEls.get(slot.get(el.data.id)));
      }
      return out;
    };
    edges.forEach(([s, t], k) => {
      const data = { id: "e" + k, source: visible[s].id, target: visible[t].id, tensor: edgeTensors[k] };
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
    const old = state.cy;
    const view = targetView(visible, lay, anchor && old ? { id: anchor.id, zoom: old.zoom(), at: anchor.rendered } : null);
    if (old) old.destroy();
    state.marked = null;
    state.drawGen = (state.drawGen || 0) + 1;
    // Large drawings come in progressively: first what the view shows (and a screen around
    // it), then the rest nearest first, a chunk per task, so the first frame does not wait.
    let first = elements;
    let chunks = [];
    if (visible.length > PROGRESSIVE_AT) {
      const order = visible.map((_, i) => i).sort((a, b) => Math.abs(lay.y[a] - view.cy) - Math.abs(lay.y[b] - view.cy));
      const chunkOf = new Int32Array(visible.length);
      let head = 0;
      while (head < order.length && Math.abs(lay.y[order[head]] - view.cy) <= view.reach) head++;
      head = Math.max(head, Math.min(order.length, 150));
      // Chunks double in size: few additions (each one restyles what is drawn), the first soon.
      let count = 1;
      for (let k = head, size = CHUNK; k < order.length; size *= 2, count++) {
        const end = Math.min(order.length, k + size);
        for (; k < end; k++) chunkOf[order[k]] = count;
      }
      for (let k = 0; k < head; k++) chunkOf[order[k]] = 0;
      // Open holders and their bodies come at once (a child needs its parent box drawn).
      if (anyOpen) visible.forEach((n, i) => { if (n.parent || (state.open.has(n.id) && state.bodies.has(n.id))) chunkOf[i] = 0; });
      const buckets = Array.from({ length: count }, () => []);
      visible.forEach((_, i) => buckets[chunkOf[i]].push(elements[i]));
      edges.forEach(([a, b], k) => buckets[Math.max(chunkOf[a], chunkOf[b])].push(elements[visible.length + k]));
      first = buckets[0];
      chunks = buckets.slice(1);
    }
    first = withBoxes(first);
    const tElements = performance.now();
    const big = visible.length > 700;
    const cy = cytoscape({
      container: $("cy"),
      elements: first,
      zoom: view.zoom,
      pan: view.pan,
      style: STYLE,
      layout: { name: "preset" },
      minZoom: 0.02,
      maxZoom: 4,
      boxSelectionEnabled: false,
      autoungrabify: true,
      textureOnViewport: big,
      hideEdgesOnViewport: visible.length > 4000,
      motionBlur: false,
      pixelRatio: big ? 1 : "auto",
    });
    state.cy = cy;
    const tCy = performance.now();
    // Delegated handlers see the element tapped (ev.target), not the compounds around it: a
    // double-click on a body node does not close the holder it is drawn in.
    cy.on("tap", "node", (ev) => {
      const id = ev.target.id();
      // A tap on a body's box (around its nodes) is one on the node that holds the body.
      const box = state.boxOf.get(id);
      select(box ? box.holder : id, { center: false, send: true });
    });
    cy.on("dbltap", "node.group", (ev) => expand(ev.target.id()));
    cy.on("dbltap", "node.holder", (ev) => openBody(ev.target.id()));
    cy.on("dbltap", "node.holder-open", (ev) => closeBody(ev.target.id()));
    cy.on("dbltap", "node.body-box", (ev) => closeBody(state.boxOf.get(ev.target.id()).holder));
    cy.on("tap", (ev) => {
      if (ev.target === cy) clearSelection(true);
    });
    cy.on("mouseover", "node", (ev) => {
      const n = state.byId.get(ev.target.id()) || visible[slot.get(ev.target.id())];
      const hint = n && state.bodies.has(n.id) ? (ev.target.isParent() ? " · double-click to close its subgraphs" : " · double-click to open its subgraphs") : "";
      if (n) setStatus(n.name + (n.op_type ? " · " + n.op_type : n.kind === "group" ? " · double-click to expand" : "") + hint);
    });
    cy.on("mouseout", "node", () => setStatus(state.statsText));
    cy.on("viewport", scheduleMinimap);
    state.visibleById = new Map(visible.map((n) => [n.id, n]));
    state.boxOf = new Map(boxes.map((b) => [b.id, b]));
    const inEdges = visible.map(() => []);
    const outEdges = visible.map(() => []);
    edges.forEach(([a, b], k) => {
      outEdges[a].push(k);
      inEdges[b].push(k);
    });
    state.vis = { ids: visible.map((n) => n.id), index: slot, edges, inEdges, outEdges };
    state.loading = chunks.length ? { left: chunks.length } : null;
    document.body.dataset.complete = chunks.length ? "0" : "1";
    if (chunks.length) loadChunks(chunks, state.drawGen, t0);
    $("title").textContent = graph.title || "";
    const collapsed = state.groups.filter((g) => g.collapsed).length;
    Object.assign(state.stats, {
      drawnNodes: visible.length,
      openBodies: anyOpen ? visible.filter((n) => state.open.has(n.id) && state.bodies.has(n.id)).length : 0,
      drawnBodyNodes: anyOpen ? visible.filter((n) => n.parent).length : 0,
      drawnEdges: edges.length,
      collapsedGroups: collapsed,
      layoutMs: Math.round(tLayout - t0),
      layoutCached: !!lay.cached,
      elementsMs: Math.round(tElements - tLayout),
      cytoscapeMs: Math.round(tCy - tElements),
      pureLayoutMs: Math.round(lay.ms || 0),
      ranks: lay.ranks,
      crossings: lay.crossings,
      progressiveChunks: chunks.length,
      firstChunkNodes: first.filter((e) => e.group === "nodes").length,
    });
    state.minimap.bbox = null;
  }

  const PROGRESSIVE_AT = 800;
  const CHUNK = 400;

  function loadChunks(chunks, gen, t0) {
    let k = 0;
    const step = () => {
      if (gen !== state.drawGen) return; // redrawn meanwhile
      const added = state.cy.add(chunks[k++]);
      if (state.paint) state.cy.batch(() => added.nodes().forEach(state.paint));
      if (state.pendingSelect && state.cy.getElementById(state.pendingSelect).nonempty()) {
        const id = state.pendingSelect;
        state.pendingSelect = null;
        select(id, { center: true, send: false });
      }
      if (k < chunks.length) {
        setTimeout(step, 0);
        return;
      }
      state.loading = null;
      state.stats.completeMs = Math.round(performance.now() - t0);
      if (state.selected) highlightPath(state.cy.getElementById(state.selected));
      document.body.dataset.complete = "1";
    };
    setTimeout(step, 0);
  }

  // The view a drawing opens on, in model coordinates: a graph that fits readably is fitted;
  // a tall one starts at a readable zoom on its inputs (the top), like Netron; a redraw after
  // expanding keeps its anchor node where it was on screen.
  function targetView(visible, lay, keep) {
    const el = $("cy");
    const W = el.clientWidth || 800;
    const H = el.clientHeight || 600;
    const bb = state.bbox;
    if (keep) {
      const i = visible.findIndex((n) => n.id === keep.id);
      const px = i >= 0 ? lay.x[i] : (bb.x1 + bb.x2) / 2;
      const py = i >= 0 ? lay.y[i] : (bb.y1 + bb.y2) / 2;
      const zoom = keep.zoom;
      return { zoom, pan: { x: keep.at.x - px * zoom, y: keep.at.y - py * zoom }, cy: py, reach: (1.5 * H) / zoom };
    }
    const fitZoom = Math.min((W - 40) / Math.max(bb.w, 1), (H - 40) / Math.max(bb.h, 1));
    if (fitZoom >= 0.6) {
      const zoom = Math.min(1.4, fitZoom);
      const cx = (bb.x1 + bb.x2) / 2;
      const cyy = (bb.y1 + bb.y2) / 2;
      return { zoom, pan: { x: W / 2 - cx * zoom, y: H / 2 - cyy * zoom }, cy: cyy, reach: Infinity };
    }
    const zoom = 0.85;
    let top = 0;
    for (let i = 1; i < visible.length; i++) if (lay.y[i] < lay.y[top]) top = i;
    const x = visible.length ? lay.x[top] : (bb.x1 + bb.x2) / 2;
    const pan = { x: W / 2 - x * zoom, y: 20 - bb.y1 * zoom };
    return { zoom, pan, cy: bb.y1 + H / zoom / 2, reach: (1.5 * H) / zoom };
  }

  // Expand a collapsed section in place (the box's place on screen keeps its first member).
  function expand(groupId, thenSelect) {
    const g = state.groups.find((x) => x.id === groupId);
    if (!g || !g.collapsed) return false;
    const cy = state.cy;
    const box = cy.getElementById(groupId);
    const rendered = box.nonempty() ? box.renderedPosition() : { x: cy.width() / 2, y: cy.height() / 2 };
    g.collapsed = false;
    redraw({ id: thenSelect || g.members[0], rendered });
    return true;
  }

  function collapseGroup(groupId) {
    const g = state.groups.find((x) => x.id === groupId);
    if (!g || g.collapsed) return;
    const cy = state.cy;
    const first = cy.getElementById(g.members[0]);
    const rendered = first.nonempty() ? first.renderedPosition() : { x: cy.width() / 2, y: cy.height() / 2 };
    g.collapsed = true;
    redraw({ id: g.id, rendered });
  }

  // Open a node's subgraphs in place (its box grows around them, and keeps its top left where
  // it was on screen); closing puts the node back. Nested bodies open one level at a time and
  // stay open inside a closed holder, for when it opens again.
  function openBody(holderId, thenSelect) {
    if (!state.bodies.has(holderId) || state.open.has(holderId)) return false;
    const cy = state.cy;
    const node = cy.getElementById(holderId);
    const bb = node.nonempty() ? node.renderedBoundingBox() : null;
    state.open.add(holderId);
    redrawKeepingCorner(holderId, bb, thenSelect);
    return true;
  }

  function closeBody(holderId) {
    if (!state.open.has(holderId)) return false;
    const cy = state.cy;
    const node = cy.getElementById(holderId);
    const bb = node.nonempty() ? node.renderedBoundingBox() : null;
    state.open.delete(holderId);
    redrawKeepingCorner(holderId, bb);
    return true;
  }

  function redrawKeepingCorner(holderId, bb, thenSelect) {
    const cy = state.cy;
    const sizeOf = () => {
      const i = state.layout.visible.findIndex((n) => n.id === holderId);
      return i >= 0 ? state.layout.sizes[i] : [0, 0];
    };
    const before = sizeOf();
    const centre = bb ? { x: (bb.x1 + bb.x2) / 2, y: (bb.y1 + bb.y2) / 2 } : { x: cy.width() / 2, y: cy.height() / 2 };
    redraw({ id: holderId, rendered: centre });
    // The holder's top left corner stays where it was on screen: the graph grows right and
    // down from there, as a folder opens in a tree.
    const after = sizeOf();
    const zoom = state.cy.zoom();
    state.cy.panBy({ x: ((after[0] - before[0]) / 2) * zoom, y: ((after[1] - before[1]) / 2) * zoom });
    scheduleMinimap();
    if (thenSelect) select(thenSelect, { center: true, send: false });
  }

  // Open what hides a node: the bodies around it (outermost first) and the collapsed section
  // its top-level holder is in. True when something opened.
  function reveal(id) {
    let changed = false;
    let n = state.byId.get(id);
    while (n && n.parent) {
      if (!state.open.has(n.parent)) {
        state.open.add(n.parent);
        changed = true;
      }
      n = state.byId.get(n.parent);
    }
    const g = n && state.groupOf.get(n.id);
    if (g && g.collapsed) {
      g.collapsed = false;
      changed = true;
    }
    return changed;
  }

  function redraw(anchor) {
    const selected = state.selected;
    draw(anchor);
    applyOverlay(state.overlayId);
    updateStatsText();
    if (selected) select(shownId(selected), { center: false, send: false });
  }

  function updateStatsText() {
    const s = state.stats;
    const drawn = s.drawnNodes !== s.nodes && s.collapsedGroups ? ` (${s.drawnNodes.toLocaleString()} drawn, ${s.collapsedGroups} sections collapsed)` : "";
    const bodies = s.holders ? ` · ${s.holders} node(s) with subgraphs (${s.bodyNodes.toLocaleString()} body nodes, ${s.openBodies} open)` : "";
    state.statsText = `${s.nodes.toLocaleString()} nodes${drawn}${bodies} · ${s.edges.toLocaleString()} edges · layout ${s.layoutMs} ms${s.layoutCached ? " (kept)" : ""}` + (s.drawMs != null ? ` · drawn in ${s.drawMs} ms` : "");
    setStatus(state.statsText);
  }

  // A node id as drawn: itself, the closed holder of the body it is in, or the collapsed
  // section that holds it.
  function shownId(id) {
    let n = state.byId && state.byId.get(id);
    let shown = id;
    while (n && n.parent) {
      if (!state.open.has(n.parent)) shown = n.parent;
      n = state.byId.get(n.parent);
    }
    const g = state.groupOf && state.groupOf.get(shown);
    return g && g.collapsed ? g.id : shown;
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

  // ------------------------------------------------------------------ overlays and legend
  function applyOverlay(overlayId) {
    const graph = state.graph;
    const overlays = graph.overlays || [];
    const overlay = overlays.find((o) => o.id === overlayId) || overlays[0] || null;
    state.overlay = overlay;
    state.overlayId = overlay ? overlay.id : null;
    const colors = overlay ? overlay.colors || {} : {};
    const cats = overlay && overlay.kind === "category" && !overlay.colors ? overlay.category_colors || {} : null;
    const colorOf = (id) => {
      let c = colors[id];
      if (!c && cats && overlay.values[id] != null) c = cats[overlay.values[id]];
      return c || "#d9d9d9";
    };
    const shownColor = (id) => {
      const shown = state.visibleById.get(id);
      if (!shown || shown.kind !== "group") return colorOf(id);
      // A collapsed section: the colour most of its nodes have.
      const votes = new Map();
      for (const m of shown.members) {
        const mc = colorOf(m);
        votes.set(mc, (votes.get(mc) || 0) + (mc === "#d9d9d9" ? 0.01 : 1));
      }
      return Array.from(votes.entries()).sort((a, b) => b[1] - a[1])[0][0];
    };
    state.shownColor = shownColor;
    state.paint = (node) => {
      const c = shownColor(node.id());
      node.data({ color: c, fg: textColor(c) });
    };
    state.cy.batch(() => state.cy.nodes().forEach(state.paint));
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

  const PATH_CAP = 3000;

  function walk(id, direction) {
    const vis = state.vis;
    const cy = state.cy;
    const start = vis.index.get(id);
    const out = [];
    if (start === undefined) return cy.collection();
    const seen = new Uint8Array(vis.ids.length);
    seen[start] = 1;
    // Breadth first, nearest first, and at most PATH_CAP elements: on a 10,000-node chain the
    // whole graph is upstream of its last node, and restyling all of it is what would cost.
    const stack = [start];
    const adj = direction === "up" ? vis.inEdges : vis.outEdges;
    for (let head = 0; head < stack.length && out.length < PATH_CAP; head++) {
      const v = stack[head];
      for (const k of adj[v]) {
        const e = cy.getElementById("e" + k);
        if (e.empty()) continue; // a chunk still to come
        out.push(e);
        const w = direction === "up" ? vis.edges[k][0] : vis.edges[k][1];
        if (!seen[w]) {
          seen[w] = 1;
          out.push(cy.getElementById(vis.ids[w]));
          stack.push(w);
        }
      }
    }
    return cy.collection(out);
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
      // Our own walk over the drawn edges: cytoscape's predecessors() grows its collection by
      // unions, quadratic on a deep chain (a minute for 10,000 nodes).
      const upstream = walk(node.id(), "up");
      const downstream = walk(node.id(), "down");
      upstream.edges().addClass("up");
      downstream.edges().addClass("down");
      const keep = upstream.union(downstream).union(node);
      state.marked = keep;
      if (cy.nodes().length <= 800) {
        // Small graphs also fade what is off the path (on large ones the coloured edges say it).
        // Not the bodies' boxes and open holders: a compound's opacity would fade its nodes too.
        const rest = cy.elements().difference(keep).not(":parent");
        rest.addClass("faded");
        state.marked = keep.union(rest);
      }
    });
  }

  function select(id, opts) {
    const hidden = state.byId && state.byId.has(id) ? shownId(id) : id;
    if (hidden !== id && reveal(id)) {
      // A node inside a collapsed section or a closed subgraph: open them in place (where the
      // box that held it was on screen), then select the node.
      const cy0 = state.cy;
      const box = cy0.getElementById(hidden);
      const rendered = box.nonempty() ? box.renderedPosition() : { x: cy0.width() / 2, y: cy0.height() / 2 };
      draw({ id, rendered });
      applyOverlay(state.overlayId);
      updateStatsText();
    }
    const cy = state.cy;
    const node = cy && cy.getElementById(id);
    if (node && node.empty() && state.loading && state.visibleById.has(id)) {
      // Drawn in a chunk still to come: say what it is now, centre on where it will be.
      state.pendingSelect = id;
      state.selected = id;
      renderDetails(id);
      const i = state.layout.visible.findIndex((n) => n.id === id);
      if (i >= 0 && opts && opts.center) {
        const zoom = Math.max(cy.zoom(), 0.9);
        cy.viewport({ zoom, pan: { x: cy.width() / 2 - state.layout.x[i] * zoom, y: cy.height() / 2 - state.layout.y[i] * zoom } });
      }
      if (opts && opts.send) sendValue();
      return true;
    }
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
    const n = state.selected ? state.byId.get(state.selected) || state.visibleById.get(state.selected) : null;
    // The ONNX nodes behind the selection, so the page can keep it when the view switches.
    const onnx = !n ? [] : n.kind === "layer" ? (n.fused || []).slice(0, 50) : n.kind === "group" ? n.members.slice(0, 50) : [n.id];
    Streamlit.setValue({ selected: state.selected, graph: state.key, kind: state.graph.kind, onnx_nodes: onnx, nonce: state.nonce });
  }

  function link(id) {
    const n = state.byId.get(id) || (state.visibleById && state.visibleById.get(id));
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
    const shown = state.visibleById && state.visibleById.get(id);
    if (shown && shown.kind === "group") return renderGroupDetails(shown);
    const n = state.byId.get(id);
    if (!n) return;
    const parts = [];
    parts.push(`<h3>${esc(n.name)}</h3>`);
    const what = n.kind === "op" ? `<span class="op">${esc(n.op_type)}</span>${n.domain ? " · domain " + esc(n.domain) : ""}${n.index >= 0 ? (n.parent ? " · node " + n.index + " of its body" : " · node " + n.index) : ""}` : n.parent ? `<span class="op">subgraph ${esc(n.kind)}</span>` : n.kind === "layer" ? `<span class="op">${esc(n.op_type)}</span> · engine layer ${n.index}` : `<span class="op">graph ${esc(n.kind)}</span>`;
    parts.push(`<div>${what}</div>`);
    if (n.parent) {
      // Where the node is: each enclosing subgraph, innermost first, as holder · attribute.
      const chain = [];
      for (let m = n; m && m.parent; m = state.byId.get(m.parent)) chain.push(`${link(m.parent)} · <b>${esc(m.attr)}</b>`);
      parts.push(`<h5>Subgraph</h5><div class="body-of">in ${chain.join("<br/>in ")}</div><p><button type="button" data-close-body="${esc(n.parent)}">Close this subgraph</button></p>`);
    }
    if (state.bodies.has(n.id)) {
      const scopes = state.bodies.get(n.id);
      const open = state.open.has(n.id);
      parts.push(`<p><button type="button" data-${open ? "close" : "open"}-body="${esc(n.id)}">${open ? "Close its subgraphs" : "Open its subgraphs in place"}</button> <span class="hint">(or double-click the node; ${scopes.map((q) => esc(state.scopeAttr.get(q))).join(", ")})</span></p>`);
    }
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
    const g = state.groupOf && state.groupOf.get(n.id);
    if (g) parts.push(`<h5>Section</h5><div>one of ${g.members.length} nodes between two cut points · <a data-collapse="${esc(g.id)}">collapse the section</a></div>`);
    parts.push(`<h5>Producers</h5><div>${n.producers.length ? n.producers.map(link).join("<br/>") : "<span class='hint'>none</span>"}</div>`);
    parts.push(`<h5>Consumers</h5><div>${n.consumers.length ? n.consumers.map(link).join("<br/>") : "<span class='hint'>none</span>"}</div>`);
    const el = $("details");
    el.innerHTML = parts.join("");
    el.scrollTop = 0;
  }

  function renderGroupDetails(p) {
    const parts = [`<h3>${esc(p.label)} (collapsed)</h3>`];
    parts.push(`<div>A section of the graph between two cut points (one tensor flows on); ${esc(p.sublabel)}${p.outputShape ? " · out [" + esc(p.outputShape) + "]" : ""}</div>`);
    parts.push(`<p><button type="button" data-expand="${esc(p.id)}">Expand in place</button> <span class="hint">(or double-click the box)</span></p>`);
    parts.push(`<h5>Nodes (${p.members.length})</h5><div>${p.members.slice(0, 300).map(link).join("<br/>")}${p.members.length > 300 ? "<br/>…" : ""}</div>`);
    parts.push(`<h5>Producers</h5><div>${p.producers.length ? p.producers.map(link).join("<br/>") : "<span class='hint'>none</span>"}</div>`);
    parts.push(`<h5>Consumers</h5><div>${p.consumers.length ? p.consumers.map(link).join("<br/>") : "<span class='hint'>none</span>"}</div>`);
    const el = $("details");
    el.innerHTML = parts.join("");
    el.scrollTop = 0;
  }

  $("details").addEventListener("click", (ev) => {
    const a = ev.target.closest("a[data-node]");
    if (a) select(a.getAttribute("data-node"), { center: true, send: true });
    const e = ev.target.closest("[data-expand]");
    if (e) expand(e.getAttribute("data-expand"));
    const c = ev.target.closest("[data-collapse]");
    if (c) collapseGroup(c.getAttribute("data-collapse"));
    const o = ev.target.closest("[data-open-body]");
    if (o) openBody(o.getAttribute("data-open-body"));
    const x = ev.target.closest("[data-close-body]");
    if (x) closeBody(x.getAttribute("data-close-body"));
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
      const item = { id: n.id, text: n.name, what: (n.op_type || n.kind) + (n.parent ? " · in " + (state.byId.get(n.parent) || { name: n.parent }).name + " · " + n.attr : "") };
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
        if (ev.target.value.trim().length >= 2) for (const r of results.slice(0, 60)) state.cy.getElementById(shownId(r.id)).addClass("hit");
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
  $("collapse").addEventListener("change", (ev) => {
    if (!state.graph) return;
    for (const g of state.groups) g.collapsed = ev.target.checked && !g.keep;
    state.cy.stop();
    const sel = state.selected;
    draw();
    applyOverlay(state.overlayId);
    updateStatsText();
    if (sel) select(shownId(sel), { center: true, send: false });
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
    // From the layout, not from cytoscape: a progressive drawing's overview is whole at once.
    const lay = state.layout;
    lay.visible.forEach((n, i) => {
      const [nw, nh] = lay.sizes[i];
      const w = Math.max(1.5, nw * scale);
      const h = Math.max(1.5, nh * scale);
      ctx.fillStyle = state.shownColor ? state.shownColor(n.id) : "#d9d9d9";
      ctx.fillRect(lay.x[i] * scale + mm.ox - w / 2, lay.y[i] * scale + mm.oy - h / 2, w, h);
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

  // ------------------------------------------------------------------ export (SVG, PNG)
  // The current view as drawn: the overlay's colours, the selection and its path, collapsed
  // sections, the legend; the whole graph or the visible area. Written from the layout and the
  // elements' own data, so the SVG is vector text and boxes, not a screenshot.
  function toSVG(whole) {
    const cy = state.cy;
    const lay = state.layout;
    const pad = 16;
    const bb = whole ? state.bbox : (() => { const e = cy.extent(); return { x1: e.x1, y1: e.y1, x2: e.x2, y2: e.y2, w: e.w, h: e.h }; })();
    const inView = (x, y, w, h) => whole || (x + w / 2 >= bb.x1 && x - w / 2 <= bb.x2 && y + h / 2 >= bb.y1 && y - h / 2 <= bb.y2);
    const parts = [];
    const W = Math.ceil(bb.w + 2 * pad);
    const H = Math.ceil(bb.h + 2 * pad);
    parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="${(bb.x1 - pad).toFixed(1)} ${(bb.y1 - pad).toFixed(1)} ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="11">`);
    parts.push(`<title>${esc(state.graph.title || "graph")}</title>`);
    parts.push(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker></defs>`);
    parts.push(`<rect x="${(bb.x1 - pad).toFixed(1)}" y="${(bb.y1 - pad).toFixed(1)}" width="${W}" height="${H}" fill="#ffffff"/>`);
    const pos = new Map(lay.visible.map((n, i) => [n.id, i]));
    parts.push(`<g class="edges" fill="none">`);
    cy.edges().forEach((e) => {
      const k = Number(e.id().slice(1));
      const a = pos.get(e.source().id());
      const b = pos.get(e.target().id());
      if (a === undefined || b === undefined) return;
      const pts = [lay.x[a], lay.y[a] + lay.sizes[a][1] / 2];
      const bends = lay.bends[k];
      if (bends) for (let i = 0; i < bends.length; i++) pts.push(bends[i]);
      pts.push(lay.x[b], lay.y[b] - lay.sizes[b][1] / 2);
      let any = false;
      for (let i = 0; i < pts.length; i += 2) if (inView(pts[i], pts[i + 1], 0, 0)) any = true;
      if (!any) return;
      const colour = e.hasClass("up") ? "#0969da" : e.hasClass("down") ? "#e36209" : "#8c959f";
      const width = e.hasClass("up") || e.hasClass("down") ? 2.4 : 1.3;
      const opacity = e.hasClass("faded") ? ' stroke-opacity="0.15"' : "";
      const d = pts.map((v, i) => (i % 2 ? "," : i ? " L" : "M") + v.toFixed(1)).join("");
      parts.push(`<path d="${d}" stroke="${colour}" stroke-width="${width}"${opacity} marker-end="url(#arrow)"/>`);
    });
    parts.push(`</g><g class="nodes">`);
    cy.nodes().forEach((node) => {
      const i = pos.get(node.id());
      if (i === undefined) return;
      const [w, h] = lay.sizes[i];
      const x = lay.x[i];
      const y = lay.y[i];
      if (!inView(x, y, w, h)) return;
      let stroke = "rgba(0,0,0,0.35)";
      let sw = 1;
      let dash = "";
      if (node.hasClass("io")) { stroke = "#333"; sw = 2; }
      if (node.hasClass("has-error")) { stroke = "#cf222e"; sw = 3; }
      if (node.hasClass("mark-added")) { stroke = "#1a7f37"; sw = 3; }
      if (node.hasClass("mark-changed")) { stroke = "#bc4c00"; sw = 3; }
      if (node.hasClass("mark-removed")) { stroke = "#a40e26"; sw = 3; dash = ' stroke-dasharray="5,3"'; }
      if (node.hasClass("group")) { stroke = "#57606a"; sw = 3; }
      if (node.hasClass("sel")) { stroke = "#0969da"; sw = 4; }
      const opacity = node.hasClass("faded") ? ' opacity="0.28"' : "";
      const n = state.byId.get(node.id()) || lay.visible[i];
      parts.push(`<g${opacity}><title>${esc(n.name)}</title><rect x="${(x - w / 2).toFixed(1)}" y="${(y - h / 2).toFixed(1)}" width="${w}" height="${h}" rx="6" fill="${esc(node.data("color"))}" stroke="${stroke}" stroke-width="${sw}"${dash}/>`);
      const lines = String(node.data("text")).split("\n");
      const fg = esc(node.data("fg"));
      lines.forEach((line, j) => {
        const ty = y + (j - (lines.length - 1) / 2) * 13 + 4;
        parts.push(`<text x="${x.toFixed(1)}" y="${ty.toFixed(1)}" text-anchor="middle" fill="${fg}">${esc(line)}</text>`);
      });
      parts.push(`</g>`);
    });
    parts.push(`</g>`);
    const ov = state.overlay;
    if (ov && (ov.legend || []).length) {
      // The legend, top left of the picture.
      const lx = bb.x1 - pad + 8;
      let ly = bb.y1 - pad + 8;
      const rows = ov.legend.length + 1;
      const lw = Math.max(160, 7 * Math.max(ov.title.length, ...ov.legend.map((e) => e.label.length + 6)));
      parts.push(`<g class="legend"><rect x="${lx}" y="${ly}" width="${lw}" height="${rows * 16 + 8}" fill="#ffffff" fill-opacity="0.93" stroke="#d0d7de" rx="5"/>`);
      parts.push(`<text x="${lx + 8}" y="${ly + 16}" font-weight="bold">${esc(ov.title)}</text>`);
      ly += 16;
      for (const e of ov.legend) {
        ly += 16;
        parts.push(`<rect x="${lx + 8}" y="${ly - 10}" width="12" height="12" fill="${esc(e.color)}" stroke="rgba(0,0,0,0.25)"/><text x="${lx + 26}" y="${ly}">${esc(e.label)}${e.count ? " (" + e.count + ")" : ""}</text>`);
      }
      parts.push(`</g>`);
    }
    parts.push(`</svg>`);
    return { svg: parts.join(""), width: W, height: H };
  }

  function download(blob, name) {
    const url = URL.createObjectURL(blob);
    const a = document.createElement("a");
    a.href = url;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  function exportName(ext) {
    const base = String((state.graph && state.graph.title) || "graph").split(":")[0].replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 60) || "graph";
    return `${base}${state.overlay ? "." + state.overlay.id.replace(/[^A-Za-z0-9_-]+/g, "_") : ""}.${ext}`;
  }

  function exportSVG() {
    const { svg } = toSVG($("export-scope").value === "whole");
    download(new Blob([svg], { type: "image/svg+xml" }), exportName("svg"));
    return svg.length;
  }

  function exportPNG() {
    const { svg, width, height } = toSVG($("export-scope").value === "whole");
    // At most 8,192 px a side and 40 M pixels (what canvases take everywhere); 2x when it fits.
    const scale = Math.min(2, 8192 / width, 8192 / height, Math.sqrt(40e6 / (width * height)));
    const img = new Image();
    const url = URL.createObjectURL(new Blob([svg], { type: "image/svg+xml" }));
    return new Promise((resolve, reject) => {
      img.onload = () => {
        const canvas = document.createElement("canvas");
        canvas.width = Math.max(1, Math.round(width * scale));
        canvas.height = Math.max(1, Math.round(height * scale));
        const ctx = canvas.getContext("2d");
        ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
        URL.revokeObjectURL(url);
        canvas.toBlob((blob) => {
          download(blob, exportName("png"));
          resolve([canvas.width, canvas.height]);
        }, "image/png");
      };
      img.onerror = (e) => reject(e);
      img.src = url;
    });
  }

  $("export-svg").addEventListener("click", () => state.cy && exportSVG());
  $("export-png").addEventListener("click", () => state.cy && exportPNG());

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
          updateStatsText();
          document.body.dataset.readyAt = String(performance.now());
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
  state.api = { expand, collapse: collapseGroup, openBody, closeBody, select: (id) => select(id, { center: true, send: true }), toSVG, exportPNG };
  if (STATIC) {
    // A report: the overlay choice lives in the component (no Streamlit widgets around it).
    const pick = $("overlay-pick");
    const overlays = (STATIC.graph && STATIC.graph.overlays) || [];
    pick.innerHTML = overlays.map((o) => `<option value="${esc(o.id)}">${esc(o.title)}</option>`).join("");
    pick.hidden = overlays.length < 2;
    if (STATIC.overlay) pick.value = STATIC.overlay;
    pick.addEventListener("change", () => onRender({ args: Object.assign({}, STATIC, { overlay: pick.value, select: null }) }));
    onRender({ args: STATIC, theme: {} });
  } else Streamlit.ready();
})();
