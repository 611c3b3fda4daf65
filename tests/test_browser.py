"""The workbench in a real browser: Debian's chromium driven by Playwright."""

from __future__ import annotations

import os
import re
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
        page.get_by_text("Operators in transformer_encoder.onnx (34 nodes)").wait_for(timeout=30_000)
        body = page.inner_text("body")
        assert "hidden_states" in body
        assert "Operators in transformer_encoder.onnx (34 nodes)" in body
        assert "optimization profile" in body
        screenshot(page, "model_page_transformer")


@pytest.mark.rtx
def test_upload_broken_model_diagnose_and_fix(tmp_path: Path) -> None:
    from conftest import has_module, sample

    if not has_module("tensorrt-rtx"):
        pytest.skip("TensorRT-RTX is not installed (pip install 'trt-workbench[rtx]')")
    with streamlit_server(tmp_path / "home") as url, browser_page() as page:
        page.goto(f"{url}/")
        page.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg', timeout=60_000)
        page.locator('input[type="file"]').set_input_files(str(sample("broken_reduce_axes_subgraph.onnx")))
        page.get_by_text("upload: broken_reduce_axes_subgraph.onnx").wait_for(timeout=60_000)
        screenshot(page, "01_uploaded_broken_model")

        page.get_by_role("link", name="Diagnose & fix").click()
        page.get_by_role("button", name="Diagnose").click()
        page.get_by_text("parse error at /pool/ReduceMean").first.wait_for(timeout=60_000)
        # The error's own expander (the graph's side table holds the same text in a hidden cell).
        page.get_by_test_id("stExpander").get_by_text("must resolve to a build-time constant").first.wait_for(
            timeout=30_000
        )
        screenshot(page, "02_diagnosis")

        page.get_by_role("button", name="Apply: Fold constants").first.click()
        page.get_by_text("outputs match the original").wait_for(timeout=60_000)
        page.get_by_text("No errors").wait_for(timeout=30_000)
        screenshot(page, "03_fixed")
        assert page.get_by_role("button", name="Download fixed model").count() == 1

        page.get_by_role("button", name="Build with the fixed model").click()
        page.get_by_text("fixed: broken_reduce_axes_subgraph.onnx").wait_for(timeout=60_000)
        page.get_by_role("button", name="Build", exact=True).click()
        page.get_by_text("Built with tensorrt-rtx").wait_for(timeout=180_000)
        page.get_by_text("fp16 · static: 8 layers").wait_for(timeout=30_000)
        screenshot(page, "04_built_fp32_fp16")

        page.get_by_role("link", name="Accuracy").click()
        # INT8 needs calibration data; none was given, so synthetic data is chosen explicitly.
        page.get_by_text("use SYNTHETIC data").click()
        page.get_by_role("button", name="Compare", exact=True).click()
        page.get_by_text("Layer-by-layer drift from FP32").wait_for(timeout=180_000)
        page.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg', timeout=60_000)
        page.get_by_text("INT8 (onnxruntime-cpu)").first.wait_for(timeout=30_000)
        screenshot(page, "05_drift_chart")


@pytest.mark.rtx
def test_cancel_a_running_build(tmp_path: Path) -> None:
    from conftest import has_module

    from workbench.precision import modelopt_available

    if not has_module("tensorrt-rtx") or not modelopt_available():
        pytest.skip("needs TensorRT-RTX and Model Optimizer")
    with streamlit_server(tmp_path / "home", "--sample", "resnet_cnn.onnx") as url, browser_page() as page:
        page.goto(f"{url}/")
        page.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg', timeout=60_000)
        page.get_by_role("link", name="Build").click()
        page.get_by_text("Precisions").wait_for(timeout=60_000)
        page.locator('[data-testid="stMultiSelect"] input').first.click()
        page.keyboard.type("int8")
        page.keyboard.press("Enter")
        page.keyboard.press("Escape")
        page.get_by_text("Synthetic (smoke test only)").click()
        page.get_by_text("SYNTHETIC DATA").wait_for(timeout=60_000)
        page.get_by_role("button", name="Build", exact=True).click()
        page.get_by_role("button", name="Cancel", exact=True).wait_for(timeout=30_000)
        # The profile follows the session's serving shapes (all 1 for the batch by default).
        page.get_by_text(re.compile(r"int8 · input:[0-9x,]+: transforming")).wait_for(timeout=60_000)
        page.get_by_role("button", name="Cancel", exact=True).click()
        page.get_by_text("Building…").wait_for(state="detached", timeout=30_000)
        # Long enough for the INT8 transform and build to have finished, had they not been stopped.
        page.wait_for_timeout(15_000)
        screenshot(page, "06_build_cancelled")
        assert "Engines" not in page.locator('[data-testid="stMain"]').inner_text()
        engines = list((tmp_path / "home").rglob("*.int8.engine"))
        assert engines == [], "the cancelled INT8 build went on"


def test_two_sessions_cannot_open_each_others_files(tmp_path: Path) -> None:
    import hashlib

    from browser import CHROMIUM_ARGS
    from conftest import sample
    from playwright.sync_api import sync_playwright

    home = tmp_path / "home"
    digest = hashlib.sha256(sample("detector.onnx").read_bytes()).hexdigest()[:16]
    with streamlit_server(home) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            alice = browser.new_context(viewport={"width": 1400, "height": 1800}).new_page()
            bob = browser.new_context(viewport={"width": 1400, "height": 1800}).new_page()
            for page in (alice, bob):
                page.goto(f"{url}/")
                page.get_by_text("Operators in resnet_cnn.onnx").first.wait_for(timeout=60_000)
            alice.locator('input[type="file"]').set_input_files(str(sample("detector.onnx")))
            alice.get_by_text("upload: detector.onnx").wait_for(timeout=60_000)
            theirs = next((home / "sessions").glob(f"*/models/{digest}/detector.onnx"))
            bob.get_by_text("Open a file on the server").click()
            for attempt in (str(theirs), str(theirs.with_name("missing.onnx"))):
                field = bob.get_by_label("Path on the server (for models too big to upload; external data must sit beside it)")
                field.fill(attempt)
                bob.get_by_test_id("stMainBlockContainer").get_by_test_id("stBaseButton-secondaryFormSubmit").click()
                bob.get_by_text(f"{attempt} is not a file the workbench may open here.").wait_for(timeout=30_000)
            screenshot(bob, "two_sessions_path_refused")
            assert "Operators in detector.onnx" not in bob.inner_text("body")
        finally:
            browser.close()
