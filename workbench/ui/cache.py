"""Cached library calls: a rerun looks results up by content, it never recomputes them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from workbench.env import EnvironmentReport, collect_environment
from workbench.model import LoadedModel, load_model
from workbench.summary import ModelSummary, summarize

if TYPE_CHECKING:
    from workbench.engine_report import EngineReport


@st.cache_resource(show_spinner=False)
def environment() -> EnvironmentReport:
    return collect_environment()


@st.cache_resource(show_spinner=False, max_entries=16)
def load_path(path: str, mtime_ns: int, size: int) -> LoadedModel:
    """A model on disk, reloaded only when the file changes (mtime and size are the key)."""
    del mtime_ns, size
    return load_model(path)


@st.cache_data(show_spinner=False, max_entries=64)
def summary_for(content_hash: str, _model: LoadedModel) -> ModelSummary:
    """The summary of a model, keyed by its content hash alone."""
    del content_hash
    return summarize(_model)


@st.cache_data(show_spinner=False, max_entries=32)
def engine_exports(content_hash: str, _sources: tuple[str, ...], _base: str) -> list[EngineReport]:
    """Engine reports from trtexec exports, parsed once per content: ``content_hash`` (of the
    files' names, layout and bytes) is the whole key, so a rerun or a second load of the same
    exports never parses them again.

    File paths in the reports are made relative to ``_base``: a cached result names no
    session's folder, and the caller puts its own folder back in front.
    """
    del content_hash
    from workbench.engine_report import load_engine_exports

    reports = load_engine_exports(list(_sources))
    prefix = _base.rstrip("/") + "/"
    for report in reports:
        report.files = {k: v[len(prefix) :] if v.startswith(prefix) else v for k, v in report.files.items()}
    return reports
