"""Report page: the whole session as one offline HTML report plus its JSON bundle and commands."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from workbench.errors import WorkbenchError
from workbench.report import write_report
from workbench.ui.state import session


def render() -> None:
    sess = session()
    st.title("Report")
    st.caption(
        "One self-contained HTML file (charts included, opens offline) and a JSON bundle: environment, model, "
        "diagnosis and fixes, builds with layer precisions, accuracy and drift, timings with their backend, "
        "imported TensorRT engines and their comparisons, and the commands that reproduce every step (fix script, "
        "ModelOpt, polygraphy, trtexec for TensorRT 10 and 11, the trtexec export flags)."
    )
    if st.button("Make the report", type="primary", key="report_run"):
        # What lives only in this session is saved into its workspace first, so the report
        # (like one made later from the workspace folder) contains it.
        if sess.fix_session is not None:
            sess.workspace.save_result(
                "fix_sessions", sess.fix_session, label=Path(sess.fix_session.original_path).name
            )
            sess.workspace.save_result(
                "diagnoses",
                sess.fix_session.original_diagnosis,
                label=Path(sess.fix_session.original_path).name,
            )
        for profile in sess.profiles.values():
            sess.workspace.save_result("profiles", profile, label=sess.model.name if sess.model else "")
        with st.spinner("Collecting the workspace…"):
            try:
                out = Path(tempfile.mkdtemp()) / "report.html"
                html_path, json_path = write_report(sess.workspace, out)
            except WorkbenchError as exc:
                st.error(exc.message)
                return
        sess.report_files = (str(html_path), str(json_path))
    files = sess.report_files
    if files and Path(files[0]).is_file():
        html_path, json_path = Path(files[0]), Path(files[1])
        cols = st.columns(4)
        cols[0].download_button(
            "Download report.html", html_path.read_bytes(), file_name="report.html", mime="text/html"
        )
        cols[1].download_button(
            "Download report.json", json_path.read_bytes(), file_name="report.json", mime="application/json"
        )
        for col, name in zip(cols[2:], ("Dockerfile", "requirements.lock")):
            path = html_path.parent / name
            if path.is_file():
                col.download_button(f"Download {name}", path.read_bytes(), file_name=name)
        import json

        commands = json.loads(json_path.read_text())["commands"]
        st.subheader("Reproduce")
        st.code(
            "\n".join(
                (" ".join(f"{k}={v}" for k, v in c["env"].items()) + " " if c["env"] else "")
                + " ".join(c["argv"])
                for c in commands
            )
            or "(nothing to reproduce yet)",
            language="bash",
        )


if __name__ == "__main__":  # run by st.navigation as a page
    render()
