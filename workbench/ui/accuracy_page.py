"""Accuracy page: outputs and layer-by-layer drift of each precision against FP32; the keep-precision search."""

from __future__ import annotations

import streamlit as st

from workbench.calibration import synthetic_calibration
from workbench.compare import compare_precisions, drift_jumps, engine_layer_for, keep_precision_search
from workbench.plots import comparison_rows, drift_depth_figure, output_error_figure
from workbench.precision import PRECISION_INFO, lower_precisions
from workbench.shapes import ShapeProfile
from workbench.ui.background import run_cancellable
from workbench.ui.state import Session, session, shape_inputs

#: Samples compared at once: a dynamic batch runs at this size (compare_precisions' default).
SAMPLES = 4


def _calibration(sess: Session, shapes: ShapeProfile | None):
    if sess.calibration is not None and sess.calibration_report is not None and sess.calibration_report.ok:
        st.caption(
            f"Calibration data: {sess.calibration.source} ({sess.calibration.samples} samples), from the Build page."
        )
        return sess.calibration
    st.info(
        "No calibration data from the Build page: INT8/FP8 use synthetic data here, so their accuracy says little."
    )
    assert sess.summary is not None
    return synthetic_calibration(sess.summary.inputs, shapes)


def _tolerances() -> dict[str, float]:
    cols = st.columns(3)
    tolerances = {}
    cosine = cols[0].number_input(
        "Tolerance: cosine ≥",
        value=0.999,
        min_value=0.0,
        max_value=1.0,
        step=0.0005,
        format="%.4f",
        key="acc_cosine",
    )
    max_abs = cols[1].number_input(
        "Tolerance: max_abs ≤ (0 = off)", value=0.0, min_value=0.0, step=0.01, key="acc_max_abs"
    )
    if cosine > 0:
        tolerances["cosine"] = float(cosine)
    if max_abs > 0:
        tolerances["max_abs"] = float(max_abs)
    return tolerances


def _results(sess: Session) -> None:
    comparison = sess.comparison
    if comparison is None:
        return
    ref = comparison.reference
    st.caption(
        f"Reference: FP32 in {ref['backend']} on the {ref['device']} · inputs {comparison.inputs} ({comparison.input_source}). Every number below is from the backend named in its row, on the CPU, not from TensorRT."
    )
    rows = comparison_rows(comparison)
    st.dataframe(rows, hide_index=True, width="stretch")
    if any(r.outputs for r in comparison.results):
        st.plotly_chart(output_error_figure(comparison), width="stretch", key="acc_outputs")
    if any(r.layerwise for r in comparison.results):
        st.plotly_chart(drift_depth_figure(comparison), width="stretch", key="acc_drift")
        layers_of = {b.precision: b.layers for b in sess.builds if b.ok}
        for r in comparison.results:
            if not r.layerwise:
                continue
            with st.expander(f"{r.precision.upper()}: where the error jumps"):
                jumps = drift_jumps(r.layerwise, 10)
                mapping = engine_layer_for([row.node for row, _ in jumps], layers_of.get(r.precision, []))
                st.dataframe(
                    [
                        {
                            "node": row.node,
                            "op": row.op_type,
                            "max_abs": row.max_abs,
                            "jump": jump,
                            "cosine": row.cosine,
                            "engine layer": mapping.get(row.node, ""),
                        }
                        for row, jump in jumps
                    ],
                    hide_index=True,
                    width="stretch",
                )


def _keep_precision(sess: Session, tolerances: dict[str, float], shapes: ShapeProfile | None) -> None:
    st.subheader("Which layers to keep in higher precision")
    st.caption(
        "Ranks the quantized nodes by the drift they add, then re-quantizes (ModelOpt) and re-runs (ONNX Runtime) with more of them kept high until the tolerances are met."
    )
    if st.button("Search", key="acc_keep_run", disabled=not tolerances):
        assert sess.model is not None
        model = sess.model
        calibration = _calibration(sess, shapes)
        found = run_cancellable(
            "Re-quantizing and re-running",
            lambda cancelled: keep_precision_search(
                model,
                calibration=calibration,
                shapes=shapes,
                tolerances=tolerances,
                workspace=sess.workspace,
                cancelled=cancelled,
            ),
            key="acc_keep",
        )
        if found is not None:
            sess.keep_result = found
    result = sess.keep_result
    if result is None:
        return
    (st.success if result.met else st.warning)(
        f"Tolerances {result.tolerances} {'met' if result.met else 'not met'} after {result.trials} trial(s), keeping {len(result.nodes)} node(s) in FP32."
    )
    st.dataframe(
        [
            {
                "output": a.name,
                "max_abs before": b.max_abs,
                "max_abs after": a.max_abs,
                "cosine before": b.cosine,
                "cosine after": a.cosine,
            }
            for b, a in zip(result.baseline, result.outputs)
        ],
        hide_index=True,
        width="stretch",
    )
    st.code("\n".join(result.nodes) or "(none)", language=None)
    st.caption(
        "Use them as ModelOpt nodes_to_exclude (TensorRT 11, TensorRT-RTX) or precision constraints (TensorRT 10): the Build page's 'Keep in FP32' takes them."
    )


def render() -> None:
    sess = session()
    st.title("Accuracy")
    if sess.model is None or sess.summary is None:
        st.info("Choose a model on the Model page first.")
        return
    st.caption(f"Model: **{sess.model.name}** ({sess.source})")
    precisions = st.multiselect(
        "Precisions to compare with FP32",
        lower_precisions(),
        default=["fp16", "int8"],
        key="acc_precisions",
    )
    layerwise = st.checkbox("Layer by layer (every tensor)", value=True, key="acc_layerwise")
    given = shape_inputs(sess, "acc", batch=SAMPLES)
    if given is None:
        return
    shapes = given or None
    tolerances = _tolerances()
    if st.button("Compare", type="primary", key="acc_run", disabled=not precisions):
        calibration = (
            _calibration(sess, shapes) if any(PRECISION_INFO[p].calibrated for p in precisions) else None
        )
        model = sess.model
        result = run_cancellable(
            "Transforming (ModelOpt) and running every precision in ONNX Runtime",
            lambda cancelled: compare_precisions(
                model,
                precisions,
                workspace=sess.workspace,
                calibration=calibration,
                shapes=shapes,
                layerwise=layerwise,
                tolerances=tolerances,
                samples=SAMPLES,
                cancelled=cancelled,
            ),
            key="acc",
        )
        if result is not None:
            sess.comparison = result
    _results(sess)
    _keep_precision(sess, tolerances, shapes)


if __name__ == "__main__":  # run by st.navigation as a page
    render()
