"""The Streamlit entry point: navigation and the sidebar frame around the pages.

Run it with ``trt-workbench ui`` or ``streamlit run app.py``; ``-- --sample NAME`` opens
a bundled sample model.
"""

from __future__ import annotations

import argparse
import functools
import sys
from dataclasses import dataclass
from pathlib import Path

import streamlit as st


@dataclass(frozen=True)
class StartupOptions:
    sample: str | None = None


@functools.lru_cache(maxsize=1)
def startup_options() -> StartupOptions:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--sample", default="resnet_cnn.onnx")
    known, _ = parser.parse_known_args(sys.argv[1:])
    return StartupOptions(sample=known.sample)


def main() -> None:
    from workbench.ui.sidebar import render_sidebar
    from workbench.ui.state import session

    st.set_page_config(page_title="TensorRT Workbench", page_icon="⚡", layout="wide")
    # Pages are the page modules' own files (each ends by calling its render() when run as
    # a page), so tests can switch to them by path and the URL names stay stable.
    here = Path(__file__).resolve().parent
    pages = [
        st.Page(
            here / "model_page.py",
            title="Model",
            icon=":material/inventory_2:",
            url_path="model",
            default=True,
        ),
        st.Page(
            here / "diagnose_page.py", title="Diagnose & fix", icon=":material/healing:", url_path="diagnose"
        ),
        st.Page(here / "build_page.py", title="Build", icon=":material/memory:", url_path="build"),
        st.Page(here / "accuracy_page.py", title="Accuracy", icon=":material/target:", url_path="accuracy"),
        st.Page(here / "timing_page.py", title="Timing", icon=":material/timer:", url_path="timing"),
        st.Page(
            here / "engines_page.py", title="Engines", icon=":material/developer_board:", url_path="engines"
        ),
        st.Page(here / "compat_page.py", title="Compatibility", icon=":material/compare_arrows:", url_path="compat"),
        st.Page(here / "report_page.py", title="Report", icon=":material/description:", url_path="report"),
    ]
    current = st.navigation(pages)
    render_sidebar(session())
    current.run()


if __name__ == "__main__":
    main()
