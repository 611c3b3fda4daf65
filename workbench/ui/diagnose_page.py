"""Diagnose & fix page: parser and build errors by node, findings, ranked fixes, history, downloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from workbench.errors import WorkbenchError
from workbench.fixes import REGISTRY, FixOptions
from workbench.fixing import (
    DiagnoseOptions,
    FixSession,
    FixStep,
    apply_fix,
    auto_fix,
    fix_script,
    parse_input_values,
    start_session,
)
from workbench.samples import list_samples
from workbench.shapes import concrete_shapes, format_shape_spec, parse_shape_specs
from workbench.ui.cache import environment
from workbench.ui.state import UI_ADVICE, Session, session

TARGETS = ["sm75", "sm80", "sm86", "sm89", "sm120"]
#: Words, not emoji: emoji fonts are missing on many servers (and in headless browsers).
_STATUS_WORD = {True: "ok", False: "fails", None: "not checked"}


def _sample_shapes(sess: Session) -> str:
    """Shapes a bundled sample needs to show its problem (from the manifest)."""
    if sess.model is None:
        return ""
    for sample in list_samples():
        if sample.path.resolve() == sess.model.path:
            return "\n".join(sample.shapes)
    return ""


def _shapes_text(sess: Session) -> str:
    """The serving shapes (shared with Build, Accuracy and Timing), else the sample's."""
    if sess.serving_shapes:
        return "\n".join(format_shape_spec(k, v) for k, v in sess.serving_shapes.items())
    return _sample_shapes(sess)


def _controls(sess: Session) -> tuple[DiagnoseOptions, FixOptions] | None:
    env = environment()
    backends = [b.name for b in env.backends]
    if not backends:
        st.error(
            "No TensorRT is installed here: install TensorRT-RTX (pip install 'trt-workbench[rtx]') to diagnose."
        )
        return None
    with st.form("diagnose_form"):
        cols = st.columns([2, 1, 1])
        backend = cols[0].selectbox(
            "Parser", ["auto", *backends], help="auto: full TensorRT if installed, else TensorRT-RTX"
        )
        build_check = cols[1].checkbox(
            "Build check", value=True, help="after a successful parse, build the network once"
        )
        target = cols[2].selectbox("Target (TensorRT-RTX)", TARGETS, index=TARGETS.index("sm89"))
        left, right = st.columns(2)
        if "diagnose_shapes" not in st.session_state:  # shown again: start from the session's shapes
            st.session_state["diagnose_shapes"] = _shapes_text(sess)
        shapes_text = left.text_area(
            "Shapes you serve (one input per line, trtexec syntax)",
            placeholder="input:1x3x224x224   or   input:1x3x224x224,8x3x224x224,32x3x224x224",
            help="The same serving shapes as on the Build, Accuracy and Timing pages.",
            key="diagnose_shapes",
        )
        values_text = right.text_area(
            "Input values TensorRT needs constant (NAME=JSON per line)",
            placeholder="sr=16000",
            key="diagnose_values",
        )
        submitted = st.form_submit_button("Diagnose", type="primary")
    if not submitted:
        return None
    try:
        shapes = parse_shape_specs([line for line in shapes_text.splitlines() if line.strip()])
        values = parse_input_values([line for line in values_text.splitlines() if line.strip()])
    except WorkbenchError as exc:
        sess.fix_error = exc.message
        return None
    if sess.summary is not None:
        names = [t.name for t in sess.summary.inputs]
        unknown = [n for n in shapes if n not in names]
        if unknown:
            sess.fix_error = f"Shapes name {unknown[0]!r}, which is not an input of the model (inputs: {', '.join(names)})."
            return None
    sess.set_serving_shapes(shapes)
    return (
        DiagnoseOptions(
            backend=backend,
            build_check=build_check,
            target=target if backend != "tensorrt" else None,
            shapes=shapes,
        ),
        FixOptions(shapes=shapes, input_values=values),
    )


def _run_diagnosis(sess: Session, options: tuple[DiagnoseOptions, FixOptions]) -> None:
    assert sess.model is not None
    diag_options, fix_options = options
    with st.spinner("Parsing with TensorRT (in a separate process)…"):
        try:
            sess.fix_session = start_session(
                sess.model, workspace=sess.workspace, options=fix_options, diagnose_options=diag_options
            )
            sess.fix_error = None
        except WorkbenchError as exc:
            sess.fix_error = exc.message


