/*
 * A layered (Sugiyama) top-down layout for directed graphs, written for ONNX graphs and
 * engine graphs: thousands of nodes, long residual edges, no recursion (a 10,000-deep chain
 * lays out like a short one).
 *
 *   1. rank:        longest path from the sources in topological order; sources (graph
 *                   inputs, constants) pulled down to just above their first consumer;
 *                   back edges of a cycle (none in a valid ONNX graph) are ignored.
 *   2. dummies:     an edge spanning k ranks becomes a chain through k-1 dummy vertices
 *                   (up to a budget; edges past it are drawn straight), so long edges get
 *                   their own lane and bends.
 *   3. order:       a depth-first initial order, then barycenter sweeps down and up,
 *                   keeping the order with the fewest crossings (counted exactly with a
 *                   Fenwick tree per pair of ranks), within a time budget.
 *   4. x:           alternating sweeps place each vertex at the weighted mean of its
 *                   neighbours' x in the rank above (or below), solved per rank as an
 *                   isotonic regression with minimum separations (pool adjacent
 *                   violators, O(n)): chains come out straight, forks centred.
 *   5. y:           rank bands as high as their tallest node.
 *
 * layout(n, edges, sizes, options) -> {x, y, bends, ranks, crossings, ms}
 *   n      number of nodes (0..n-1)
 *   edges  [[source, target], ...]
 *   sizes  [[width, height], ...]
 *   bends  one entry per edge: null (straight) or [x1, y1, x2, y2, ...] through its dummies
 */
