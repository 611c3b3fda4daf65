"""Build page: precisions, shape profiles, calibration (checked first), target; the matrix with progress; results."""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from typing import Any

import streamlit as st

from workbench.build import BuildConfig, BuildProgress, BuildResult, build_matrix
from workbench.calibration import CalibrationData, check_calibration, load_calibration, synthetic_calibration
from workbench.errors import WorkbenchError
from workbench.precision import PRECISION_INFO, refusal
from workbench.shapes import ShapeProfile, format_shape_spec
from workbench.summary import ModelSummary
from workbench.ui.cache import environment
from workbench.ui.state import Session, session

TARGETS = ["sm75", "sm80", "sm86", "sm89", "sm120"]


def _default_rows(summary: ModelSummary) -> list[dict[str, str]]:
    rows = []
    for t in summary.inputs:
        if t.shape is None:
            rows.append({"input": t.name, "min": "", "opt": "", "max": ""})
            continue
        lo = "x".join(str(d) if isinstance(d, int) and d > 0 else "1" for d in t.shape)
        opt = "x".join(
            str(d) if isinstance(d, int) and d > 0 else ("8" if i == 0 else "64")
            for i, d in enumerate(t.shape)
        )
        hi = "x".join(
            str(d) if isinstance(d, int) and d > 0 else ("32" if i == 0 else "256")
            for i, d in enumerate(t.shape)
        )
        rows.append({"input": t.name, "min": lo, "opt": opt, "max": hi})
    return rows


def _profile_from_rows(rows: list[dict[str, Any]]) -> ShapeProfile:
    from workbench.shapes import parse_shape_spec

    profile: ShapeProfile = {}
    for row in rows:
        if not row.get("input") or not row.get("min"):
            continue
        spec = f"{row['input']}:{row['min']},{row.get('opt') or row['min']},{row.get('max') or row['min']}"
        name, triple = parse_shape_spec(spec)
        profile[name] = triple
    return profile


def _calibration(
    sess: Session, summary: ModelSummary, profile: ShapeProfile, needed: bool
) -> CalibrationData | None:
    if not needed:
        return None
    st.subheader("Calibration data")
    source = st.radio(
        "Source",
        ["Upload .npz/.npy or a .zip of images", "Synthetic (smoke test only)"],
        horizontal=True,
        key="build_calib_source",
    )
    # Loading and checking calibration data is work: do it once per data and profile, not per rerun.
    upload = None
    if source.startswith("Synthetic"):
        key: tuple[Any, ...] = ("synthetic", sess.model.content_hash if sess.model else "", repr(profile))
    else:
        upload = st.file_uploader("Calibration data", type=["npz", "npy", "zip"], key="build_calib_upload")
        if upload is None:
            st.info("INT8 and FP8 need calibration data: a .npz keyed by input name, or images.")
            return None
        key = (upload.name, upload.size, upload.file_id, repr(profile))
    if sess.calibration_key != key:
        try:
            if upload is None:
                loaded = synthetic_calibration(summary.inputs, profile or None)
            else:
                loaded = load_calibration(upload.getvalue(), summary.inputs, name=upload.name)
        except WorkbenchError as exc:
            st.error(exc.message)
            return None
        sess.calibration = loaded
        sess.calibration_report = check_calibration(loaded, summary, [profile] if profile else None)
        sess.calibration_key = key
    data, report = sess.calibration, sess.calibration_report
    if data is None or report is None:
        return None
    for item in report.items:
        if item.level == "error":
            st.error(item.message)
        elif item.level == "warning":
            st.warning(item.message)
        else:
            st.caption(item.message)
    if report.stats:
        st.dataframe([s.to_dict() for s in report.stats], hide_index=True, width="stretch")
    return data if report.ok else None


def _run(sess: Session, configs: list[BuildConfig], calibration: CalibrationData | None) -> list[BuildResult]:
    """Run the matrix in a background thread; this (the script's) thread draws the progress bars,
    since Streamlit elements can only be updated from the script thread."""
    assert sess.model is not None
    model = sess.model
    bars = {i: st.progress(0.0, text=f"{c.label()}: queued") for i, c in enumerate(configs)}
    fraction = {
        "queued": 0.05,
        "transforming": 0.3,
        "building": 0.6,
        "done": 1.0,
        "cached": 1.0,
        "failed": 1.0,
        "cancelled": 1.0,
    }
    events: queue.Queue[BuildProgress] = queue.Queue()
    outcome: dict[str, Any] = {}
    cancel = threading.Event()

    def work() -> None:
        try:
            outcome["results"] = build_matrix(
                model,
                configs,
                workspace=sess.workspace,
                calibration=calibration,
                progress=events.put,
                cancelled=cancel.is_set,
            )
        except Exception as exc:  # shown next to the Build button, never as a traceback page
            outcome["error"] = exc

    # Any click (Cancel included) makes Streamlit rerun the page, which interrupts this loop
    # at its next element update: the builds are then cancelled, their workers killed.
    st.button("Cancel", key="build_cancel")
    clock = st.empty()
    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    started = time.monotonic()
    try:
        while worker.is_alive() or not events.empty():
            try:
                p = events.get(timeout=0.25)
            except queue.Empty:
                clock.caption(f"Building… {time.monotonic() - started:.0f} s")
                continue
            bars[p.index].progress(fraction.get(p.stage, 0.5), text=f"{p.label}: {p.stage}")
    except BaseException:
        cancel.set()
        raise
    worker.join()
    clock.empty()
    if "error" in outcome:
        error = outcome["error"]
        st.error(error.message if isinstance(error, WorkbenchError) else f"The build failed: {error}")
        return []
    return list(outcome["results"])


