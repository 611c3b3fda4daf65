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
from workbench.shapes import (
    ShapeProfile,
    check_observed_against,
    concrete_shapes,
    format_shape_spec,
    parse_observed_shapes,
    suggest_profiles,
)
from workbench.summary import ModelSummary
from workbench.ui.cache import environment
from workbench.ui.state import UI_ADVICE, Session, session

TARGETS = ["sm75", "sm80", "sm86", "sm89", "sm120"]


def _rows(sess: Session, summary: ModelSummary) -> list[dict[str, Any]]:
    """The session's profiles as table rows (one per profile and input); inputs without
    shapes get the default every command uses (dynamic dims 1)."""
    from workbench.ui.state import shape_text

    defaults, _ = concrete_shapes(summary.inputs)
    rows: list[dict[str, Any]] = []
    for index, profile in enumerate(sess.shape_profiles or [{}]):
        for t in summary.inputs:
            triple = profile.get(t.name)
            if triple is None and t.name in defaults:
                triple = [defaults[t.name]] * 3
            texts = shape_text(triple).split(",") if triple else [""]
            lo, opt, hi = (texts * 3)[:3] if len(texts) == 1 else texts
            rows.append({"profile": index, "input": t.name, "min": lo, "opt": opt, "max": hi})
    return rows


def _profiles_from_rows(rows: list[dict[str, Any]]) -> list[ShapeProfile]:
    from workbench.shapes import parse_shape_spec

    profiles: dict[int, ShapeProfile] = {}
    for row in rows:
        if not row.get("input") or not row.get("min"):
            continue
        index = row.get("profile")
        index = 0 if index is None or index != index else int(index)  # NaN: a row just added
        spec = f"{row['input']}:{row['min']},{row.get('opt') or row['min']},{row.get('max') or row['min']}"
        name, triple = parse_shape_spec(spec)
        profile = profiles.setdefault(index, {})
        if name in profile:
            raise WorkbenchError(f"Profile {index} gives input {name!r} twice.")
        profile[name] = triple
    return [profiles[i] for i in sorted(profiles)]


def _profile_editor(sess: Session, summary: ModelSummary) -> list[ShapeProfile] | None:
    """The optimization profiles: the session's serving shapes, editable, one row per
    profile and input; edits go back to the session. None after showing an error."""
    st.subheader("Optimization profiles")
    base = _rows(sess, summary)
    # The key changes with the session's shapes, so the table restarts from them when
    # another page (or a suggestion) changed them.
    rows = st.data_editor(
        base,
        hide_index=True,
        num_rows="dynamic",
        key=f"build_profile_{sess.shapes_version}",
        width="stretch",
        column_config={
            "profile": st.column_config.NumberColumn(
                "profile", min_value=0, step=1, help="rows with the same number form one optimization profile"
            ),
        },
    )
    records = rows if isinstance(rows, list) else rows.to_dict("records")
    try:
        profiles = _profiles_from_rows(records)
        if profiles != _profiles_from_rows(base):
            # Typed here: the serving shapes of every page. Rerun at once, so the next edit
            # goes to the table keyed by the new version (an edit to this one would be lost).
            sess.set_shape_profiles(profiles)
            st.rerun()
    except WorkbenchError as exc:
        st.error(exc.message)
        return None
    given = sess.shape_profiles[0] if sess.shape_profiles else {}
    _, notes = concrete_shapes(summary.inputs, given, advice=UI_ADVICE)
    for note in notes:
        st.caption(note)
    _suggestion(sess, summary)
    return profiles


