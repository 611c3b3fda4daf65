"""The Compatibility page in Streamlit's AppTest: real checks in managed TensorRT-RTX environments."""

from __future__ import annotations

import pytest
from conftest import ROOT, has_module

from workbench.environments import EnvironmentError_, ensure_environment

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest

pytestmark = [
    pytest.mark.rtx,
    pytest.mark.skipif(not has_module("tensorrt-rtx"), reason="TensorRT-RTX is not installed here"),
]

# The page on the session's model, as the app shows it once a model is open.
SCRIPT = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from workbench.model import load_model
from workbench.samples import find_sample
from workbench.summary import summarize
from workbench.ui.state import session
from workbench.ui import compat_page

sess = session()
if sess.model is None:
    model = load_model(find_sample("detector").path)
    sess.set_model(model, summarize(model), "sample: detector.onnx")
compat_page.render()
"""


@pytest.fixture(scope="module")
def versions() -> str:
    for version in ("1.6", "1.7"):
        try:
            ensure_environment("tensorrt-rtx", version)
        except EnvironmentError_ as exc:
            pytest.skip(f"TensorRT-RTX {version} cannot be installed here: {exc.message}")
    return "1.6,1.7"


def test_the_page_checks_versions_and_a_rerun_only_looks_up(versions: str) -> None:
    from workbench.ui.compat_page import finished_checks

    finished_checks().clear()
    at = AppTest.from_string(SCRIPT, default_timeout=600).run()
    assert not at.exception
    at.text_input(key="compat_versions").set_value(versions)
    at = at.button(key="compat_run").click().run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert [v.split()[1].rsplit(".", 2)[0] for v in table["version"]] == ["1.6", "1.7"]
    assert list(table["parse"]) == ["yes", "yes"] and list(table["build"]) == ["yes", "yes"]
    assert all(n > 0 for n in table["layers"])
    stored = list(finished_checks().values())
    assert len(stored) == 1
    assert any("oldest version checked that accepts" in m.value for m in at.markdown)
    assert any("trt-workbench compat" in c.value and "--build-check" in c.value for c in at.code)
    # A rerun (any click) shows the same report without checking again.
    at = at.run()
    assert not at.exception
    assert list(at.dataframe[0].value["layers"]) == list(table["layers"])
    assert list(finished_checks().values()) == stored, "the finished check was looked up, not recomputed"
    # Asking again for the same check: every version's outcome comes from the compat cache.
    at = at.button(key="compat_run").click().run()
    assert not at.exception
    again = list(finished_checks().values())
    assert len(again) == 1 and all(o.cached for o in again[0].versions)


def test_a_bad_spec_is_one_sentence_on_the_page(versions: str) -> None:
    at = AppTest.from_string(SCRIPT, default_timeout=120).run()
    at.text_input(key="compat_versions").set_value("1.6,tensorrt-rtx>=1.7")
    at = at.button(key="compat_run").click().run()
    assert not at.exception
    assert any("pin it with ==" in e.value for e in at.error)
    assert not at.dataframe