def _apply(sess: Session, fix_id: str, issue: Any = None) -> None:
    assert sess.fix_session is not None
    with st.spinner(f"Applying {fix_id}, checking outputs in ONNX Runtime, parsing again…"):
        try:
            result = apply_fix(sess.fix_session, fix_id, issue=issue)
        except WorkbenchError as exc:
            sess.fix_error = exc.message
            return
    if isinstance(result, FixStep):
        if not REGISTRY[fix_id].preserves_outputs:
            sess.repro_path = result.model_path
        sess.fix_error = None
    else:
        sess.fix_error = result.reason


def _defaulted_notice(sess: Session, fs: FixSession) -> None:
    """The dims the build check set to 1, in the words compare and profile use."""
    profile = fs.current_diagnosis.profile or {}
    assumed = set(profile.get("assumed") or [])
    if not assumed or sess.summary is None:
        return
    summary = sess.summary
    if fs.steps:  # the fixed model's dims (a fix may have renamed them)
        from workbench.ui.cache import load_path, summary_for

        stat = Path(fs.current_path).stat()
        fixed = load_path(fs.current_path, stat.st_mtime_ns, stat.st_size)
        summary = summary_for(fixed.content_hash, fixed)
    _, notes = concrete_shapes([t for t in summary.inputs if t.name in assumed], advice=UI_ADVICE)
    for note in notes:
        st.caption(f"Build check: {note}")


def _status_line(fs: FixSession) -> None:
    d = fs.current_diagnosis
    backend = f"{d.backend.name} {d.backend.version}" if d.backend else "?"
    target = f" for {d.target}" if d.target else ""
    # Say when the build check was not run now (same bytes, backend, target, shapes as before).
    cached = "; build check from cache" if d.cached else ""
    st.markdown(
        f"**Parse:** {_STATUS_WORD[d.parse_ok]} &nbsp; **Build:** {_STATUS_WORD[d.build_ok]}{target} &nbsp; "
        f"<small>({backend}; {len(d.errors)} error(s), {len(d.findings)} finding(s){cached})</small>",
        unsafe_allow_html=True,
    )


def _fix_buttons(sess: Session, issue: Any, key: str) -> None:
    for fix_id in issue.fixes:
        fix = REGISTRY[fix_id]
        cols = st.columns([1, 3])
        if cols[0].button(f"Apply: {fix.title}", key=f"apply_{key}_{fix_id}"):
            _apply(sess, fix_id, issue)
            st.rerun()
        cols[1].caption(fix.explanation)


def _errors(sess: Session, fs: FixSession) -> None:
    d = fs.current_diagnosis
    if not d.errors:
        st.success(
            "No errors: TensorRT " + ("parses and builds" if d.build_ok else "parses") + " this model."
        )
        return
    st.subheader("Errors")
    st.dataframe(
        [
            {
                "stage": e.stage,
                "node": e.node_name or ", ".join(e.tensors) or "—",
                "op": e.op_type or "",
                "code": e.code or "",
                "message": e.message.splitlines()[0] if e.message else "",
                "fixes": ", ".join(e.fixes),
            }
            for e in d.errors
        ],
        hide_index=True,
        width="stretch",
    )
    for i, err in enumerate(d.errors):
        title = f"{err.stage} error at {err.node_name or ', '.join(err.tensors) or 'the model'}"
        with st.expander(title, expanded=i == 0):
            st.code(err.message, language=None, wrap_lines=True)
            if err.func:
                st.caption(f"Parser check: `{err.func}` ({err.code})")
            if err.node is not None:
                node = err.node
                st.markdown(f"**{node.op_type}** `{node.name}` (node {node.index}, domain {node.domain})")
                cols = st.columns(2)
                cols[0].dataframe(node.inputs, hide_index=True, width="stretch")
                cols[1].dataframe(node.outputs, hide_index=True, width="stretch")
                if node.attributes:
                    st.json(node.attributes, expanded=False)
                st.caption(
                    f"Producers: {', '.join(node.producers) or 'graph inputs'} · Consumers: {', '.join(node.consumers) or 'graph outputs'}"
                )
            _fix_buttons(sess, err, f"error{i}")


def _findings(sess: Session, fs: FixSession) -> None:
    d = fs.current_diagnosis
    if not d.findings:
        return
    st.subheader("Findings")
    show = {"error": st.error, "warning": st.warning, "info": st.info}
    for i, finding in enumerate(d.findings):
        show.get(finding.severity, st.info)(finding.message)
        if finding.fixes:
            _fix_buttons(sess, finding, f"finding{i}")


