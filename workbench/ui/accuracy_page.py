"""Accuracy page: outputs and layer-by-layer drift of each precision against FP32; the
keep-precision search; task accuracy on labelled data (top-1, top-5, kept_top1 per precision,
the per-class change, the samples lost with their images) and the calibration study."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import streamlit as st

from workbench.archives import safe_text
from workbench.calibration import CalibrationData, calibration_for, synthetic_calibration
from workbench.compare import compare_precisions, drift_jumps, engine_layer_for, keep_precision_search
from workbench.errors import WorkbenchError
from workbench.evaluation import (
    CalibrationFinding,
    CalibrationStudy,
    Evaluation,
    LabelledData,
    calibration_study,
    evaluate,
    load_calibration_data,
    load_labelled,
)
from workbench.plots import (
    calibration_study_figure,
    comparison_rows,
    drift_depth_figure,
    evaluation_figure,
    labelled_rows,
    output_error_figure,
    per_class_change_figure,
    study_point_rows,
)
from workbench.precision import PRECISION_INFO, lower_precisions
from workbench.preprocessing import PRESETS
from workbench.samples import list_samples
from workbench.shapes import ShapeProfile
from workbench.ui.background import run_cancellable, run_with_progress
from workbench.ui.state import Session, session, shape_inputs

if TYPE_CHECKING:
    pass

#: Samples compared at once: a dynamic batch runs at this size (compare_precisions' default).
SAMPLES = 4


#: The page's sentence for a calibrated precision without data (the policy is calibration_for's).
NEEDS_CALIBRATION = (
    "INT8 and FP8 need calibration data: load it on the Build page, or choose synthetic data "
    "below for a smoke test (its figures are marked SYNTHETIC)."
)


def _calibration_choice(sess: Session, precisions: list[str], key: str) -> tuple[CalibrationData | None, bool]:
    """The Build page's checked calibration data, or the user's explicit choice of synthetic data."""
    if not any(PRECISION_INFO[p].calibrated for p in precisions):
        return None, False
    if sess.calibration is not None and sess.calibration_report is not None and sess.calibration_report.ok:
        st.caption(
            f"Calibration data: {sess.calibration.source} ({sess.calibration.samples} samples), from the Build page."
        )
        return sess.calibration, False
    synthetic = st.checkbox(
        "No calibration data from the Build page: use SYNTHETIC data (a smoke test; its INT8/FP8 figures mean little)",
        value=False,
        key=key,
    )
    return None, synthetic


def _calibration(
    sess: Session, precisions: list[str], given: CalibrationData | None, synthetic: bool, shapes: ShapeProfile | None
) -> CalibrationData | None:
    """``calibration_for``'s choice, or None after saying why nothing runs."""
    assert sess.summary is not None
    try:
        return calibration_for(precisions, given, synthetic=synthetic, inputs=sess.summary.inputs, shapes=shapes)
    except WorkbenchError:
        st.error(NEEDS_CALIBRATION)
        return None


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


def _keep_precision(
    sess: Session,
    tolerances: dict[str, float],
    shapes: ShapeProfile | None,
    given_calibration: CalibrationData | None,
    synthetic: bool,
) -> None:
    st.subheader("Which layers to keep in higher precision")
    st.caption(
        "Ranks the quantized nodes by the drift they add, then re-quantizes (ModelOpt) and re-runs (ONNX Runtime) with more of them kept high until the tolerances are met."
    )
    if st.button("Search", key="acc_keep_run", disabled=not tolerances):
        assert sess.model is not None
        model = sess.model
        calibration = _calibration(sess, ["int8"], given_calibration, synthetic, shapes)
        if calibration is None:
            return
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


