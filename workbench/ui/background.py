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

from workbench.archives import safe_text
from workbench.errors import WorkbenchError
from workbench.isolation import TaskCancelled


class Progress:
    """What long work reports while it runs: call it with a message (the library's
    ``progress=`` callbacks), and ``step(done, total)`` when it counts its steps."""

    def __init__(self, expected_messages: int = 0) -> None:
        self.message = "starting"
        self.messages = 0
        self.expected = expected_messages
        self.done = 0
        self.total = 0

    def __call__(self, message: str) -> None:
        self.message = message
        self.messages += 1

    def step(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    def fraction(self) -> float | None:
        """How far along, when the work said (steps) or the caller knows how many messages come."""
        if self.total > 0:
            return min(self.done / self.total, 1.0)
        if self.expected > 0:
            return min(self.messages / self.expected, 0.99)
        return None


def run_with_progress(
    label: str, work: Callable[[Progress, Callable[[], bool]], Any], key: str, steps: int = 0
) -> Any:
    """Run ``work(progress, cancelled)`` beside the page: a progress bar (or a clock when the
    work cannot say how far it is), a Cancel button; errors are shown in one sentence beside
    the control and None is returned when it failed or was cancelled."""
    cancel = threading.Event()
    progress = Progress(steps)
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = work(progress, cancel.is_set)
        except BaseException as exc:
            outcome["error"] = exc

    st.button("Cancel", key=f"{key}_cancel")
    shown = st.empty()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        while thread.is_alive():
            elapsed = f"{time.monotonic() - started:.0f} s"
            fraction = progress.fraction()
            if fraction is None:
                shown.caption(f"{label}… {elapsed}")
            else:
                shown.progress(fraction, text=f"{label}: {safe_text(progress.message)} · {elapsed}")
            thread.join(0.25)
    except BaseException:
        cancel.set()  # a click (Cancel included) reruns the page: stop the workers
        raise
    shown.empty()
    error = outcome.get("error")
    if isinstance(error, TaskCancelled):
        st.warning("Cancelled.")
        return None
    if isinstance(error, WorkbenchError):
        st.error(error.message)
        return None
    if error is not None:
        first = str(error).splitlines()[0] if str(error) else ""
        st.error(f"{label} failed: {type(error).__name__}: {safe_text(first)}")
        return None
    return outcome.get("value")


def run_cancellable(label: str, work: Callable[[Callable[[], bool]], Any], key: str) -> Any:
    """Run ``work(cancelled)`` (work that reports no progress) as :func:`run_with_progress` does."""
    return run_with_progress(label, lambda _progress, cancelled: work(cancelled), key)