def _capability(fs: FixSession) -> None:
    nodes = fs.current_diagnosis.capability
    if not nodes:
        return
    counts: dict[str, int] = {}
    for n in nodes:
        counts[n.status] = counts.get(n.status, 0) + 1
    with st.expander(f"Capability: {', '.join(f'{v} {k}' for k, v in sorted(counts.items()))}"):
        st.dataframe(
            [n.to_dict() for n in nodes if n.status != "supported"] or [n.to_dict() for n in nodes],
            hide_index=True,
            width="stretch",
        )


def _history(sess: Session, fs: FixSession) -> None:
    st.subheader("History")
    if not fs.steps:
        st.caption("No fix applied yet.")
    for i, step in enumerate(fs.steps, 1):
        delta = (
            ", ".join(f"{op} {n:+d}" for op, n in step.diff.op_count_delta.items())
            or "no change in op counts"
        )
        check = (
            "outputs match the original" if step.meaning.passed else (step.meaning.reason or "not checked")
        )
        st.markdown(
            f"{i}. **{step.title}** — {delta}; {check}. "
            f"Parse {_STATUS_WORD[step.before.parse_ok]} → {_STATUS_WORD[step.after.parse_ok]}, "
            f"build {_STATUS_WORD[step.before.build_ok]} → {_STATUS_WORD[step.after.build_ok]}"
        )
    for rejected in fs.rejected[-5:]:
        st.caption(f"Not applied: {rejected.fix_id} — {rejected.reason}")
    cols = st.columns(3)
    if cols[0].button(
        "Auto-fix", help="apply the top-ranked fixes until the model parses (and builds) or nothing applies"
    ):
        from workbench.ui.background import run_cancellable

        if (
            run_cancellable("Fixing", lambda cancelled: auto_fix(fs, cancelled=cancelled), key="autofix")
            is not None
        ):
            st.rerun()
    if cols[1].button("Undo last fix", disabled=not fs.steps):
        fs.undo()
        st.rerun()
    can_continue = (
        fs.steps
        and fs.current_diagnosis.ok
        and sess.model is not None
        and str(sess.model.path) != fs.current_path
    )
    if can_continue and st.button(
        "Build with the fixed model",
        type="primary",
        help="make the fixed model the current model (the fix history stays)",
    ):
        from workbench.model import load_model
        from workbench.ui.cache import summary_for

        fixed = load_model(fs.current_path)
        sess.set_model(
            fixed,
            summary_for(fixed.content_hash, fixed),
            f"fixed: {Path(fs.original_path).name}",
            keep_history=True,
        )
        st.switch_page(str(Path(__file__).resolve().parent / "build_page.py"))
    if fs.steps:
        name = Path(fs.original_path).stem
        cols[2].download_button(
            "Download fixed model",
            Path(fs.current_path).read_bytes(),
            file_name=f"{name}.fixed.onnx",
            mime="application/octet-stream",
        )
        st.download_button(
            "Download the fix script", fix_script(fs, "fix.py"), file_name="fix.py", mime="text/x-python"
        )
        with st.expander("Fix script"):
            st.code(fix_script(fs, "fix.py"), language="python")
    repro = sess.repro_path
    if repro and Path(repro).is_file():
        st.download_button(
            "Download the minimal reproduction",
            Path(repro).read_bytes(),
            file_name=Path(repro).name.replace(".fixed", ".repro"),
        )


def render() -> None:
    sess = session()
    st.title("Diagnose & fix")
    if sess.model is None:
        st.info("Choose a model on the Model page first.")
        return
    st.caption(f"Model: **{sess.model.name}** ({sess.source})")
    options = _controls(sess)
    if options is not None:
        _run_diagnosis(sess, options)
    if sess.fix_error:
        st.error(sess.fix_error)
    fs = sess.fix_session
    if fs is None:
        st.caption("Press Diagnose to parse the model with TensorRT.")
        return
    if fs.diagnose_options.shapes:
        st.caption(
            "Shapes: " + ", ".join(format_shape_spec(k, v) for k, v in fs.diagnose_options.shapes.items())
        )
    _defaulted_notice(sess, fs)
    _status_line(fs)
    _errors(sess, fs)
    _findings(sess, fs)
    _capability(fs)
    from workbench.ui.graph_view import render_graph

    render_graph(
        sess,
        "diagnose",
        "Show the graph, coloured by what TensorRT makes of each node",
        default=not fs.current_diagnosis.parse_ok,
    )
    _history(sess, fs)


if __name__ == "__main__":  # run by st.navigation as a page
    render()
