"""The graph component in a real browser: Debian's chromium driven by Playwright.

The Model page's graph draws; "Find node" selects and centres a node and the details panel
shows its op and inputs; an overlay (a real ONNX Runtime CPU profile) shows its legend and
its sortable table; a generated 1,500-node model draws in a measured time; and no request
leaves this machine.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from browser import CHROMIUM, browser_page, screenshot, streamlit_server

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason="Debian chromium is not installed (apt-get install chromium)"
    ),
]
pytest.importorskip("playwright", reason="playwright (Python) is not installed")

IFRAME = 'iframe[title="workbench.ui.graph_component.graph"]'
# The page icon is an emoji, not a Material Symbols name: Streamlit loads those from
# Google's font CDN, which would be the one request leaving this machine.


def _local(url: str) -> bool:
    parsed = urlparse(url)
    if parsed.scheme in ("data", "blob", "about"):
        return True
    return parsed.hostname in ("127.0.0.1", "localhost", "::1")


def _graph_frame(page):  # type: ignore[no-untyped-def]
    # A rerun may briefly show the old iframe beside the new one: the last is the live one.
    return page.frame_locator(IFRAME).last


def _wait_drawn(page, timeout: float = 120_000):  # type: ignore[no-untyped-def]
    frame = _graph_frame(page)
    frame.locator('body[data-ready="1"]').wait_for(timeout=timeout)
    return frame


def _stats(page) -> dict:  # type: ignore[no-untyped-def]
    return page.locator(IFRAME).last.content_frame.locator("body").evaluate("() => window.__graph.stats")


def test_model_page_graph_find_node_details_overlay_and_no_outside_requests(tmp_path: Path) -> None:
    requests: list[str] = []
    with streamlit_server(tmp_path / "home", "--sample", "resnet_cnn.onnx") as url, browser_page(1400, 1600) as page:
        page.on("request", lambda r: requests.append(r.url))
        page.goto(f"{url}/")
        frame = _wait_drawn(page)
        # The drawing: cytoscape's canvases inside the component's frame.
        assert frame.locator("#cy canvas").count() >= 1
        assert "72 nodes" in frame.locator("#status").inner_text()
        assert "Operator kind" in frame.locator("#legend").inner_text()

        # Find node: type a node's name, press Enter.
        box = frame.get_by_role("searchbox", name="Find node")
        box.fill("/layer2/layer2.0/Add")
        box.press("Enter")
        details = frame.locator("#details")
        details.get_by_text("/layer2/layer2.0/bn2/BatchNormalization_output_0").wait_for(timeout=10_000)
        text = details.inner_text()
        assert text.startswith("/layer2/layer2.0/Add")
        assert "Add · node 25" in text
        assert "INPUTS" in text.upper() and "float32 [batch×64×28×28]" in text
        assert "/layer2/layer2.0/downsample/downsample.1/BatchNormalization" in text  # a producer
        page.wait_for_timeout(600)  # the centring animation
        centred = page.locator(IFRAME).last.content_frame.locator("body").evaluate(
            """() => { const cy = window.__graph.cy; const n = cy.getElementById('/layer2/layer2.0/Add');
                       const p = n.renderedPosition();
                       return {sel: n.hasClass('sel'), dx: Math.abs(p.x - cy.width() / 2), dy: Math.abs(p.y - cy.height() / 2)}; }"""
        )
        assert centred["sel"] and centred["dx"] < 30 and centred["dy"] < 30, centred
        # A producer in the details panel is a link: following it selects that node.
        details.get_by_text("/layer2/layer2.0/relu_1/Relu").first.click()
        details.locator("h3", has_text="/layer2/layer2.0/relu_1/Relu").wait_for(timeout=10_000)
        screenshot(page, "graph_find_node")

        # An overlay with numbers: a real CPU profile, then the Model page's "Colour by".
        page.get_by_role("link", name="Timing").click()
        page.get_by_role("button", name="Profile on the CPU (ONNX Runtime)").click()
        page.get_by_text("onnxruntime on", exact=False).first.wait_for(timeout=180_000)
        page.get_by_role("link", name="Model").click()
        _wait_drawn(page)
        page.get_by_text("Colour by").wait_for(timeout=30_000)
        page.locator('[data-testid="stSelectbox"]', has_text="Colour by").click()
        page.get_by_role("option", name=re.compile("^Time per node: ONNX Runtime")).click()
        legend = _graph_frame(page).locator("#legend")
        legend.get_by_text(re.compile("^Time per node: ONNX Runtime")).wait_for(timeout=30_000)
        legend_text = legend.inner_text()
        assert "ms" in legend_text or "% of run" in legend_text
        assert "no value" in legend_text and "ONNX Runtime on" in legend_text
        # The sortable table of per-node values beside it.
        page.get_by_text(re.compile(r"Time per node: ONNX Runtime .*: \d+ nodes")).wait_for(timeout=30_000)
        assert page.locator('[data-testid="stDataFrame"]').count() >= 1
        screenshot(page, "graph_time_overlay")
        body = page.inner_text("body")
        assert "Traceback" not in body

    outside = [u for u in requests if not _local(u)]
    assert outside == [], outside
    assert any("/component/workbench.ui.graph_component.graph/cytoscape.min.js" in u for u in requests)


def test_a_1500_node_model_draws_in_a_measured_time(tmp_path: Path) -> None:
    import onnx

    from workbench.graph_model import synthetic_model

    model_path = tmp_path / "synthetic_1500.onnx"
    onnx.save(synthetic_model(1500), str(model_path))
    requests: list[str] = []
    with streamlit_server(tmp_path / "home", "--sample", "detector.onnx") as url, browser_page(1400, 1400) as page:
        page.on("request", lambda r: requests.append(r.url))
        page.goto(f"{url}/")
        _wait_drawn(page)
        started = time.monotonic()
        page.locator('input[type="file"]').first.set_input_files(str(model_path))
        page.get_by_text("upload: synthetic_1500.onnx").first.wait_for(timeout=120_000)
        frame = _graph_frame(page)
        frame.locator("#status", has_text="1,502 nodes").wait_for(timeout=120_000)
        frame.locator('body[data-ready="1"]').wait_for(timeout=120_000)
        upload_to_graph_s = time.monotonic() - started
        stats = _stats(page)
        assert stats["nodes"] == 1502
        # Responsive once drawn: find a node deep in the chain, select it, centre it.
        t = time.monotonic()
        box = frame.get_by_role("searchbox", name="Find node")
        box.fill("block300/add_1203")
        box.press("Enter")
        frame.locator("#details h3", has_text="block300/add_1203").wait_for(timeout=30_000)
        find_s = time.monotonic() - t
        screenshot(page, "graph_1500_nodes")
        print(
            f"1,500-node model: layout {stats['layoutMs']} ms, cytoscape {stats['cytoscapeMs']} ms, "
            f"drawn {stats['drawMs']} ms after the render message; upload to drawn graph {upload_to_graph_s:.1f} s; "
            f"find + select + details {find_s * 1000:.0f} ms"
        )
        assert stats["drawMs"] < 30_000
        assert find_s < 10
    assert [u for u in requests if not _local(u)] == []


@pytest.mark.rtx
def test_the_diff_after_a_fix_marks_what_it_removed_and_added(tmp_path: Path) -> None:
    from conftest import has_module

    if not has_module("tensorrt-rtx"):
        pytest.skip("TensorRT-RTX is not installed (pip install 'trt-workbench[rtx]')")
    requests: list[str] = []
    with streamlit_server(tmp_path / "home", "--sample", "broken_contrib_ops.onnx") as url, browser_page(1400, 2200) as page:
        page.on("request", lambda r: requests.append(r.url))
        page.goto(f"{url}/")
        _wait_drawn(page)
        page.get_by_role("link", name="Diagnose & fix").click()
        page.get_by_role("button", name="Diagnose").click()
        page.get_by_role("button", name="Apply: Decompose onnxruntime contrib ops into standard ops").first.click(
            timeout=120_000
        )
        page.get_by_text("outputs match the original").wait_for(timeout=120_000)
        # The graph switched to the diff of the fix on its own.
        frame = _wait_drawn(page)
        legend = frame.locator("#legend")
        legend.get_by_text("Diff: original → after decompose-contrib-ops").wait_for(timeout=60_000)
        legend_text = legend.inner_text()
        for label in ("added (only after)", "removed (only before)", "unchanged"):
            assert label in legend_text
        marks = _graph_frame(page).locator("body").evaluate(
            """() => { const g = window.__graph; const out = {};
                       g.cy.nodes().forEach(n => { const m = (g.byId.get(n.id()).mark || 'unchanged');
                                                 out[m] = (out[m] || 0) + 1; });
                       return {marks: out, removedDashed: g.cy.getElementById('/mlp/fc1/FusedMatMul').style('border-style'),
                               colour: g.cy.getElementById('/mlp/fc1/FusedMatMul').data('color')}; }"""
        )
        assert marks["marks"]["removed"] == 3 and marks["marks"]["added"] == 9, marks
        assert marks["removedDashed"] == "dashed" and marks["colour"] == "#cf222e"
        # Step through the changes: the first one (top to bottom) is selected and explained.
        frame.get_by_role("button", name="Next change").click()
        details = frame.locator("#details")
        details.locator(".note.diff").wait_for(timeout=10_000)
        first = details.inner_text()
        assert "only in" in first
        assert frame.locator("#changes-count").inner_text().startswith("1 of 12")
        # Find the removed node by name: its details say it is gone and what makes its output now.
        box = frame.get_by_role("searchbox", name="Find node")
        box.fill("/mlp/act/BiasGelu")
        box.press("Enter")
        details.locator("h3", has_text="/mlp/act/BiasGelu").wait_for(timeout=10_000)
        text = details.inner_text()
        assert "removed: only in original" in text and "/mlp/act/BiasGelu/Mul_5" in text
        # The table of what changed sits under the graph; a row finds its node.
        page.get_by_text(re.compile(r"12 node\(s\) differ")).wait_for(timeout=30_000)
        screenshot(page, "graph_diff_after_fix")
        assert "Traceback" not in page.inner_text("body")
    assert [u for u in requests if not _local(u)] == []


def test_the_diff_between_two_models_chosen_by_the_user(tmp_path: Path) -> None:
    import onnx
    import onnxslim

    from workbench.samples import samples_dir

    slim_path = tmp_path / "resnet_slim.onnx"
    onnx.save(onnxslim.slim(onnx.load(str(samples_dir() / "resnet_cnn.onnx"))), str(slim_path))
    requests: list[str] = []
    with streamlit_server(tmp_path / "home", "--sample", "resnet_cnn.onnx") as url, browser_page(1400, 2000) as page:
        page.on("request", lambda r: requests.append(r.url))
        page.goto(f"{url}/")
        _wait_drawn(page)
        page.locator('[data-testid="stSelectbox"]').filter(has_text=re.compile("^View")).click()
        page.get_by_role("option", name="Diff with another model…").click()
        page.get_by_text("Second model (.onnx").wait_for(timeout=30_000)
        page.locator('input[type="file"]').last.set_input_files(str(slim_path))
        frame = _graph_frame(page)
        frame.locator("#legend").get_by_text("Diff: resnet_cnn.onnx → resnet_slim.onnx").wait_for(timeout=120_000)
        frame = _wait_drawn(page)
        counts = _graph_frame(page).locator("body").evaluate(
            """() => { const g = window.__graph; const out = {};
                       for (const n of g.graph.nodes) out[n.mark || 'unchanged'] = (out[n.mark || 'unchanged'] || 0) + 1;
                       return out; }"""
        )
        assert counts["removed"] == 21 and counts["changed"] == 20, counts  # 20 BatchNorms folded + an Identity
        box = frame.get_by_role("searchbox", name="Find node")
        box.fill("/layer1/layer1.0/conv1/Conv_output_0")
        box.press("Enter")
        details = frame.locator("#details")
        details.locator(".note.diff").wait_for(timeout=10_000)
        text = details.inner_text()
        assert "paired with /layer1/layer1.0/conv1/Conv (by connected tensors)" in text
        screenshot(page, "graph_diff_two_models")
        assert "Traceback" not in page.inner_text("body")
    assert [u for u in requests if not _local(u)] == []


def _offline_page(page, path: Path, requests: list[str]):  # type: ignore[no-untyped-def]
    """Open ``path`` from file:// with every other request refused (and recorded)."""

    def route(r):  # type: ignore[no-untyped-def]
        if urlparse(r.request.url).scheme in ("file", "data", "blob", "about"):
            r.continue_()
        else:
            requests.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(path.as_uri())
    frame = page.frame_locator("iframe.trt-workbench-graph").first
    frame.locator('body[data-ready="1"]').wait_for(timeout=120_000)
    return frame


