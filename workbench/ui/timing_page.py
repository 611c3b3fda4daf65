"""Timing page: latency statistics and per-layer times, labelled with the backend and device that made them."""

from __future__ import annotations

import streamlit as st

from workbench.errors import WorkbenchError
from workbench.plots import latency_figure, layer_timing_figure, op_type_timing_figure
from workbench.timing import profile_onnxruntime, reconcile
from workbench.ui.cache import environment
from workbench.ui.state import session, shape_inputs


def render() -> None:
    sess = session()
    st.title("Timing")
    if sess.model is None or sess.summary is None:
        st.info("Choose a model on the Model page first.")
        return
    env = environment()
    if not env.gpus:
        st.warning(
            "There is no GPU here, so TensorRT engines cannot run and nothing on this page is a TensorRT timing. "
            "It shows ONNX Runtime on the CPU instead: where a CPU spends time in this model."
        )
    st.caption(f"Model: **{sess.model.name}** ({sess.source})")
    cols = st.columns(len(sess.summary.inputs) + 1)
    given = shape_inputs(sess, "timing", list(cols[:-1]))
    if given is None:
        return
    shapes = {name: triple[1] for name, triple in given.items()}  # the opt shapes
    iterations = cols[-1].number_input(
        "Iterations", value=50, min_value=5, max_value=5000, step=5, key="timing_iterations"
    )
    if st.button("Profile on the CPU (ONNX Runtime)", type="primary", key="timing_run"):
        with st.spinner("Timing…"):
            try:
                sess.profiles["onnxruntime"] = profile_onnxruntime(
                    str(sess.model.path), shapes=shapes or None, iterations=int(iterations)
                )
            except WorkbenchError as exc:
                st.error(exc.message)
            except Exception as exc:  # ONNX Runtime's own errors, in one line
                st.error(f"ONNX Runtime could not run the model: {str(exc).strip().splitlines()[0]}")
    for label, profile in sess.profiles.items():
        st.subheader(f"{profile.backend} on {profile.device}")
        lat = profile.latency_ms
        metrics = st.columns(6)
        for col, (name, value) in zip(
            metrics,
            [
                ("mean", lat.mean),
                ("median", lat.median),
                ("p90", lat.p90),
                ("p95", lat.p95),
                ("p99", lat.p99),
            ],
        ):
            col.metric(f"{name} ms", f"{value:.3f}")
        metrics[5].metric("throughput /s", f"{profile.throughput:.1f}")
        r = reconcile(profile)
        st.caption(
            f"{profile.iterations} runs after {profile.warmup} warm-up; per-layer times add up to {r['layer_sum_ms']:.3f} ms of a {r['end_to_end_ms']:.3f} ms profiled run. "
            + " ".join(profile.notes)
        )
        left, right = st.columns([3, 2])
        left.plotly_chart(layer_timing_figure(profile), width="stretch", key=f"timing_layers_{label}")
        right.plotly_chart(op_type_timing_figure(profile), width="stretch", key=f"timing_ops_{label}")
    if sess.profiles:
        st.plotly_chart(latency_figure(sess.profiles), width="stretch", key="timing_latency")


if __name__ == "__main__":  # run by st.navigation as a page
    render()
