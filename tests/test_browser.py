"""The workbench in a real browser: Debian's chromium driven by Playwright."""

from __future__ import annotations

import os
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


def test_opens_on_a_bundled_sample_and_shows_its_summary(tmp_path: Path) -> None:
    with (
        streamlit_server(tmp_path / "home", "--sample", "transformer_encoder.onnx") as url,
        browser_page() as page,
    ):
        page.goto(f"{url}/")
        page.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg', timeout=60_000)
        page.get_by_text("transformer_encoder.onnx").first.wait_for(timeout=30_000)
        body = page.inner_text("body")
        assert "hidden_states" in body
        assert "Operators in transformer_encoder.onnx (34 nodes)" in body
        assert "optimization profile" in body
        screenshot(page, "model_page_transformer")
