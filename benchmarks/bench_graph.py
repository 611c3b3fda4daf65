"""The graph view at scale, in real Chromium: draw time, pan/zoom frame times, expand time.

    .venv/bin/python benchmarks/bench_graph.py [--sizes 1500,10000] [--repeat 3]

Models are generated here, deterministically, with onnx.helper: a ResNet-like deep chain of
residual blocks (Conv → Relu → Conv → Add(skip) → Relu, five nodes a block) named like a
PyTorch export (``/stage3/block12/conv1/Conv``), with real Conv weights, saved and loaded
through ``load_model`` like any user's file.

For each size it prints, all measured in this run:

* the Python side: ``onnx_graph`` + overlays + ``to_wire`` (what a Streamlit rerun does once
  per content), and the wire size;
* the browser side, on the component's own page served from 127.0.0.1 (Streamlit's render
  message posted to it, so the same code path as in the app): time from the render message
  to the first painted frame, the layout's share, how many elements were drawn (a 10,000-node
  graph starts with its long chains collapsed) and whether any request left 127.0.0.1;
* pan and zoom: real mouse drags and wheel turns (Playwright's mouse), with the interval
  between animation frames recorded in the page while they run (median, p95, max; 16.7 ms
  is 60 frames per second);
* on collapsed graphs: the time to expand one section in place and to find a node inside a
  collapsed section (search expands it).

The targets (issue 14): 1,500 nodes drawn in under 2 s with pan/zoom frames without visible
lag; 10,000 nodes usable.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

FRONTEND = ROOT / "workbench" / "ui" / "graph_component" / "frontend"


def resnet_like(nodes: int, channels: int = 4, seed: int = 0) -> Any:
    """A chain of residual blocks, ``nodes`` // 5 of them (5 nodes each), plus a head."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    rng = np.random.default_rng(seed)
    blocks = max(1, nodes // 5)
    made = []
    inits = []
    current = "input"
    per_stage = max(1, blocks // 4)
    for b in range(blocks):
        prefix = f"/stage{b // per_stage + 1}/block{b % per_stage}"
        skip = current
        for k in (1, 2):
            w = f"{prefix}/conv{k}.weight"
            inits.append(onnx.numpy_helper.from_array(
                (rng.normal(size=(channels, channels, 3, 3)) * 0.1).astype(np.float32), w))
            out = f"{prefix}/conv{k}/Conv_output_0"
            made.append(helper.make_node("Conv", [current, w], [out], name=f"{prefix}/conv{k}/Conv",
                                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
            current = out
            if k == 1:
                out = f"{prefix}/relu1/Relu_output_0"
                made.append(helper.make_node("Relu", [current], [out], name=f"{prefix}/relu1/Relu"))
                current = out
        out = f"{prefix}/Add_output_0"
        made.append(helper.make_node("Add", [current, skip], [out], name=f"{prefix}/Add"))
        current = out
        out = f"{prefix}/relu2/Relu_output_0"
        made.append(helper.make_node("Relu", [current], [out], name=f"{prefix}/relu2/Relu"))
        current = out
    graph = helper.make_graph(
        made, f"resnet_like_{nodes}",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", channels, 8, 8])],
        [helper.make_tensor_value_info(current, TensorProto.FLOAT, ["batch", channels, 8, 8])],
        initializer=inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


FRAMES_JS = """() => { window.__frames = []; window.__recording = true;
  const tick = (t) => { if (!window.__recording) return; window.__frames.push(t); requestAnimationFrame(tick); };
  requestAnimationFrame(tick); }"""
STOP_JS = """() => { window.__recording = false; const f = window.__frames; const d = [];
  for (let i = 1; i < f.length; i++) d.push(f[i] - f[i - 1]); return d.filter((x) => x >= 1); }"""


def _frame_stats(intervals: list[float]) -> str:
    if not intervals:
        return "no frames"
    ordered = sorted(intervals)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (f"{len(intervals)} frames, median {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms, "
            f"max {ordered[-1]:.1f} ms")


def measure(page: Any, base: str, wire: dict[str, Any], repeat: int) -> dict[str, Any]:
    draws = []
    stats: dict[str, Any] = {}
    for _ in range(repeat):
        page.goto(f"{base}/index.html")
        page.evaluate("() => sessionStorage.clear()")
        started = page.evaluate(
            """(graph) => { const t = performance.now();
               window.postMessage({type: 'streamlit:render', args: {graph, overlay: 'operator', height: 900}}, '*');
               return t; }""",
            wire,
        )
        page.wait_for_selector('body[data-ready="1"]', timeout=300_000)
        page.wait_for_selector('body[data-complete="1"]', timeout=300_000)
        stats = page.evaluate("() => window.__graph.stats")
        draws.append((stats["drawMs"], stats.get("completeMs") or stats["drawMs"]))
        del started
    box = page.locator("#cy").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.evaluate(FRAMES_JS)
    page.mouse.move(cx, cy)
    page.mouse.down()
    for i in range(40):
        page.mouse.move(cx + 6 * i, cy + 4 * i)
    page.mouse.up()
    pan = page.evaluate(STOP_JS)
    page.evaluate(FRAMES_JS)
    for i in range(16):
        page.mouse.move(cx, cy)
        page.mouse.wheel(0, -120 if i < 8 else 120)
        page.wait_for_timeout(30)
    page.wait_for_timeout(200)
    zoom = page.evaluate(STOP_JS)
    return {"draws": draws, "stats": stats, "pan": pan, "zoom": zoom}


def measure_expand(page: Any, wire: dict[str, Any]) -> str:
    """Expand one collapsed section in place, and find a node inside another one."""
    groups = page.evaluate("() => (window.__graph.groups || []).filter(g => g.collapsed).map(g => g.id)")
    if not groups:
        return "nothing collapsed"
    target = groups[len(groups) // 2]
    t = page.evaluate("(id) => { const t = performance.now(); window.__graph.api.expand(id); return performance.now() - t; }",
                      target)
    page.wait_for_timeout(100)
    # A node deep inside a still-collapsed section: search finds it, expands its section, selects it.
    name = next(n["id"] for n in reversed(wire["nodes"]) if n.get("op_type") == "Add")
    started = time.perf_counter()
    box = page.get_by_role("searchbox", name="Find node")
    box.fill(name)
    box.press("Enter")
    page.locator("#details h3", has_text=name).wait_for(timeout=60_000)
    find_ms = (time.perf_counter() - started) * 1000
    drawn = page.evaluate("() => window.__graph.cy.nodes().length")
    return (f"expand one section {t:.0f} ms; find a node in a collapsed section (type, Enter, expanded, "
            f"selected, details) {find_ms:.0f} ms; {drawn:,} nodes drawn after both")


def measure_uncollapsed(page: Any) -> str:
    """Untick "Collapse sections": every node drawn, progressively."""
    page.evaluate("() => { document.body.dataset.complete = '0'; window.__t0 = performance.now(); }")
    page.locator("#collapse").uncheck()
    page.wait_for_selector('body[data-complete="1"]', timeout=300_000)
    s = page.evaluate("() => window.__graph.stats")
    total = page.evaluate("() => performance.now() - window.__t0")
    page.evaluate(FRAMES_JS)
    box = page.locator("#cy").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    for i in range(40):
        page.mouse.move(cx + 6 * i, cy + 4 * i)
    page.mouse.up()
    pan = page.evaluate(STOP_JS)
    return (f"{s['drawnNodes']:,} nodes, layout {s['layoutMs']} ms, first chunk {s['firstChunkNodes']:,} nodes, "
            f"complete after {total:.0f} ms; pan: {_frame_stats(pan)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1500,10000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import onnx
    from browser import CHROMIUM, CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    from workbench.graph_model import onnx_graph, with_overlays
    from workbench.model import load_model

    sizes = [int(s) for s in args.sizes.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="bench_graph_"))
    with serve(FRONTEND) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        outside: list[str] = []
        page.on("request", lambda r: outside.append(r.url) if urlparse(r.url).hostname not in (None, "127.0.0.1")
                and urlparse(r.url).scheme not in ("data", "blob", "about") else None)
        for size in sizes:
            path = tmp / f"resnet_like_{size}.onnx"
            onnx.save(resnet_like(size), str(path))
            model = load_model(path)
            t = time.perf_counter()
            wire = with_overlays(onnx_graph(model)).to_wire()
            py_ms = (time.perf_counter() - t) * 1000
            text = json.dumps(wire)
            result = measure(page, base, wire, args.repeat)
            s = result["stats"]
            draws = ", ".join(f"{d:.0f}" for d, _ in result["draws"])
            complete = ", ".join(f"{c:.0f}" for _, c in result["draws"])
            print(f"\n{len(model.proto.graph.node):,}-node model ({len(wire['nodes']):,} graph nodes, "
                  f"{len(wire['edges']):,} edges, {len(text) / 1e6:.2f} MB on the wire)")
            print(f"  Python: onnx_graph + overlays + to_wire {py_ms:.0f} ms")
            print(f"  draw (render message → first painted frame), {args.repeat} runs: {draws} ms; "
                  f"layout {s.get('layoutMs')} ms, cytoscape {s.get('cytoscapeMs')} ms; "
                  f"{s.get('drawnNodes', s.get('nodes')):,} nodes drawn"
                  + (f" ({s['collapsedGroups']} sections collapsed)" if s.get("collapsedGroups") else ""))
            if s.get("progressiveChunks"):
                print(f"  progressive: {s['firstChunkNodes']:,} nodes in the first frame, the rest in "
                      f"{s['progressiveChunks']} chunks; whole drawing complete after {complete} ms")
            print(f"  pan (40 mouse moves, button down): {_frame_stats(result['pan'])}")
            print(f"  zoom (16 wheel turns): {_frame_stats(result['zoom'])}")
            print(f"  {measure_expand(page, wire)}")
            if result["stats"].get("collapsedGroups"):
                print(f"  everything expanded (Collapse sections off): {measure_uncollapsed(page)}")
        browser.close()
        print(f"\nrequests outside 127.0.0.1: {len(outside)}" + (f" {outside[:3]}" if outside else ""))


if __name__ == "__main__":
    main()