def test_the_report_fragment_draws_offline_and_exports_svg_and_png(tmp_path: Path) -> None:
    import struct
    import xml.etree.ElementTree as ET

    import onnx
    import onnxslim

    from workbench.graph_diff import diff_graph
    from workbench.graph_model import graph_view_html
    from workbench.model import load_model
    from workbench.samples import samples_dir

    original = samples_dir() / "resnet_cnn.onnx"
    slim_path = tmp_path / "resnet_slim.onnx"
    onnx.save(onnxslim.slim(onnx.load(str(original))), str(slim_path))
    data = diff_graph(load_model(original), load_model(slim_path), before_label="original", after_label="onnxslim")
    report = tmp_path / "report.html"
    report.write_text("<!doctype html><html><body><h1>Report</h1>" + graph_view_html(data, height=700) + "</body></html>")
    requests: list[str] = []
    with browser_page(1400, 1000) as page:
        frame = _offline_page(page, report, requests)
        legend = frame.locator("#legend")
        assert legend.inner_text().startswith("Diff: original → onnxslim")
        # The overlay choice is inside the view in a report.
        pick = frame.get_by_role("combobox", name="Colour by")
        pick.select_option(label="Operator kind")
        legend.get_by_text("Operator kind").wait_for(timeout=10_000)
        pick.select_option(value="diff")
        # Find node and details work offline.
        box = frame.get_by_role("searchbox", name="Find node")
        box.fill("/layer3/layer3.0/bn1/BatchNormalization")
        box.press("Enter")
        frame.locator("#details .note.diff", has_text="removed: only in original").wait_for(timeout=10_000)

        with page.expect_download() as svg_download:
            frame.get_by_role("button", name="SVG").click()
        svg_path = tmp_path / "view.svg"
        svg_download.value.save_as(svg_path)
        assert svg_download.value.suggested_filename.endswith(".svg")
        root = ET.parse(svg_path).getroot()
        ns = "{http://www.w3.org/2000/svg}"
        titles = [t.text for t in root.iter(f"{ns}title")]
        drawn = frame.locator("body").evaluate("() => window.__graph.cy.nodes().length")
        assert len(titles) == drawn + 1  # the picture's title and one per node
        assert "/layer3/layer3.0/bn1/BatchNormalization" in titles
        texts = "".join(t.text or "" for t in root.iter(f"{ns}text"))
        assert "removed (only before)" in texts  # the legend is in the picture
        # The selected removed node: blue selection border, its colour the diff's red.
        rects = {g.find(f"{ns}title").text: g.find(f"{ns}rect") for g in root.iter(f"{ns}g") if g.find(f"{ns}title") is not None}
        bn = rects["/layer3/layer3.0/bn1/BatchNormalization"]
        assert bn.get("fill") == "#cf222e" and bn.get("stroke") == "#0969da"

        with page.expect_download() as png_download:
            frame.get_by_role("button", name="PNG").click()
        png_path = tmp_path / "view.png"
        png_download.value.save_as(png_path)
        head = png_path.read_bytes()[:24]
        assert head[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", head[16:24])
        svg_w, svg_h = float(root.get("width")), float(root.get("height"))
        assert width >= svg_w and abs(width / height - svg_w / svg_h) < 0.02
        screenshot(page, "graph_report_offline")
    assert requests == []


def test_a_10000_node_model_opens_collapsed_and_search_opens_a_section(tmp_path: Path) -> None:
    import onnx

    from workbench.graph_model import graph_view_html, onnx_graph, synthetic_model, with_overlays
    from workbench.model import load_model

    path = tmp_path / "synthetic_10000.onnx"
    onnx.save(synthetic_model(10_000), str(path))
    data = with_overlays(onnx_graph(load_model(path)))
    page_path = tmp_path / "big.html"
    page_path.write_text("<!doctype html><html><body>" + graph_view_html(data, height=800) + "</body></html>")
    requests: list[str] = []
    with browser_page(1400, 1000) as page:
        frame = _offline_page(page, page_path, requests)
        stats = frame.locator("body").evaluate("() => window.__graph.stats")
        assert stats["nodes"] == 10_002
        assert stats["collapsedGroups"] > 100 and stats["drawnNodes"] < 1_000, stats
        assert "sections collapsed" in frame.locator("#status").inner_text()
        # A node deep inside a collapsed section: search opens its section in place and selects it.
        box = frame.get_by_role("searchbox", name="Find node")
        box.fill("block2400/add_9603")
        box.press("Enter")
        frame.locator("#details h3", has_text="block2400/add_9603").wait_for(timeout=60_000)
        state = frame.locator("body").evaluate(
            """() => { const g = window.__graph; const n = g.cy.getElementById('block2400/add_9603');
                       return {drawn: n.nonempty(), sel: n.hasClass('sel'), collapsed: g.groups.filter(x => x.collapsed).length}; }"""
        )
        assert state["drawn"] and state["sel"] and state["collapsed"] == stats["collapsedGroups"] - 1, state
        # Collapse it again from its details; a collapsed box's details offer to expand it.
        frame.locator("#details").get_by_text("collapse the section").click()
        frame.locator("#details button", has_text="Expand in place").wait_for(timeout=30_000)
        assert "nodes (collapsed)" in frame.locator("#details h3").inner_text()
        screenshot(page, "graph_10000_collapsed")
    assert requests == []


@pytest.mark.rtx
def test_acting_from_a_selected_node_applies_its_fix_and_keeps_it_high(tmp_path: Path) -> None:
    from conftest import has_module

    if not has_module("tensorrt-rtx"):
        pytest.skip("TensorRT-RTX is not installed (pip install 'trt-workbench[rtx]')")
    requests: list[str] = []
    with streamlit_server(tmp_path / "home", "--sample", "broken_contrib_ops.onnx") as url, browser_page(1400, 2400) as page:
        page.on("request", lambda r: requests.append(r.url))
        page.goto(f"{url}/")
        _wait_drawn(page)
        page.get_by_role("link", name="Diagnose & fix").click()
        page.get_by_role("button", name="Diagnose").click()
        page.get_by_text("parse error at /mlp/fc1/FusedMatMul").first.wait_for(timeout=120_000)
        frame = _wait_drawn(page)
        box = frame.get_by_role("searchbox", name="Find node")
        box.fill("/mlp/fc1/FusedMatMul")
        box.press("Enter")
        # The selection reaches Streamlit: the node's own actions appear under the graph.
        page.get_by_text("Selected node: /mlp/fc1/FusedMatMul").wait_for(timeout=30_000)
        page.get_by_role("button", name=re.compile("^Apply to this node: Decompose onnxruntime contrib ops")).click()
        page.get_by_text("outputs match the original").wait_for(timeout=120_000)
        _graph_frame(page).locator("#legend").get_by_text("Diff: original → after decompose-contrib-ops").wait_for(
            timeout=60_000
        )
        # Keep a node in higher precision from the ONNX view: the Build page has it chosen.
        page.locator('[data-testid="stSelectbox"]').filter(has_text=re.compile("^View")).click()
        page.get_by_role("option", name="ONNX graph").click()
        frame = _graph_frame(page)
        frame.locator("#title", has_text="broken_contrib_ops.onnx: 6 nodes").wait_for(timeout=60_000)
        frame = _wait_drawn(page)
        box = frame.get_by_role("searchbox", name="Find node")
        box.fill("/mlp/fc2/Add")
        box.press("Enter")
        page.get_by_text("Selected node: /mlp/fc2/Add").wait_for(timeout=30_000)
        page.get_by_role("button", name="Keep in higher precision").click()
        page.get_by_text("Kept in FP32 in the next build").wait_for(timeout=30_000)
        page.get_by_role("link", name="Build").click()
        keep = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Keep in FP32")
        keep.get_by_text("/mlp/fc2/Add").wait_for(timeout=30_000)
        screenshot(page, "graph_node_actions")
        assert "Traceback" not in page.inner_text("body")
    assert [u for u in requests if not _local(u)] == []


def test_subgraphs_open_in_place_nested_level_by_level_and_search_opens_them(tmp_path: Path) -> None:
    """The real silero-vad-like sample's If opens in place: its two branches drawn inside the If
    node's box, a body node's details, a search for a node in a closed body, closing back; and
    a Loop whose body holds an If opens one level at a time."""
    import json

    from test_graph_model import _loop_with_an_if_model

    from workbench.graph_model import graph_view_html, onnx_graph, with_overlays
    from workbench.model import load_model
    from workbench.samples import samples_dir

    data = with_overlays(onnx_graph(load_model(samples_dir() / "vad_like_scalar_sr.onnx")))
    nested = with_overlays(onnx_graph(load_model(_loop_with_an_if_model(tmp_path / "loop.onnx"))))
    page_path = tmp_path / "bodies.html"
    page_path.write_text("<!doctype html><html><body>" + graph_view_html(data, height=800)
                         + graph_view_html(nested, height=600) + "</body></html>")
    body_ops = {n.id for n in data.body_nodes() if n.kind == "op"}
    drawn_js = """() => { const cy = window.__graph.cy;
        return {ids: cy.nodes().map(n => n.id()), parents: cy.nodes(':parent').map(n => n.id()),
                open: window.__graph.stats.openBodies,
                inBox: cy.nodes().filter(n => n.isChild() && n.parent().id().startsWith('body:')).map(n => n.id())}; }"""
    requests: list[str] = []
    with browser_page(1400, 1600) as page:
        frame = _offline_page(page, page_path, requests)
        body = frame.locator("body")
        closed = body.evaluate(drawn_js)
        assert "/stft/If" in closed["ids"] and not (set(closed["ids"]) & body_ops) and closed["parents"] == []
        # Double-click the If node: its box opens around both branches.
        pos = body.evaluate("() => { const n = window.__graph.cy.getElementById('/stft/If'); return n.renderedPosition(); }")
        frame.locator("#cy").dblclick(position={"x": pos["x"], "y": pos["y"]})
        frame.locator("#status", has_text="1 open").wait_for(timeout=30_000)
        opened = body.evaluate(drawn_js)
        assert set(opened["parents"]) == {"/stft/If", "body:/stft/If/then_branch", "body:/stft/If/else_branch"}
        assert body_ops <= set(opened["inBox"])  # every body node is drawn inside a body's box
        geometry = body.evaluate(
            """() => { const cy = window.__graph.cy; const box = cy.getElementById('/stft/If').boundingBox();
                       const inside = cy.getElementById('body:/stft/If/then_branch').descendants().every(n => {
                         const b = n.boundingBox(); return b.x1 >= box.x1 && b.x2 <= box.x2 && b.y1 >= box.y1 && b.y2 <= box.y2; });
                       const pad = cy.getElementById('/stft/If/then_branch//stft_16k/padding/Pad');
                       const log = cy.getElementById('/stft/If/then_branch//stft_16k/log/Log');
                       const captured = cy.edges().filter(e => e.source().id() === 'input:input' && e.target().id() === pad.id()).length;
                       return {inside, topDown: pad.position('y') < log.position('y'), captured,
                               ioMarked: cy.getElementById('/stft/If/then_branch/output:/stft_16k/log/Log_output_0').hasClass('io')}; }"""
        )
        assert geometry == {"inside": True, "topDown": True, "captured": 1, "ioMarked": True}, geometry
        # A click on a body node: its details say which subgraph it belongs to, with shapes.
        conv = "/stft/If/then_branch//stft_16k/filterbank/Conv"
        cpos = body.evaluate(
            f"() => {{ const cy = window.__graph.cy; const n = cy.getElementById('{conv}'); cy.center(n); return n.renderedPosition(); }}"
        )
        frame.locator("#cy").click(position={"x": cpos["x"], "y": cpos["y"]})
        details = frame.locator("#details")
        details.locator("h3", has_text="/stft_16k/filterbank/Conv").wait_for(timeout=10_000)
        text = details.inner_text()
        assert "Conv" in text and "then_branch" in text and "/stft/If" in text and "batch" in text, text
        assert "kernel_shape" in text and "[64]" in text, text
        # Close it from the details' button: the If is one node again.
        details.get_by_role("button", name="Close this subgraph").click()
        frame.locator("#status", has_text="0 open").wait_for(timeout=30_000)
        again = body.evaluate(drawn_js)
        assert again["parents"] == [] and not (set(again["ids"]) & body_ops)
        assert body.evaluate("() => window.__graph.selected") == "/stft/If"  # the selection falls back on its holder
        # Find node from the closed state: the body opens and the node is selected and drawn.
        box = frame.get_by_role("searchbox", name="Find node")
        box.fill("/stft_8k/log/Log")
        box.press("Enter")
        details.locator("h3", has_text="/stft_8k/log/Log").wait_for(timeout=30_000)
        found = body.evaluate(
            "() => { const n = window.__graph.cy.getElementById('/stft/If/else_branch//stft_8k/log/Log'); return {drawn: n.nonempty(), sel: n.hasClass('sel'), box: n.nonempty() && n.parent().id()}; }"
        )
        assert found == {"drawn": True, "sel": True, "box": "body:/stft/If/else_branch"}, found
        # Overlays colour body nodes that have values (operator kinds here): not the no-value grey.
        colour = body.evaluate("() => window.__graph.cy.getElementById('/stft/If/else_branch//stft_8k/log/Log').data('color')")
        assert colour == data.overlay("operator").colors["/stft/If/else_branch//stft_8k/log/Log"] != "#d9d9d9"
        screenshot(page, "graph_subgraph_open")

        # The nested model: the Loop opens, its If stays closed until opened itself.
        second = page.frame_locator("iframe.trt-workbench-graph").nth(1)
        second.locator('body[data-ready="1"]').wait_for(timeout=60_000)
        nb = second.locator("body")
        nb.evaluate("() => window.__graph.api.openBody('loop')")
        level1 = nb.evaluate(drawn_js)
        assert "loop/body/pick" in level1["ids"] and "loop/body/pick/then_branch/then_add" not in level1["ids"]
        assert set(level1["parents"]) == {"loop", "body:loop/body"}
        second.locator("#details").inner_text()  # nothing selected yet
        nb.evaluate("() => window.__graph.api.select('loop/body/pick')")
        second.locator("#details").get_by_role("button", name="Open its subgraphs in place").click()
        second.locator("#status", has_text="2 open").wait_for(timeout=30_000)
        level2 = nb.evaluate(drawn_js)
        assert {"loop/body/pick/then_branch/then_add", "loop/body/pick/else_branch/else_sub"} <= set(level2["inBox"])
        edges = nb.evaluate("() => window.__graph.cy.edges().map(e => [e.source().id(), e.target().id()])")
        assert ["weights", "loop/body/pick/then_branch/then_add"] in edges  # captured from two levels up
        # Closing the Loop hides both levels; its edges fall back on the Loop node.
        nb.evaluate("() => window.__graph.api.closeBody('loop')")
        closed_again = nb.evaluate(drawn_js)
        assert closed_again["parents"] == [] and not any(i.startswith("loop/") for i in closed_again["ids"])
        assert json.dumps(nb.evaluate("() => window.__graph.cy.edges().map(e => e.target().id())")).count('"loop"') >= 1
    assert requests == []