def _results(results: list[BuildResult]) -> None:
    st.subheader("Engines")
    st.dataframe(
        [
            {
                "precision": r.precision,
                "shapes": " | ".join(
                    ", ".join(format_shape_spec(k, v) for k, v in p.items()) for p in r.shapes
                )
                or "static",
                "target": r.target or "",
                "ok": r.ok,
                "engine MiB": round((r.engine_bytes or 0) / 2**20, 2) if r.ok else None,
                "build s": round(r.build_seconds or 0, 2) if r.ok else None,
                "layers by precision": ", ".join(f"{k} {v}" for k, v in sorted(r.precision_counts.items())),
                "cached": r.cached,
                "error": r.error or "",
            }
            for r in results
        ],
        hide_index=True,
        width="stretch",
    )
    backends = {f"{r.backend.name} {r.backend.version}" for r in results if r.backend}
    st.caption(
        f"Built with {', '.join(sorted(backends))} ahead of time; sizes are TensorRT engine sizes, no timing was run."
    )
    for i, r in enumerate(results):
        for warning in r.warnings:
            st.warning(f"{r.precision}: {warning}")
        if r.ok and r.engine_path and Path(r.engine_path).is_file():
            with st.expander(f"{r.config.label()}: {len(r.layers)} layers"):
                st.dataframe([layer.to_dict() for layer in r.layers], hide_index=True, width="stretch")
                st.download_button(
                    f"Download {Path(r.engine_path).name}",
                    Path(r.engine_path).read_bytes(),
                    file_name=Path(r.engine_path).name,
                    key=f"engine_{i}",
                )


def render() -> None:
    sess = session()
    st.title("Build")
    if sess.model is None or sess.summary is None:
        st.info("Choose a model on the Model page first.")
        return
    env = environment()
    if not env.backends:
        st.error(
            "No TensorRT is installed here: install TensorRT-RTX (pip install 'trt-workbench[rtx]') to build engines."
        )
        return
    summary = sess.summary
    st.caption(f"Model: **{sess.model.name}** ({sess.source})")
    cols = st.columns([3, 1, 1])
    precisions = cols[0].multiselect(
        "Precisions", list(PRECISION_INFO), default=["fp32", "fp16"], key="build_precisions"
    )
    target = cols[1].selectbox(
        "Target (TensorRT-RTX)", TARGETS, index=TARGETS.index("sm89"), key="build_target"
    )
    calibrator = cols[2].selectbox("INT8 calibrator", ["entropy", "max"], key="build_calibrator")
    for p in precisions:
        reason = refusal(p, target)
        if reason:
            st.warning(reason)
    profile: ShapeProfile = {}
    if summary.dynamic_dims:
        st.subheader("Optimization profile")
        rows = st.data_editor(_default_rows(summary), hide_index=True, key="build_profile", width="stretch")
        try:
            profile = _profile_from_rows(rows if isinstance(rows, list) else rows.to_dict("records"))
        except WorkbenchError as exc:
            st.error(exc.message)
            return
    keep = st.multiselect(
        "Keep in FP32 (mixed precision)",
        [n.name for n in sess.model.proto.graph.node if n.name],
        key="build_keep",
    )
    calibration = _calibration(sess, summary, profile, needed=any(PRECISION_INFO[p].calibrated for p in precisions))
    options = _build_options()
    if st.button("Build", type="primary", disabled=not precisions, key="build_run"):
        configs = [
            BuildConfig.with_options(
                options,
                precision=p,
                profiles=[profile] if profile else [],
                target=target,
                keep_precision=list(keep),
                calibrator=calibrator,
            )
            for p in precisions
        ]
        sess.builds = _run(sess, configs, calibration)
    if sess.builds:
        _results(sess.builds)


def _build_options() -> dict[str, Any]:
    """One control per build option, from the option table (the CLI's flags come from it too)."""
    from workbench.build_options import BUILD_OPTIONS

    values: dict[str, Any] = {}
    with st.expander("Builder options"):
        for option in BUILD_OPTIONS.values():
            key = f"build_opt_{option.name}"
            if option.kind == "int":
                text = st.text_input(f"{option.label} (empty: TensorRT's default)", key=key, help=option.help)
                if text.strip():
                    try:
                        value = int(text)
                    except ValueError:
                        st.error(f"{option.label}: {text!r} is not a whole number.")
                        continue
                    low, high = option.minimum, option.maximum
                    if (low is not None and value < low) or (high is not None and value > high):
                        st.error(f"{option.label} must be between {low} and {high if high is not None else '∞'}.")
                        continue
                    values[option.name] = value
            elif option.kind in ("bool", "disable"):
                values[option.name] = st.checkbox(option.label, value=bool(option.default), key=key, help=option.help)
            elif option.kind == "choice":
                picked = st.selectbox(option.label, ["default", *option.choices], key=key, help=option.help)
                values[option.name] = None if picked == "default" else picked
    return values


if __name__ == "__main__":  # run by st.navigation as a page
    render()
