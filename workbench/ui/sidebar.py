"""The sidebar: environment (backends, versions, GPU or none) and the workspace."""

from __future__ import annotations

import streamlit as st

from workbench.ui.cache import environment
from workbench.ui.state import Session


def render_sidebar(sess: Session) -> None:
    env = environment()
    with st.sidebar:
        st.caption("Backends")
        if env.backends:
            for backend in env.backends:
                st.markdown(f"**{backend.name}** {backend.version}")
        else:
            st.warning("No TensorRT installed: parse and build checks are unavailable.")
        st.markdown(f"ONNX Runtime {env.onnxruntime} (CPU reference)")
        if env.gpus:
            for gpu in env.gpus:
                st.markdown(f"GPU: {gpu.name} (SM {gpu.compute_capability})")
        else:
            st.info(
                "No GPU here: TensorRT-RTX builds ahead of time; timings come from ONNX Runtime on the CPU."
            )
        with st.expander("Environment"):
            st.table({"component": [k for k, _ in env.lines()], "version": [v for _, v in env.lines()]})
        st.caption(f"Workspace: `{sess.workspace.root}`")
