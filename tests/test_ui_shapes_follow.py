"""Serving shapes follow the user from page to page (Streamlit AppTest, real TensorRT-RTX
parses and builds, real ONNX Runtime)."""

from __future__ import annotations

import pytest
from conftest import ROOT, requires_rtx

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest

SERVED = "hidden_states:1x16x64,2x128x64,4x256x64"


def _app_on(sample_name: str, page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    box = at.selectbox(key="model_sample")
    at = box.select(next(o for o in box.options if sample_name in o)).run()
    at.switch_page(f"workbench/ui/{page}.py")
    return at.run()


def _go(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"workbench/ui/{page}.py")
    at = at.run()
    assert not at.exception
    return at


def _profile_rows(at: AppTest) -> list[dict]:
    table = next(d for d in at.dataframe if (d.key or "").startswith("build_profile"))
    return table.value.to_dict("records")


@pytest.mark.rtx
@requires_rtx
def test_shapes_typed_on_diagnose_are_on_build_accuracy_and_timing() -> None:
    at = _app_on("transformer_encoder.onnx", "diagnose_page")
    assert at.text_area(key="diagnose_shapes").value == ""
    at.text_area(key="diagnose_shapes").set_value(SERVED)
    at = next(b for b in at.button if b.label == "Diagnose").click().run()
    assert not at.exception
    assert "**Build:** ok" in " ".join(m.value for m in at.markdown)

    at = _go(at, "build_page")
    assert _profile_rows(at) == [
        {"profile": 0, "input": "hidden_states", "min": "1x16x64", "opt": "2x128x64", "max": "4x256x64"}
    ]
    assert not any("defaulted" in c.value for c in at.caption)

    at = _go(at, "accuracy_page")
    assert at.text_input(key="acc_shape_hidden_states").value == "1x16x64,2x128x64,4x256x64"
    at = _go(at, "timing_page")
    assert at.text_input(key="timing_shape_hidden_states").value == "1x16x64,2x128x64,4x256x64"
    # Timing runs at the opt shape.
    at = at.button(key="timing_run").click().run()
    assert not at.exception
    assert at.session_state["trt_workbench_session"].profiles["onnxruntime"].input_shapes == {
        "hidden_states": [2, 128, 64]
    }

    # An edit on one page is what every other page shows.
    at = at.text_input(key="timing_shape_hidden_states").set_value("3x48x64").run()
    assert not at.exception
    at = _go(at, "diagnose_page")
    assert at.text_area(key="diagnose_shapes").value == "hidden_states:3x48x64"
    at = _go(at, "build_page")
    assert _profile_rows(at) == [
        {"profile": 0, "input": "hidden_states", "min": "3x48x64", "opt": "3x48x64", "max": "3x48x64"}
    ]
    at = _go(at, "accuracy_page")
    assert at.text_input(key="acc_shape_hidden_states").value == "3x48x64"


def test_no_shapes_given_every_page_says_the_dims_default_to_one() -> None:
    at = _app_on("resnet_cnn.onnx", "timing_page")
    notice = "dynamic dims defaulted to 1: input[0]=batch; type the shapes you serve"
    assert at.text_input(key="timing_shape_input").value == ""
    assert any(c.value.startswith(notice) for c in at.caption)
    at = at.number_input(key="timing_iterations").set_value(5).run()
    at = at.button(key="timing_run").click().run()
    assert not at.exception
    assert any("dynamic dims defaulted to 1: input[0]=batch" in c.value for c in at.caption)
    at = _go(at, "accuracy_page")
    assert any(
        c.value.startswith("dynamic dims defaulted to 4: input[0]=batch; type the shapes you serve")
        for c in at.caption
    )
    # A bad shape is one sentence next to the box, and nothing runs.
    at = at.text_input(key="acc_shape_input").set_value("1x3xQ").run()
    assert not at.exception
    assert any("Bad shape" in e.value for e in at.error)


@pytest.mark.rtx
@requires_rtx
def test_build_page_suggests_profiles_from_observed_shapes_and_builds_them() -> None:
    at = _app_on("transformer_encoder.onnx", "build_page")
    assert _profile_rows(at) == [
        {"profile": 0, "input": "hidden_states", "min": "1x1x64", "opt": "1x1x64", "max": "1x1x64"}
    ]
    assert any(c.value.startswith("dynamic dims defaulted to 1: hidden_states[0]=batch") for c in at.caption)
    observed = ["hidden_states:1x16x64"] * 6 + ["hidden_states:2x32x64"] * 5 + ["hidden_states:1x384x64"] * 4
    at.text_area(key="build_observed_text").set_value("\n".join(observed + ["hidden_states:2x512x64"] * 3))
    at = at.button(key="build_suggest").click().run()
    assert not at.exception
    assert any(
        m.value.startswith("2 profiles: hidden_states[0] 1-2, hidden_states[1] 16-32 (61%")
        for m in at.markdown
    )
    at = at.button(key="build_use_suggestion").click().run()
    assert not at.exception
    assert _profile_rows(at) == [
        {"profile": 0, "input": "hidden_states", "min": "1x16x64", "opt": "1x16x64", "max": "2x32x64"},
        {"profile": 1, "input": "hidden_states", "min": "1x384x64", "opt": "1x384x64", "max": "2x512x64"},
    ]
    at = at.multiselect(key="build_precisions").set_value(["fp32"]).run()
    at = at.button(key="build_run").click().run()
    assert not at.exception
    (result,) = at.session_state["trt_workbench_session"].builds
    assert result.ok, result.error
    assert result.shapes == [
        {"hidden_states": [[1, 16, 64], [1, 16, 64], [2, 32, 64]]},
        {"hidden_states": [[1, 384, 64], [1, 384, 64], [2, 512, 64]]},
    ]
    # The suggestion's first profile is now the serving shapes of the other pages.
    at = _go(at, "timing_page")
    assert at.text_input(key="timing_shape_hidden_states").value == "1x16x64,1x16x64,2x32x64"


@pytest.mark.rtx
@requires_rtx
def test_bad_observed_shapes_are_one_sentence_on_the_build_page() -> None:
    at = _app_on("transformer_encoder.onnx", "build_page")
    at.text_area(key="build_observed_text").set_value("hidden_states:1x8x32")
    at = at.button(key="build_suggest").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "The observed shapes request 1 gives 'hidden_states' axis 2 = 32; the model fixes it to 64."
    ]


