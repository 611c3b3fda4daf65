"""Cached library calls: a rerun looks results up by content, it never recomputes them."""

from __future__ import annotations

import streamlit as st

from workbench.env import EnvironmentReport, collect_environment
from workbench.model import LoadedModel, load_model
from workbench.summary import ModelSummary, summarize


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
