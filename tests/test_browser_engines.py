"""The Engines page in a real browser: Debian's chromium driven by Playwright, on the shared A100 exports."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from browser import CHROMIUM, browser_page, screenshot, streamlit_server

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason="Debian chromium is not installed (apt-get install chromium)"
    ),
]
pytest.importorskip("playwright", reason="playwright (Python) is not installed")

ARTIFACTS = Path(__file__).resolve().parents[2] / "shared" / "trt-artifacts"
RESNET = ARTIFACTS / "resnet18-a100"


@pytest.mark.skipif(not RESNET.is_dir(), reason=f"the shared trtexec exports are not at {RESNET} on this machine")
def test_engines_page_loads_a_folder_and_draws_the_comparison(tmp_path: Path) -> None:
    from workbench.engine_report import load_engine_exports

    fp16 = next(r for r in load_engine_exports([RESNET / "fp16"]))
    assert fp16.total_ms is not None
    with streamlit_server(tmp_path / "home") as url, browser_page() as page:
        page.goto(f"{url}/")
        page.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg', timeout=60_000)
        page.get_by_role("link", name="Engines").click()
        field = page.get_by_role("textbox", name=re.compile("folder or .zip on the server"))
        field.wait_for(timeout=60_000)
        field.fill(str(RESNET))
        started = time.monotonic()
        page.get_by_role("button", name="Load", exact=True).click()
        # The comparison chart of all five engines: a plotly SVG with its title.
        title = page.locator(".main-svg .gtitle", has_text="Matched layers across 5 engines")
        title.first.wait_for(timeout=60_000)
        loaded_s = time.monotonic() - started
        assert page.locator('[data-testid="stPlotlyChart"] .main-svg').count() >= 5
        # A number the exports give: FP16's layer-time sum, in its tab's metric.
        page.get_by_text(f"{fp16.total_ms:.4f}", exact=True).first.wait_for(timeout=30_000)
        body = page.inner_text("body")
        assert "NVIDIA A100 80GB PCIe, from trtexec export" in body
        assert "is not the layer sum" in body
        assert "Traceback" not in body
        top = screenshot(page, "engines_page_resnet18_a100")
        page.get_by_role("heading", name=re.compile("^Comparison: fp16 vs fp32")).scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        compared = screenshot(page, "engines_page_resnet18_a100_comparison")
        assert top.is_file() and compared.is_file()
        print(f"folder of five engines loaded and drawn in {loaded_s:.1f} s; screenshots {top}, {compared}")
