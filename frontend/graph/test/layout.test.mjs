// node --test: the layered layout on chains, forks, long edges, cycles and a 10,000-deep chain.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { layout, isotonic } = require("../../../workbench/ui/graph_component/frontend/layout.js");
const box = (n) => Array.from({ length: n }, () => [80, 30]);

test("a chain goes straight down", () => {
  const r = layout(4, [[0, 1], [1, 2], [2, 3]], box(4));
  for (let i = 1; i < 4; i++) {
    assert.ok(r.y[i] > r.y[i - 1]);
    assert.ok(Math.abs(r.x[i] - r.x[0]) < 1e-6);
  }
});

test("a fork puts its branches side by side, without overlap, the join below both", () => {
  const r = layout(4, [[0, 1], [0, 2], [1, 3], [2, 3]], box(4));
  assert.equal(r.y[1], r.y[2]);
  assert.ok(Math.abs(r.x[1] - r.x[2]) >= 80);
  assert.ok(r.y[3] > r.y[1]);
  assert.equal(r.crossings, 0);
});

test("a long edge bends through one point per rank it skips", () => {
  const r = layout(4, [[0, 1], [1, 2], [2, 3], [0, 3]], box(4));
  assert.equal(r.bends[3].length, 4); // two dummies, (x, y) each
  assert.equal(r.bends[0], null);
});

test("a cycle still lays out", () => {
  const r = layout(3, [[0, 1], [1, 2], [2, 0]], box(3));
  assert.equal(new Set(Array.from(r.y)).size, 3);
});

test("a 10,000-deep chain needs no recursion", () => {
  const n = 10000;
  const edges = [];
  for (let i = 1; i < n; i++) edges.push([i - 1, i]);
  const r = layout(n, edges, box(n));
  assert.equal(r.ranks, n);
});

test("isotonic placement keeps the minimum separations", () => {
  const x = isotonic([0, 0, 0], [1, 1, 1], [10, 10]);
  assert.deepEqual(Array.from(x), [-10, 0, 10]);
});
