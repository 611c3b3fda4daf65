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
        _run_on()


def _run_on() -> None:
    """Where tasks run: this machine's worker pool, or a Ray cluster (for this server process)."""
    from workbench.errors import WorkbenchError
    from workbench.executor import default_executor_name
    from workbench.executors import cluster_address, use_cluster

    current = default_executor_name()
    with st.form("run_on_form"):
        text = st.text_input(
            "Run on",
            value=cluster_address(None) or "local",
            help="local (this machine's workers) or a Ray cluster address (HOST:6379, ray://HOST:10001); "
            "the same as --cluster / TRT_WORKBENCH_CLUSTER, for every session of this server",
            key="run_on_address",
        )
        switch = st.form_submit_button("Use")
    if switch:
        try:
            executor = use_cluster(cluster_address(text.strip() or "local"))
            describe = getattr(executor, "describe", None)
            st.session_state["run_on_nodes"] = describe() if describe else []
            current = executor.name
        except WorkbenchError as exc:
            st.error(exc.message)
    st.caption(f"Tasks run on: **{'this machine' if current == 'local' else current}**")
    for line in st.session_state.get("run_on_nodes", []):
        st.caption(line)
    if current != "local":
        _cluster_panel()


def _cluster_panel() -> None:
    """The cluster's nodes (backends, GPUs, targets) and what runs on it: ``cluster status``."""
    from workbench.errors import WorkbenchError
    from workbench.executor import get_executor
    from workbench.executors.cluster import cluster_status

    with st.expander("Cluster status", expanded=False):
        refresh = st.button("Refresh", key="cluster_status_refresh")
        if refresh or "cluster_status" not in st.session_state:
            try:
                st.session_state["cluster_status"] = cluster_status(get_executor())
            except WorkbenchError as exc:
                st.session_state["cluster_status"] = {"error": exc.message}
        status = st.session_state["cluster_status"]
        if "error" in status:
            st.error(status["error"])
            return
        st.caption(f"{len(status['nodes'])} node(s) at {status['address']}")
        st.table(
            {
                "node": [f"{n['address']}{' (head)' if n['head'] else ''}" for n in status["nodes"]],
                "backends": [", ".join(f"{b['name']} {b['version']}" for b in n["backends"]) or "none" for n in status["nodes"]],
                "GPUs": [", ".join(f"{g['count']}x {g['target']}" for g in n["gpus"]) or "none" for n in status["nodes"]],
                "targets": [", ".join(n["targets"]) or "none" for n in status["nodes"]],
            }
        )
        if status["tasks"]:
            st.table(
                {
                    "task": [t.get("kind", "") for t in status["tasks"]],
                    "node": [t.get("host", "") for t in status["tasks"]],
                    "stage": [t.get("stage", "") for t in status["tasks"]],
                    "seconds": [t.get("seconds", 0) for t in status["tasks"]],
                }
            )
        else:
            st.caption("Nothing running.")