# ----------------------------------------------------------------------------- task accuracy on labelled data
#
# What this section holds lives in st.session_state[LABELLED_KEY] (one LabelledState, as the
# Engines page keeps its imports): the loaded labelled and calibration data and every result,
# keyed by the content hashes of model, data, calibration and settings, so a rerun (or the
# same run asked again) looks a result up and never recomputes it. Results are also saved in
# the session's workspace (evaluate() and calibration_study() do it), where the report finds them.

LABELLED_KEY = "trt_workbench_labelled"
#: Regressions shown per page of the browser.
REGRESSIONS_PER_PAGE = 24
#: Images are drawn at least this many pixels on their long side (8x8 digits otherwise vanish).
IMAGE_PIXELS = 96
SYNTHETIC = "SYNTHETIC"

_SAMPLE_DATA = "The sample's labelled data"
_UPLOAD_DATA = "Upload labelled data"
_SAMPLE_CAL = "The sample's calibration split"
_UPLOAD_CAL = "Upload calibration data"
_BUILD_CAL = "The Build page's calibration data"
_SYNTHETIC_CAL = f"{SYNTHETIC}: random data (its accuracy says little)"
_SAMPLE_PRE = "The sample's preprocessing"
_FITTED_PRE = "Default, fitted to the input"


@dataclass
class LabelledState:
    """The labelled-data section of one browser session, for one model."""

    model_hash: str = ""
    data: LabelledData | None = None
    data_key: str | None = None
    data_error: str | None = None
    calibration: CalibrationData | None = None
    calibration_key: str | None = None
    calibration_error: str | None = None
    #: Results by the content hash of what made them, each with the data it was measured on
    #: (the regressions' images come from it) and the calibration label shown beside it.
    evaluations: dict[str, tuple[Evaluation, LabelledData, str]] = field(default_factory=dict)
    shown: str | None = None
    studies: dict[str, tuple[CalibrationStudy, str]] = field(default_factory=dict)
    study_shown: str | None = None
    #: Whether the last click found its result already computed.
    looked_up: bool = False
    study_looked_up: bool = False


def labelled_state(sess: Session) -> LabelledState:
    """The section's state for the session's current model (a new model starts afresh)."""
    # This file also runs as a page script (a fresh ``__main__`` on every rerun): take the
    # class from the imported module so the object kept in the session keeps one type.
    from workbench.ui import accuracy_page as stable

    assert sess.model is not None
    state = st.session_state.get(LABELLED_KEY)
    if not isinstance(state, stable.LabelledState) or state.model_hash != sess.model.content_hash:
        state = stable.LabelledState(model_hash=sess.model.content_hash)
        st.session_state[LABELLED_KEY] = state
    return state


def sample_data(sess: Session) -> dict[str, Path] | None:
    """The labelled data files a bundled sample ships beside it (its manifest's ``data``)."""
    assert sess.model is not None
    for sample in list_samples():
        if sess.source == f"sample: {sample.file}":
            files = sample.data_files()
            return files if "eval" in files else None
    return None


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def calibration_label(calibration: CalibrationData | None) -> str:
    """How calibration data is named wherever a figure made with it is shown."""
    if calibration is None:
        return "none"
    if calibration.synthetic:
        return f"{SYNTHETIC} ({calibration.samples} random samples)"
    return f"{safe_text(calibration.source)} ({calibration.samples} samples)"


def _preprocessing_choice(bundled: dict[str, Path] | None) -> Any:
    options = ([_SAMPLE_PRE] if bundled and "preprocessing" in bundled else []) + [_FITTED_PRE, *PRESETS]
    choice = st.selectbox(
        "Preprocessing (how images become the input)",
        options,
        key=f"lab_preprocessing_{bool(bundled)}",
        help="Applied to images (a zip of class folders) and to image calibration data; the arrays of a .npz "
        "are used as they are. Presets: torchvision, timm and PaddleClas conventions.",
    )
    if choice == _SAMPLE_PRE and bundled:
        return str(bundled["preprocessing"])
    return None if choice == _FITTED_PRE else choice


