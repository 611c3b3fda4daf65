"""Model page: open your model (upload, or a path on the server) or a bundled sample; see the summary.

"Open your model" comes first, where a newcomer looks; the samples are one click beside it,
and the default sample is open from the start so the page is never empty.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from workbench.errors import WorkbenchError
from workbench.model import load_model
from workbench.plots import op_histogram_figure
from workbench.samples import SampleModel, list_samples
from workbench.summary import ModelSummary
from workbench.ui.cache import load_path, summary_for
from workbench.ui.state import Session, session


def default_sample_name() -> str | None:
    """The sample named by ``?sample=`` or ``--sample`` (the README's first command uses it)."""
    from workbench.ui.app_main import startup_options

    return st.query_params.get("sample") or startup_options().sample


def _use_path(sess: Session, path: Path, source: str) -> None:
    stat = path.stat()
    model = load_path(str(path), stat.st_mtime_ns, stat.st_size)
    sess.set_model(model, summary_for(model.content_hash, model), source)


def _sample_labels(samples: list[SampleModel]) -> list[str]:
    return [f"{s.title} — {Path(s.file).name}" for s in samples]


def _open_sample(sess: Session, sample: SampleModel) -> None:
    try:
        _use_path(sess, sample.path, f"sample: {sample.file}")
    except WorkbenchError as exc:
        sess.load_error = exc.message


def _pick_sample(sess: Session, samples: list[SampleModel]) -> None:
    labels = _sample_labels(samples)
    wanted = default_sample_name()
    index = 0
    for i, s in enumerate(samples):
        if wanted and wanted in (s.file, Path(s.file).name, Path(s.file).stem):
            index = i

    def chosen() -> None:
        # Only a change of the selection opens a sample: an upload stays open across reruns.
        label = st.session_state["model_sample"]
        _open_sample(sess, samples[labels.index(label)])

    choice = st.selectbox("…or try a bundled sample", labels, index=index, key="model_sample", on_change=chosen)
    sample = samples[labels.index(choice)]
    if not sess.source and not sess.load_error:
        _open_sample(sess, sample)  # the first visit: the default sample, so the page is never empty
    if sess.source == f"sample: {sample.file}":
        st.caption(f"{sample.description}  \n**TensorRT:** {sample.tensorrt}")


def _pick_upload(sess: Session) -> None:
    upload = st.file_uploader(
        "Open your model: an ONNX file, or a .zip of its folder when the weights are in external data",
        type=["onnx", "zip"],
        key="model_upload",
    )
    if upload is None:
        return
    marker = (upload.name, upload.size)
    if sess.last_upload == marker:
        return
    sess.last_upload = marker
    with st.spinner(f"Loading {upload.name}…"):
        try:
            model = load_model(upload.getvalue(), name=upload.name, workspace=sess.workspace)
        except WorkbenchError as exc:
            sess.load_error = exc.message
            return
    sess.set_model(model, summary_for(model.content_hash, model), f"upload: {upload.name}")


def _pick_path(sess: Session) -> None:
    from workbench.server_paths import listen_address, resolve_server_path, server_paths_enabled

    address = listen_address()
    if not server_paths_enabled(address):
        st.caption(
            "Server paths are off: this server listens beyond localhost and its operator has not "
            "named the folders it may open (TRT_WORKBENCH_SERVER_ROOTS)."
        )
        return
    with st.form("model_path_form"):
        text = st.text_input(
            "Path on the server (for models too big to upload; external data must sit beside it)"
        )
        submitted = st.form_submit_button("Load")
    if submitted and text:
        try:
            path = resolve_server_path(text, workspace=sess.workspace, address=address)
            if path.suffix.lower() == ".zip":
                model = load_model(path, workspace=sess.workspace)
                sess.set_model(model, summary_for(model.content_hash, model), f"path: {path}")
            else:
                _use_path(sess, path, f"path: {path}")
        except WorkbenchError as exc:
            sess.load_error = exc.message


@st.fragment
def _operators(summary: ModelSummary) -> None:
    # A fragment: moving the slider redraws this chart only, nothing else reruns.
    kinds = len(summary.op_histogram)
    top = (
        st.slider("Operator types shown", 1, max(2, kinds), min(25, max(2, kinds)), key="op_top")
        if kinds > 1
        else 1
    )
    st.plotly_chart(op_histogram_figure(summary, top=top), width="stretch", key="op_histogram")


def render_summary(summary: ModelSummary) -> None:
    cols = st.columns(5)
    cols[0].metric("Nodes", f"{summary.node_count:,}")
    cols[1].metric("Parameters", f"{summary.parameter_count:,}")
    cols[2].metric("On disk", f"{summary.total_bytes / 2**20:.2f} MiB")
    cols[3].metric(
        "Opset", ", ".join(f"{v}" if d == "ai.onnx" else f"{d} {v}" for d, v in summary.opsets.items())
    )
    cols[4].metric("IR version", summary.ir_version)

    if summary.custom_domains:
        st.warning(
            f"Custom operator domains: {', '.join(summary.custom_domains)}. TensorRT needs a plugin or a rewrite for these ops."
        )
    if not summary.checker_ok:
        st.error(f"ONNX checker: {summary.checker_error}")
    if summary.shape_inference_error:
        st.warning(f"Shape inference failed: {summary.shape_inference_error}")
    if summary.dynamic_dims:
        dynamic = ", ".join(
            f"`{d.input}`[{'rank' if d.axis is None else d.axis}]" + (f" = `{d.name}`" if d.name else "")
            for d in summary.dynamic_dims
        )
        st.info(f"Dynamic dims that need an optimization profile: {dynamic}")
    for name, shared in summary.shared_dim_names.items():
        st.warning(
            f"Input `{name}` uses the dim name(s) {', '.join(shared)} for more than one axis: TensorRT treats them as equal."
        )

    left, right = st.columns(2)
    with left:
        st.subheader("Inputs")
        st.dataframe(
            [{"name": t.name, "dtype": t.dtype, "shape": t.shape_str()} for t in summary.inputs],
            hide_index=True,
            width="stretch",
        )
        st.subheader("Outputs")
        st.dataframe(
            [{"name": t.name, "dtype": t.dtype, "shape": t.shape_str()} for t in summary.outputs],
            hide_index=True,
            width="stretch",
        )
        st.subheader("Initializers")
        st.dataframe(
            [
                {"dtype": d, "count": n, "bytes": f"{summary.initializer_bytes_by_dtype.get(d, 0):,}"}
                for d, n in summary.initializer_dtypes.items()
            ],
            hide_index=True,
            width="stretch",
        )
        st.caption(
            f"Producer: {summary.producer_name or 'unknown'} {summary.producer_version} · sha256 `{summary.content_hash[:16]}`"
            + (
                f" · external data: {', '.join(summary.external_data_files)}"
                if summary.external_data_files
                else ""
            )
        )
    with right:
        _operators(summary)
    from workbench.ui.graph_view import render_graph
    from workbench.ui.state import session

    render_graph(session(), "model")
    with st.expander("Summary as JSON"):
        st.code(summary.to_json(), language="json")


def render() -> None:
    sess = session()
    st.title("Model")
    mine, bundled = st.columns([3, 2])
    with mine:
        _pick_upload(sess)
        with st.expander("Open a file on the server"):
            _pick_path(sess)
    with bundled:
        samples = list_samples()
        if samples:
            _pick_sample(sess, samples)
        else:
            st.info(
                "No bundled samples found: this install lacks workbench/bundled_models "
                "(reinstall the package, or run sample_models/generate.py in a source checkout)."
            )

    if sess.load_error:
        st.error(sess.load_error)
    if sess.summary is not None:
        st.markdown(f"### {sess.summary.name}  \n<small>{sess.source}</small>", unsafe_allow_html=True)
        render_summary(sess.summary)


if __name__ == "__main__":  # run by st.navigation as a page
    render()