def _suggestion(sess: Session, summary: ModelSummary) -> None:
    """Profiles suggested from observed request shapes (an upload or pasted lines)."""
    with st.expander(
        "Suggest profiles from the request shapes you observe", expanded=bool(sess.profile_suggestion)
    ):
        upload = st.file_uploader(
            "Observed shapes (.txt: one request per line, image:1x3x640x960; or .json)",
            type=["txt", "json", "log", "csv"],
            key="build_observed_upload",
        )
        pasted = st.text_area(
            "…or paste them", placeholder="image:1x3x640x960\nimage:1x3x736x1280", key="build_observed_text"
        )
        if st.button("Suggest profiles", key="build_suggest"):
            try:
                if upload is None and not pasted.strip():
                    raise WorkbenchError("Upload or paste the observed shapes first, one request per line.")
                if upload is not None:
                    try:
                        text = upload.getvalue().decode("utf-8-sig")
                    except UnicodeDecodeError:
                        raise WorkbenchError(f"{upload.name} is not a text file of shapes.") from None
                    observed = parse_observed_shapes(text, upload.name)
                else:
                    observed = parse_observed_shapes(pasted, "the pasted shapes")
                check_observed_against(summary.inputs, observed, "The observed shapes")
                sess.observed_shapes = observed
                sess.profile_suggestion = suggest_profiles(observed)
            except WorkbenchError as exc:
                st.error(exc.message)
        suggestion = sess.profile_suggestion
        if suggestion is None:
            return
        st.markdown(suggestion.reasons[0])
        for reason in suggestion.reasons[1:]:
            st.caption(reason)
        st.dataframe(
            [
                {"profile": i, "share of requests": f"{share:.0%}", "shapes": format_shape_spec(name, triple)}
                for i, (profile, share) in enumerate(zip(suggestion.profiles, suggestion.shares))
                for name, triple in profile.items()
            ],
            hide_index=True,
            width="stretch",
        )
        if st.button(
            f"Use these {len(suggestion.profiles)} profile(s)",
            key="build_use_suggestion",
            disabled=suggestion.profiles == sess.shape_profiles,
        ):
            sess.set_shape_profiles(suggestion.profiles)
            st.rerun()


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
            # "building (running)" and the like, from a cluster, are still the building stage.
            bars[p.index].progress(fraction.get(p.stage.split(" (")[0], 0.5), text=f"{p.label}: {p.stage}")
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
                "ran on": " ".join(x for x in (r.executor or "", (r.node or {}).get("host") or "") if x),
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
    from workbench.executor import default_executor_name

    # On a cluster the nodes build: this machine needs no TensorRT of its own.
    if not env.backends and default_executor_name() == "local":
        st.error(
            "No TensorRT is installed here: install TensorRT-RTX (pip install 'trt-workbench[rtx]') to build "
            "engines, or run on a cluster that has it (Run on, in the sidebar)."
        )
        return
    summary = sess.summary
    st.caption(f"Model: **{sess.model.name}** ({sess.source})")
    cols = st.columns([3, 1, 1])
    precisions = cols[0].multiselect(
        "Precisions", list(PRECISION_INFO), default=["fp32", "fp16"], key="build_precisions"
    )
    targets = cols[1].multiselect(
        "Targets (TensorRT-RTX)", TARGETS, default=["sm89"], key="build_targets",
        help="One engine per target and precision; on a cluster they build at once where each can be built.",
    )
    calibrator = cols[2].selectbox("INT8 calibrator", ["entropy", "max"], key="build_calibrator")
    for p in precisions:
        for target in targets:
            reason = refusal(p, target)
            if reason:
                st.warning(reason)
    profiles: list[ShapeProfile] = []
    if summary.dynamic_dims:
        edited = _profile_editor(sess, summary)
        if edited is None:
            return
        profiles = edited
    profile = profiles[0] if profiles else {}
    keep = st.multiselect(
        "Keep in FP32 (mixed precision)",
        [n.name for n in sess.model.proto.graph.node if n.name],
        key="build_keep",
    )
    calibration = _calibration(
        sess, summary, profile, needed=any(PRECISION_INFO[p].calibrated for p in precisions)
    )
    options = _build_options()
    if st.button("Build", type="primary", disabled=not precisions or not targets, key="build_run"):
        configs = [
            BuildConfig.with_options(
                options,
                precision=p,
                profiles=profiles,
                target=target,
                keep_precision=list(keep),
                calibrator=calibrator,
            )
            for target in targets
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
                        st.error(
                            f"{option.label} must be between {low} and {high if high is not None else '∞'}."
                        )
                        continue
                    values[option.name] = value
            elif option.kind in ("bool", "disable"):
                values[option.name] = st.checkbox(
                    option.label, value=bool(option.default), key=key, help=option.help
                )
            elif option.kind == "choice":
                picked = st.selectbox(option.label, ["default", *option.choices], key=key, help=option.help)
                values[option.name] = None if picked == "default" else picked
    return values


if __name__ == "__main__":  # run by st.navigation as a page
    render()