(function (root, factory) {
  const api = factory();
  if (typeof module === "object" && module.exports) module.exports = api;
  else root.GraphLayout = api;
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  function now() {
    return typeof performance !== "undefined" ? performance.now() : Date.now();
  }

  function topoOrder(n, out, indeg) {
    const deg = Int32Array.from(indeg);
    const order = [];
    const placed = new Uint8Array(n);
    // A queue in index order keeps the ONNX order where the graph leaves a choice.
    let queue = [];
    for (let v = 0; v < n; v++) if (deg[v] === 0) queue.push(v);
    let head = 0;
    let next = 0;
    while (order.length < n) {
      if (head === queue.length) {
        // A cycle: take the first unplaced vertex as if its remaining in-edges were back edges.
        while (placed[next]) next++;
        queue.push(next);
        deg[next] = 0;
      }
      const v = queue[head++];
      if (placed[v]) continue;
      placed[v] = 1;
      order.push(v);
      for (const w of out[v]) {
        if (!placed[w] && --deg[w] === 0) queue.push(w);
      }
      if (head > 4096 && head * 2 > queue.length) {
        queue = queue.slice(head);
        head = 0;
      }
    }
    return order;
  }

  function countCrossings(upper, lower, pos, down) {
    // Edges between two adjacent ranks, sorted by the upper end; inversions of the lower end.
    const pairs = [];
    for (const u of upper) for (const w of down[u]) pairs.push(pos[u] * 1048576 + pos[w]);
    if (pairs.length < 2) return 0;
    pairs.sort((a, b) => a - b);
    const size = lower.length + 1;
    const tree = new Int32Array(size + 1);
    let crossings = 0;
    let seen = 0;
    for (const p of pairs) {
      const q = (p % 1048576) + 1;
      // count seen with lower position > q
      let le = 0;
      for (let i = q; i > 0; i -= i & -i) le += tree[i];
      crossings += seen - le;
      for (let i = q; i <= size; i += i & -i) tree[i]++;
      seen++;
    }
    return crossings;
  }

  function isotonic(target, weight, sep) {
    // min sum w_i (x_i - t_i)^2  s.t.  x_{i+1} - x_i >= sep_i   (pool adjacent violators)
    const m = target.length;
    const off = new Float64Array(m);
    for (let i = 1; i < m; i++) off[i] = off[i - 1] + sep[i - 1];
    const blockMean = [];
    const blockWeight = [];
    const blockStart = [];
    for (let i = 0; i < m; i++) {
      let mean = target[i] - off[i];
      let w = weight[i];
      let start = i;
      while (blockMean.length && blockMean[blockMean.length - 1] > mean) {
        const pm = blockMean.pop();
        const pw = blockWeight.pop();
        start = blockStart.pop();
        mean = (mean * w + pm * pw) / (w + pw);
        w += pw;
      }
      blockMean.push(mean);
      blockWeight.push(w);
      blockStart.push(start);
    }
    const x = new Float64Array(m);
    for (let b = 0; b < blockMean.length; b++) {
      const end = b + 1 < blockStart.length ? blockStart[b + 1] : m;
      for (let i = blockStart[b]; i < end; i++) x[i] = blockMean[b] + off[i];
    }
    return x;
  }

  function layout(n, edges, sizes, options) {
    const opt = Object.assign(
      { rankSep: 34, nodeSep: 22, dummySep: 10, dummyWidth: 4, maxDummies: 60000, orderBudgetMs: 700, sweeps: 24 },
      options || {}
    );
    const t0 = now();
    const out = Array.from({ length: n }, () => []);
    const inn = Array.from({ length: n }, () => []);
    const indeg = new Int32Array(n);
    const pairKey = new Map();
    const pairs = [];
    for (const [s, t] of edges) {
      if (s === t || s < 0 || t < 0 || s >= n || t >= n) continue;
      const k = s * 4294967296 + t;
      if (pairKey.has(k)) continue;
      pairKey.set(k, pairs.length);
      pairs.push([s, t]);
      out[s].push(t);
      inn[t].push(s);
      indeg[t]++;
    }
    // 1. ranks
    const order = topoOrder(n, out, indeg);
    const topo = new Int32Array(n);
    order.forEach((v, i) => (topo[v] = i));
    const rank = new Int32Array(n);
    for (const v of order) for (const w of out[v]) if (topo[w] > topo[v] && rank[w] < rank[v] + 1) rank[w] = rank[v] + 1;
    for (let i = order.length - 1; i >= 0; i--) {
      const v = order[i];
      const forwardIn = inn[v].some((u) => topo[u] < topo[v]);
      if (forwardIn) continue;
      let lowest = Infinity;
      for (const w of out[v]) if (topo[w] > topo[v]) lowest = Math.min(lowest, rank[w]);
      if (lowest !== Infinity && lowest - 1 > rank[v]) rank[v] = lowest - 1;
    }
    let maxRank = 0;
    for (let v = 0; v < n; v++) maxRank = Math.max(maxRank, rank[v]);

    // 2. the layered graph with dummies
    const vRank = Array.from(rank);
    const vWidth = sizes.map((s) => s[0]);
    const isDummy = new Array(n).fill(false);
    const up = Array.from({ length: n }, () => []);
    const down = Array.from({ length: n }, () => []);
    const chains = new Array(pairs.length).fill(null);
    let dummies = 0;
    const spans = pairs
      .map(([s, t], i) => [i, topo[t] > topo[s] ? rank[t] - rank[s] : 0])
      .sort((a, b) => a[1] - b[1]);
    for (const [i, span] of spans) {
      const [s, t] = pairs[i];
      if (span < 1) continue; // a back edge: drawn, not laid out
      if (span === 1) {
        down[s].push(t);
        up[t].push(s);
        continue;
      }
      if (dummies + span - 1 > opt.maxDummies) continue;
      const chain = [];
      let prev = s;
      for (let r = rank[s] + 1; r < rank[t]; r++) {
        const d = vRank.length;
        vRank.push(r);
        vWidth.push(opt.dummyWidth);
        isDummy.push(true);
        up.push([prev]);
        down.push([]);
        down[prev].push(d);
        chain.push(d);
        prev = d;
        dummies++;
      }
      down[prev].push(t);
      up[t].push(prev);
      chains[i] = chain;
    }
    const V = vRank.length;

    // 3. order: depth-first from the sources, in topological order
    const layers = Array.from({ length: maxRank + 1 }, () => []);
    const visited = new Uint8Array(V);
    const starts = order.slice().sort((a, b) => vRank[a] - vRank[b] || topo[a] - topo[b]);
    for (const s of starts) {
      if (visited[s]) continue;
      const stack = [s];
      while (stack.length) {
        const v = stack.pop();
        if (visited[v]) continue;
        visited[v] = 1;
        layers[vRank[v]].push(v);
        const kids = down[v];
        for (let k = kids.length - 1; k >= 0; k--) if (!visited[kids[k]]) stack.push(kids[k]);
      }
    }
    const pos = new Float64Array(V);
    const setPositions = () => layers.forEach((layer) => layer.forEach((v, i) => (pos[v] = i)));
    setPositions();
    const totalCrossings = () => {
      let c = 0;
      for (let r = 0; r < maxRank; r++) c += countCrossings(layers[r], layers[r + 1], pos, down);
      return c;
    };
    let best = layers.map((l) => l.slice());
    let bestCrossings = totalCrossings();
    let stale = 0;
    const key = new Float64Array(V);
    for (let sweep = 0; sweep < opt.sweeps && bestCrossings > 0; sweep++) {
      if (now() - t0 > opt.orderBudgetMs) break;
      const goingDown = sweep % 2 === 0;
      const ranks = [];
      if (goingDown) for (let r = 1; r <= maxRank; r++) ranks.push(r);
      else for (let r = maxRank - 1; r >= 0; r--) ranks.push(r);
      for (const r of ranks) {
        const layer = layers[r];
        for (const v of layer) {
          const nb = goingDown ? up[v] : down[v];
          if (nb.length) {
            let sum = 0;
            for (const u of nb) sum += pos[u];
            key[v] = sum / nb.length;
          } else key[v] = pos[v];
        }
        layer.sort((a, b) => key[a] - key[b] || pos[a] - pos[b]);
        layer.forEach((v, i) => (pos[v] = i));
      }
      const c = totalCrossings();
      if (c < bestCrossings) {
        bestCrossings = c;
        best = layers.map((l) => l.slice());
        stale = 0;
      } else if (++stale >= 4) break;
    }
    for (let r = 0; r <= maxRank; r++) layers[r] = best[r];
    setPositions();

    // 4. x coordinates
    const x = new Float64Array(V);
    const sepOf = (a, b) => (vWidth[a] + vWidth[b]) / 2 + (isDummy[a] || isDummy[b] ? opt.dummySep : opt.nodeSep);
    for (const layer of layers) {
      let cursor = 0;
      layer.forEach((v, i) => {
        if (i > 0) cursor += sepOf(layer[i - 1], v);
        x[v] = cursor;
      });
      const shift = cursor / 2;
      for (const v of layer) x[v] -= shift;
    }
    const place = (layer, neighbours) => {
      const m = layer.length;
      if (!m) return;
      const target = new Float64Array(m);
      const weight = new Float64Array(m);
      const sep = new Float64Array(Math.max(0, m - 1));
      for (let i = 0; i < m; i++) {
        const v = layer[i];
        const nb = neighbours(v);
        if (nb.length) {
          let sum = 0;
          for (const u of nb) sum += x[u];
          target[i] = sum / nb.length;
          weight[i] = isDummy[v] ? 8 : nb.length === 1 ? 2 : 1;
        } else {
          target[i] = x[v];
          weight[i] = 0.05;
        }
        if (i > 0) sep[i - 1] = sepOf(layer[i - 1], v);
      }
      const placed = isotonic(target, weight, sep);
      for (let i = 0; i < m; i++) x[layer[i]] = placed[i];
    };
    const both = (v) => up[v].concat(down[v]);
    for (let pass = 0; pass < 8; pass++) {
      if (pass % 2 === 0) for (let r = 1; r <= maxRank; r++) place(layers[r], (v) => up[v]);
      else for (let r = maxRank - 1; r >= 0; r--) place(layers[r], (v) => down[v]);
    }
    for (let pass = 0; pass < 2; pass++) {
      for (let r = 0; r <= maxRank; r++) place(layers[r], both);
      for (let r = maxRank; r >= 0; r--) place(layers[r], both);
    }

    // 5. y coordinates
    const bandHeight = new Float64Array(maxRank + 1);
    for (let v = 0; v < n; v++) bandHeight[rank[v]] = Math.max(bandHeight[rank[v]], sizes[v][1]);
    const bandY = new Float64Array(maxRank + 1);
    let cursor = 0;
    for (let r = 0; r <= maxRank; r++) {
      bandY[r] = cursor + (bandHeight[r] || 10) / 2;
      cursor += (bandHeight[r] || 10) + opt.rankSep;
    }
    const nodeX = new Float64Array(n);
    const nodeY = new Float64Array(n);
    for (let v = 0; v < n; v++) {
      nodeX[v] = x[v];
      nodeY[v] = bandY[rank[v]];
    }
    const pairBends = chains.map((chain) => {
      if (!chain) return null;
      const pts = [];
      for (const d of chain) pts.push(x[d], bandY[vRank[d]]);
      return pts;
    });
    const bends = edges.map(([s, t]) => {
      const k = pairKey.get(s * 4294967296 + t);
      return k === undefined ? null : pairBends[k];
    });
    return { x: nodeX, y: nodeY, bends, ranks: maxRank + 1, dummies, crossings: bestCrossings, ms: now() - t0 };
  }

  return { layout, isotonic, countCrossings };
});
