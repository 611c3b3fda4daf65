"""The sidebar's "Run on" choice (AppTest): local by default, and back to local when asked."""

from __future__ import annotations

import pytest
from conftest import ROOT

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest


def test_run_on_defaults_to_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRT_WORKBENCH_CLUSTER", raising=False)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert at.sidebar.text_input(key="run_on_address").value == "local"
    assert any("Tasks run on: **this machine**" in c.value for c in at.sidebar.caption)
    at.sidebar.text_input(key="run_on_address").set_value("local")
    at = at.sidebar.button[0].click().run()
    assert not at.exception and not at.sidebar.error
    assert any("this machine" in c.value for c in at.sidebar.caption)
