"""Compatibility page: which TensorRT-RTX versions take the current model, side by side.

The page only arranges widgets: ``workbench.compat.check_versions`` does the work (each
version in its own managed environment), ``report_section`` gives the table and the
sentences. A finished check is kept by its key (the session's workspace, the model's content
hash and the options), so a rerun, or coming back to the page, shows it without recomputing.
"""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from workbench.compat import CompatReport, report_section
from workbench.ui.background import run_with_progress
from workbench.ui.state import session

DEFAULT_VERSIONS = "1.4,1.5,1.6,1.7"


@st.cache_resource(show_spinner=False)
def finished_checks() -> dict[str, CompatReport]:
    """Every finished check of this server process, by :func:`check_key` (never recomputed)."""
    return {}


def check_key(workspace: str, content_hash: str, options: dict[str, Any]) -> str:
    return json.dumps([workspace, content_hash, options], sort_keys=True, default=str)


def _run_with_progress(options: dict[str, Any], model: Any, key: str) -> CompatReport | None:
    """Run the check beside the page: a progress bar from its steps, a Cancel button."""
    from workbench.compat import check_versions

    value = run_with_progress(
        "The version check",
        lambda progress, cancelled: check_versions(
            model.path,
            options["versions"],
            build_check=options["build_check"],
            target=options["target"] or None,
            shapes=options["shapes"] or None,
            model=model,
            cuda=options["cuda"] or None,
            driver=options["driver"] or None,
            try_fixes=options["try_fixes"],
            progress=progress,
            steps=progress.step,
            cancelled=cancelled,
        ),
        key,
    )
    return value if isinstance(value, CompatReport) else None


def render() -> None:
    sess = session()
    st.title("Compatibility")
    st.caption(
        "Which TensorRT-RTX versions parse and build this model, each in its own managed environment "
        "(created once under the workbench's home and reused; your own environment is never touched), "
        "and what changes between them: errors, layers, precision mix, fusions, engine size."
    )
    if sess.model is None:
        st.info("Open a model on the Model page first.")
        return
    cols = st.columns([3, 1, 1])
    versions = cols[0].text_input(
        "Versions (SPEC, SPEC…)",
        value=DEFAULT_VERSIONS,
        key="compat_versions",
        help="1.6 (newest 1.6.x), 1.6.1.120, or a pip requirement such as tensorrt-rtx==1.6.1.120",
    )
    build_check = cols[1].checkbox("Build an engine", value=True, key="compat_build")
    try_fixes = cols[2].checkbox("Try fixes", value=False, key="compat_fixes")
    more = st.columns(3)
    target = more[0].text_input("Target", value="sm89", key="compat_target")
    cuda = more[1].text_input("Deployment CUDA (optional)", value="", key="compat_cuda")
    driver = more[2].text_input("Deployment driver (optional)", value="", key="compat_driver")
    options = {
        "versions": [v.strip() for v in versions.split(",") if v.strip()],
        "build_check": build_check,
        "target": target.strip() if build_check else "",
        "shapes": sess.serving_shapes if build_check else {},
        "cuda": cuda.strip(),
        "driver": driver.strip(),
        "try_fixes": try_fixes,
    }
    key = check_key(str(sess.workspace.root), sess.model.content_hash, options)
    checks = finished_checks()
    if st.button("Check versions", type="primary", key="compat_run"):
        report = _run_with_progress(options, sess.model, "compat_run")
        if report is not None:
            checks[key] = report
            sess.workspace.save_result("compat_reports", report, label=sess.model.name)
    report = checks.get(key)
    if report is None:
        return
    show_report(report)


def show_report(report: CompatReport) -> None:
    section = report_section(report)
    st.subheader(section.title)
    st.dataframe(
        [{c: row.get(c) for c in section.columns} for row in section.rows],
        hide_index=True,
    )
    for sentence in section.sentences:
        st.markdown(f"- {sentence}")
    for outcome in report.versions:
        if not outcome.errors:
            continue
        with st.expander(f"{outcome.label}: {len(outcome.errors)} error(s)"):
            for error in outcome.errors:
                st.markdown(f"**{error.node_name or error.op_type or '?'}** ({error.stage}): {error.message}")
                if error.fixes:
                    st.caption("fixes: " + ", ".join(error.fixes))
    st.caption("Reproduce")
    st.code(section.command, language="bash")


if __name__ == "__main__":  # run by st.navigation as a page
    render()