@pytest.mark.browser
def test_an_edit_in_the_build_table_reaches_the_other_pages_in_a_browser(tmp_path) -> None:
    """Each edit of the profile table becomes the session's shapes (the table restarts from
    them): two edits in a row both count, and the Timing page shows them."""
    import os
    import time

    pytest.importorskip("playwright", reason="playwright (Python) is not installed")
    from browser import CHROMIUM, browser_page, streamlit_server

    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    with (
        streamlit_server(tmp_path / "home", "--sample", "transformer_encoder.onnx") as url,
        browser_page() as page,
    ):
        page.goto(f"{url}/")
        page.get_by_text("transformer_encoder.onnx").first.wait_for(timeout=60_000)
        page.get_by_role("link", name="Build").first.click()
        page.get_by_text("Optimization profiles").wait_for(timeout=60_000)
        grid = page.locator('[data-testid="stDataFrame"]').first
        grid.wait_for(timeout=30_000)
        time.sleep(1)

        def cells() -> list[str]:
            return page.locator('[role="gridcell"]').all_inner_texts()[:5]

        def selected_column() -> int | None:
            # The grid's accessibility table marks the selected cell; columns count from 1.
            selected = page.locator('[role="gridcell"][aria-selected="true"]')
            if selected.count() != 1:
                return None
            return int(selected.first.get_attribute("aria-colindex") or 0) - 1

        def select(column: int) -> None:
            # Keys pressed while the grid rerenders can be lost: move until the grid itself
            # says the wanted cell is selected, never type blind.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                box = grid.bounding_box()
                # The first data row, past the row-selection column: the "profile" cell.
                page.mouse.click(box["x"] + 60, box["y"] + 35 + 17)
                time.sleep(0.3)
                for _ in range(2 * column + 2):
                    current = selected_column()
                    if current == column:
                        return
                    if current is None:
                        break
                    page.keyboard.press("ArrowRight" if current < column else "ArrowLeft")
                    # The accessibility table follows the canvas a moment later.
                    moved = time.monotonic() + 3
                    while time.monotonic() < moved and selected_column() == current:
                        time.sleep(0.1)
            raise AssertionError(f"could not select column {column} of the profile table")

        def edit(column: int, text: str) -> None:
            select(column)
            page.keyboard.type(text, delay=30)
            page.keyboard.press("Enter")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and text not in cells():
                time.sleep(0.25)
            time.sleep(1)  # the rerun that restarts the table from the session

        assert cells() == ["0", "hidden_states", "1x1x64", "1x1x64", "1x1x64"]
        edit(4, "8x256x64")
        edit(3, "2x64x64")
        assert cells() == ["0", "hidden_states", "1x1x64", "2x64x64", "8x256x64"]
        page.get_by_role("link", name="Timing").first.click()
        box = page.get_by_role("textbox", name="Shape of hidden_states")
        box.wait_for(timeout=30_000)
        assert box.input_value() == "1x1x64,2x64x64,8x256x64"


@pytest.mark.rtx
@requires_rtx
def test_diagnose_page_says_which_dims_the_build_check_set_to_one() -> None:
    at = _app_on("broken_shared_dim_names.onnx", "diagnose_page")
    at.text_area(key="diagnose_shapes").set_value("")
    at = next(b for b in at.button if b.label == "Diagnose").click().run()
    assert not at.exception
    notice = (
        "Build check: dynamic dims defaulted to 1: image[2]=size, image[3]=size; type the shapes you serve"
    )
    assert any(c.value.startswith(notice) for c in at.caption), [c.value for c in at.caption]
    # After a fix renamed the dims, the notice names the fixed model's dims.
    at = next(b for b in at.button if b.label == "Auto-fix").click().run()
    assert not at.exception
    captions = [c.value for c in at.caption]
    assert any("image[2]=image_size_2, image[3]=image_size_3" in c for c in captions), captions