def _sample_or_upload(
    bundled_file: Path | None, label: str, widget_key: str, preprocessing: Any
) -> tuple[Path | bytes, str, str] | None:
    """The bundled file when it was chosen, else the user's upload: (source, name, content key);
    None while nothing is uploaded. The key is what the loaded data is looked up by on a rerun."""
    if bundled_file is not None:
        return bundled_file, bundled_file.name, _digest("sample", str(bundled_file), preprocessing)
    upload = st.file_uploader(label, type=["npz", "zip"], key=widget_key)
    if upload is None:
        return None
    data = upload.getvalue()
    return data, upload.name, _digest("upload", hashlib.sha256(data).hexdigest(), upload.name, preprocessing)


def _load_labelled(sess: Session, state: LabelledState, bundled: dict[str, Path] | None, preprocessing: Any) -> None:
    assert sess.summary is not None
    options = ([_SAMPLE_DATA] if bundled else []) + [_UPLOAD_DATA]
    choice = st.radio("Labelled data", options, key=f"lab_source_{bool(bundled)}", horizontal=True)
    chosen = _sample_or_upload(
        bundled["eval"] if choice == _SAMPLE_DATA and bundled else None,
        "A .npz of the model's inputs plus 'labels', or a .zip with one folder of images per class",
        "lab_upload",
        preprocessing,
    )
    if chosen is None:
        state.data, state.data_key, state.data_error = None, None, None
        return
    source, name, key = chosen
    if key != state.data_key:
        state.data_key, state.data, state.data_error = key, None, None
        try:
            state.data = load_labelled(source, sess.summary.inputs, preprocessing, name=name)
        except WorkbenchError as exc:
            state.data_error = exc.message


def _load_calibration(
    sess: Session, state: LabelledState, bundled: dict[str, Path] | None, preprocessing: Any
) -> None:
    assert sess.summary is not None
    build_ok = (
        sess.calibration is not None
        and sess.calibration_report is not None
        and sess.calibration_report.ok
        and not sess.calibration.synthetic
    )
    options = (
        ([_SAMPLE_CAL] if bundled and "calibration" in bundled else [])
        + [_UPLOAD_CAL]
        + ([_BUILD_CAL] if build_ok else [])
        + [_SYNTHETIC_CAL]
    )
    choice = st.radio(
        "Calibration data (INT8, FP8 and the calibration study)",
        options,
        key=f"lab_calib_source_{bool(bundled)}_{build_ok}",
        help="Real calibration data, preprocessed as the deployment's inputs; synthetic data is marked "
        f"{SYNTHETIC} wherever a figure made with it is shown.",
    )
    if choice == _SYNTHETIC_CAL:
        key = _digest("synthetic", sess.serving_shapes)
        if key != state.calibration_key:
            state.calibration_key, state.calibration_error = key, None
            state.calibration = synthetic_calibration(sess.summary.inputs, sess.serving_shapes or None)
        st.warning(
            f"{SYNTHETIC} calibration: random normal data calibrates, but its ranges are not your data's, so the "
            "INT8/FP8 figures below say little about deployment."
        )
        return
    if choice == _BUILD_CAL and build_ok:
        assert sess.calibration is not None
        state.calibration_key, state.calibration, state.calibration_error = (
            _digest("build", sess.calibration_key), sess.calibration, None,
        )
        return
    chosen = _sample_or_upload(
        bundled["calibration"] if choice == _SAMPLE_CAL and bundled else None,
        "Calibration data: a .npz keyed by input name (a 'labels' array is left out), or a .zip of images",
        "lab_calib_upload",
        preprocessing,
    )
    if chosen is None:
        state.calibration, state.calibration_key, state.calibration_error = None, None, None
        return
    source, name, key = chosen
    if key != state.calibration_key:
        state.calibration_key, state.calibration, state.calibration_error = key, None, None
        try:
            state.calibration = load_calibration_data(source, sess.summary.inputs, preprocessing, name=name)
        except WorkbenchError as exc:
            state.calibration_error = exc.message


