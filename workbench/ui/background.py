"""Long work in the browser: run it beside the page, show that it runs, let the user cancel it.

Streamlit elements can be updated only from the script's thread, and a click anywhere
(Cancel included) makes Streamlit rerun the page, which interrupts the script at its next
element update. So the work runs in a thread, this thread ticks a clock, and an
interruption sets the work's ``cancelled`` flag (the library then kills its workers).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import streamlit as st

from workbench.errors import WorkbenchError
from workbench.isolation import TaskCancelled


def run_cancellable(label: str, work: Callable[[Callable[[], bool]], Any], key: str) -> Any:
    """Run ``work(cancelled)``; show errors next to the control, return None when it failed."""
    cancel = threading.Event()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = work(cancel.is_set)
        except BaseException as exc:
            outcome["error"] = exc

    st.button("Cancel", key=f"{key}_cancel")
    clock = st.empty()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        while thread.is_alive():
            clock.caption(f"{label}… {time.monotonic() - started:.0f} s")
            thread.join(0.25)
    except BaseException:
        cancel.set()
        raise
    clock.empty()
    error = outcome.get("error")
    if isinstance(error, TaskCancelled):
        st.warning("Cancelled.")
        return None
    if isinstance(error, WorkbenchError):
        st.error(error.message)
        return None
    if error is not None:
        st.error(f"{label} failed: {type(error).__name__}: {error}")
        return None
    return outcome.get("value")