def evaluation_rows(evaluation: Evaluation, calibration: str) -> list[dict[str, Any]]:
    """The table of the section: the report's per-precision rows, with the calibration named
    as the page shows it (the data's label and the calibrator) instead of its two columns."""
    rows = []
    for r, row in zip(evaluation.results, labelled_rows(evaluation), strict=True):
        calibrated = PRECISION_INFO[r.precision].calibrated if r.precision in PRECISION_INFO else False
        note = row.pop("note") or ""
        row.pop("calibrator"), row.pop("calibration samples")
        row["calibration"] = (f"{calibration}, {r.calibrator}" if r.calibrator else calibration) if calibrated else ""
        row["note"] = note
        rows.append(row)
    return rows


def sample_image(data: LabelledData, index: int) -> np.ndarray | None:
    """The input array of one sample as an 8-bit image (grayscale or RGB, min-max scaled,
    enlarged with whole pixels), or None when the input is not image-shaped."""
    image_inputs = [a for a in data.arrays.values() if a.ndim in (3, 4) and a.shape[0] == data.samples]
    if len(image_inputs) != 1:
        return None
    array = np.asarray(image_inputs[0][index], dtype=np.float64)
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
        array = np.moveaxis(array, 0, -1)  # CHW -> HWC
    elif array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] in (1, 3) and array.shape[0] < array.shape[-1]:
        array = np.moveaxis(array, 0, -1)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 3 and array.shape[-1] != 3:
        return None
    finite = np.isfinite(array)
    low, high = (float(array[finite].min()), float(array[finite].max())) if finite.any() else (0.0, 1.0)
    scaled = np.where(finite, (array - low) / (high - low) if high > low else 0.0, 0.0)
    pixels = np.clip(np.round(scaled * 255.0), 0, 255).astype(np.uint8)
    factor = max(1, IMAGE_PIXELS // max(pixels.shape[0], pixels.shape[1]))
    return np.repeat(np.repeat(pixels, factor, axis=0), factor, axis=1)


def _findings(findings: list[CalibrationFinding]) -> None:
    for f in findings:
        effect = f.effect
        measured = ""
        if effect is not None and effect.with_flagged is not None and effect.without_flagged is not None:
            measured = (
                f" Measured effect ({effect.precision.upper()} {effect.calibrator}, {effect.computed_by}): "
                f"kept_top1 {effect.with_flagged:.4f} with them, {effect.without_flagged:.4f} without "
                f"({effect.delta:+.4f}); {safe_text(effect.how)}."
            )
        text = f"Calibration data [{f.severity}] {f.kind}: {safe_text(f.message)}{measured}"
        (st.error if f.severity == "error" else st.warning if f.severity == "warning" else st.info)(text)


def _regressions(evaluation: Evaluation, data: LabelledData, key: str) -> None:
    lossy = [r for r in evaluation.results if r.available and r.regressions_total]
    if not lossy:
        st.caption("No sample FP32 classifies right is lost by any precision shown.")
        return
    st.subheader("Samples FP32 gets right and the quantized model gets wrong")
    choice = st.selectbox(
        "Precision", [r.precision for r in lossy], key="lab_reg_precision",
        format_func=lambda p: f"{p.upper()} ({evaluation.result(p).regressions_total} lost)",
    )
    result = evaluation.result(choice)
    names = data.class_names or [str(i) for i in range(evaluation.classes)]

    def name(c: int) -> str:
        return safe_text(names[c]) if c < len(names) else str(c)

    pages = max(1, -(-len(result.regressions) // REGRESSIONS_PER_PAGE))
    page = 1
    if pages > 1:
        page = int(st.number_input("Page", min_value=1, max_value=pages, value=1, key="lab_reg_page"))
    shown = result.regressions[(page - 1) * REGRESSIONS_PER_PAGE : page * REGRESSIONS_PER_PAGE]
    st.caption(
        f"{result.regressions_total} sample(s) lost by {choice.upper()} ({result.computed_by})"
        + (f", the first {len(result.regressions)} listed" if result.regressions_total > len(result.regressions) else "")
        + "; each image is the input array the model saw, min-max scaled."
    )
    columns = st.columns(6)
    for i, lost in enumerate(shown):
        column = columns[i % len(columns)]
        caption = (
            f"#{lost.index}: label {name(lost.label)}, FP32 {name(lost.reference_prediction)}, "
            f"{choice.upper()} {name(lost.prediction)}"
        )
        if lost.source:
            caption += f" · {safe_text(Path(lost.source).name)}"
        image = sample_image(data, lost.index) if lost.index < data.samples else None
        if image is None:
            column.caption(caption + " (the input is not an image)")
        else:
            column.image(image, caption=caption, output_format="PNG")
    st.dataframe(
        [
            {
                "sample": r.index,
                "label": name(r.label),
                "FP32 says": name(r.reference_prediction),
                f"{choice.upper()} says": name(r.prediction),
                "file": safe_text(r.source) if r.source else "",
            }
            for r in shown
        ],
        hide_index=True,
        width="stretch",
        key=f"{key}_regressions",
    )


def _evaluation_view(state: LabelledState) -> None:
    if state.shown is None or state.shown not in state.evaluations:
        return
    evaluation, data, calibration = state.evaluations[state.shown]
    ref = evaluation.reference
    if state.looked_up:
        st.caption("The same model, data, calibration and precisions as an earlier run: its result, looked up.")
    st.caption(
        f"{safe_text(evaluation.data_source)}: {ref.n} labelled samples, {evaluation.classes} classes, output "
        f"{safe_text(evaluation.output)!r}. FP32 reference top-1 {ref.top1:.4f}, computed by {ref.computed_by} on the "
        f"{ref.device}; every figure names what computed it (on this machine the CPU, not TensorRT). "
        f"Calibration: {calibration}."
    )
    _findings(evaluation.findings)
    st.dataframe(evaluation_rows(evaluation, calibration), hide_index=True, width="stretch", key="lab_table")
    figure = evaluation_figure(evaluation)
    if SYNTHETIC in calibration:
        figure.update_layout(title=f"{figure.layout.title.text} · calibration {SYNTHETIC}")
    st.plotly_chart(figure, width="stretch", key="lab_accuracy_chart")
    if any(r.available and r.precision != "fp32" and r.per_class for r in evaluation.results):
        st.plotly_chart(per_class_change_figure(evaluation), width="stretch", key="lab_per_class_chart")
    for note in evaluation.notes:
        st.caption(safe_text(note))
    _regressions(evaluation, data, "lab")


def _parse_counts(text: str) -> list[int]:
    try:
        counts = [int(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError as exc:
        raise WorkbenchError(
            f"Bad sample counts {safe_text(text)!r}: give whole numbers separated by commas, e.g. 8,32,128,512."
        ) from exc
    if not counts or min(counts) < 1:
        raise WorkbenchError(f"Bad sample counts {safe_text(text)!r}: give whole numbers of 1 or more, e.g. 8,32,128,512.")
    return counts


def _study(sess: Session, state: LabelledState) -> None:
    st.subheader("Calibration study")
    st.caption(
        "Accuracy against calibration sample count and calibrator: each point a real ModelOpt PTQ of the first N "
        "frames of one seeded shuffle of the calibration data, run on the labelled data; the smallest count that "
        "keeps the target there and at every larger count; and the calibration data's findings, each with its "
        "measured effect."
    )
    cols = st.columns(4)
    counts_text = cols[0].text_input("Sample counts", value="8,32,128,512", key="lab_counts")
    calibrators = cols[1].multiselect("Calibrators", ["entropy", "max"], default=["entropy", "max"], key="lab_calibrators")
    keep = cols[2].number_input(
        "Keep kept_top1 ≥", value=0.99, min_value=0.0, max_value=1.0, step=0.005, format="%.3f", key="lab_keep"
    )
    quantized = [p for p, info in PRECISION_INFO.items() if info.quantized and info.cpu_executor]
    precision = cols[3].selectbox("Precision", quantized, key="lab_study_precision")
    effects = st.checkbox("Measure each finding's effect (re-quantizes without the flagged frames)", value=True,
                          key="lab_effects")
    data, pool = state.data, state.calibration
    ready = data is not None and pool is not None and bool(calibrators)
    if st.button("Run the study", key="lab_study_run", disabled=not ready):
        assert data is not None and pool is not None and sess.model is not None
        try:
            counts = _parse_counts(counts_text)
        except WorkbenchError as exc:
            st.error(exc.message)
            counts = []
        if counts:
            label = calibration_label(pool)
            key = _digest(
                "study", state.model_hash, data.content_hash(), pool.content_hash(), counts, calibrators,
                float(keep), precision, effects,
            )
            state.study_looked_up = key in state.studies
            if key not in state.studies:
                model, workspace = sess.model, sess.workspace
                used = [c for c in counts if c <= pool.samples] or [pool.samples]
                study = run_with_progress(
                    f"{precision.upper()} calibration study",
                    lambda progress, cancelled: calibration_study(
                        model, data, pool, counts, calibrators, {"kept_top1": float(keep)}, precision=precision,
                        workspace=workspace, measure_findings=effects, progress=progress, cancelled=cancelled,
                    ),
                    key="lab_study",
                    steps=1 + len(used) * len(calibrators) + (2 if effects else 0),
                )
                if study is not None:
                    study.notes.append(f"calibration pool: {label}")
                    workspace.save_result("calibration_study", study, label=model.name)
                    state.studies[key] = (study, label)
            if key in state.studies:
                state.study_shown = key
    if state.study_shown is None or state.study_shown not in state.studies:
        return
    study, label = state.studies[state.study_shown]
    if state.study_looked_up:
        st.caption("The same study as an earlier run: its result, looked up.")
    target = ", ".join(f"{k} ≥ {v:g}" for k, v in study.keep.items())
    computed_by = sorted({p.computed_by for p in study.points}) or ["none"]
    shown = st.columns(3)
    shown[0].metric(
        f"Smallest count keeping {target}",
        str(study.smallest_count) if study.smallest_count is not None else "none measured",
    )
    shown[1].metric("Calibrator", study.smallest_calibrator or "—")
    shown[2].metric("FP32 top-1", f"{study.reference.top1:.4f}")
    st.caption(
        f"Calibration pool: {label}; {study.evaluation_samples} labelled samples; computed by "
        f"{', '.join(computed_by)} (FP32 reference {study.reference.computed_by})."
    )
    figure = calibration_study_figure(study)
    figure.update_layout(title=f"{figure.layout.title.text} · calibration {label}")
    st.plotly_chart(figure, width="stretch", key="lab_study_chart")
    st.dataframe(
        study_point_rows(study),
        hide_index=True,
        width="stretch",
        key="lab_study_points",
    )
    _findings(study.findings)
    if not study.findings:
        st.caption("No findings about the calibration data.")
    for note in study.notes:
        st.caption(safe_text(note))


def render_labelled(sess: Session) -> None:
    """Task accuracy on labelled data: top-1/top-5/kept_top1 per precision, the per-class
    change, the samples lost with their images, and the calibration study."""
    assert sess.model is not None and sess.summary is not None
    st.header("Task accuracy on labelled data")
    st.caption(
        "Against the labels, not against FP32: top-1, top-5 and kept_top1 (a precision's top-1 over FP32's). "
        "Each precision's ONNX is the graph TensorRT 11 / TensorRT-RTX build, run on the CPU executor its row names."
    )
    state = labelled_state(sess)
    bundled = sample_data(sess)
    preprocessing = _preprocessing_choice(bundled)
    _load_labelled(sess, state, bundled, preprocessing)
    if state.data_error:
        st.error(state.data_error)
    elif state.data is not None:
        classes = len(set(state.data.labels.tolist()))
        st.caption(f"Labelled data: {safe_text(state.data.source)}, {state.data.samples} samples, {classes} classes.")
    precisions = st.multiselect(
        "Precisions", ["fp32", *lower_precisions()], default=["fp32", "fp16", "int8"], key="lab_precisions"
    )
    calibrated = any(PRECISION_INFO[p].calibrated for p in precisions)
    _load_calibration(sess, state, bundled, preprocessing)
    if state.calibration_error:
        st.error(state.calibration_error)
    elif state.calibration is not None:
        st.caption(f"Calibration data: {calibration_label(state.calibration)}.")
    calibrator = st.selectbox("INT8 calibrator", ["entropy", "max"], key="lab_calibrator")
    data, calibration = state.data, state.calibration
    missing_calibration = calibrated and calibration is None
    if st.button("Evaluate", type="primary", key="lab_run", disabled=data is None or not precisions):
        assert data is not None
        if missing_calibration:
            st.error("INT8 and FP8 need calibration data: choose it above (or leave them out).")
        else:
            used = calibration if calibrated else None
            label = calibration_label(used)
            key = _digest(
                "evaluate", state.model_hash, data.content_hash(), sorted(precisions),
                used.content_hash() if used is not None else None, calibrator,
            )
            state.looked_up = key in state.evaluations
            if key not in state.evaluations:
                model, workspace = sess.model, sess.workspace
                evaluation = run_with_progress(
                    "Evaluating on the labelled data",
                    lambda progress, cancelled: evaluate(
                        model, data, precisions, calibration=used, calibrator=calibrator,
                        workspace=workspace, progress=progress, cancelled=cancelled,
                    ),
                    key="lab_eval",
                    steps=1 + 2 * len([p for p in precisions if p != "fp32"]),
                )
                if evaluation is not None:
                    if used is not None:
                        # evaluate() saved it; saved again with what it was calibrated on, so the
                        # report names it (SYNTHETIC included) and keeps this newer copy.
                        evaluation.notes.append(f"calibration data: {label}")
                        workspace.save_result("evaluation", evaluation, label=model.name)
                    state.evaluations[key] = (evaluation, data, label)
            if key in state.evaluations:
                state.shown = key
    _evaluation_view(state)
    _study(sess, state)


def _drift(sess: Session) -> None:
    """Outputs and layer-by-layer drift against FP32 (no labels needed), and the keep-precision search."""
    assert sess.model is not None and sess.summary is not None
    st.header("Drift against FP32")
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
    # The keep-precision search below always quantizes, so the choice is offered whenever data is missing.
    given_calibration, synthetic = _calibration_choice(sess, [*precisions, "int8"], "acc_synthetic_calib")
    if st.button("Compare", type="primary", key="acc_run", disabled=not precisions):
        calibration = _calibration(sess, precisions, given_calibration, synthetic, shapes)
        needed = any(PRECISION_INFO[p].calibrated for p in precisions)
        if needed and calibration is None:
            _results(sess)
            return
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
    _keep_precision(sess, tolerances, shapes, given_calibration, synthetic)


def render() -> None:
    sess = session()
    st.title("Accuracy")
    if sess.model is None or sess.summary is None:
        st.info("Choose a model on the Model page first.")
        return
    st.caption(f"Model: **{sess.model.name}** ({sess.source})")
    _drift(sess)
    render_labelled(sess)


if __name__ == "__main__":  # run by st.navigation as a page
    render()
