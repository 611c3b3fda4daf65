"""The workbench's error types.

Every problem a user can cause (a bad file, a wrong shape, a missing backend) is raised
as a :class:`WorkbenchError` whose message is one sentence naming the problem. Front
ends catch this one type: the CLI prints the sentence and exits with status 2, the
Streamlit pages show it next to the control that caused it. Anything else is a bug.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """A problem with the user's input or environment, explained in one sentence."""

    exit_code = 2

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: Longer technical detail (a library's own message), shown on request only.
        self.detail = detail


class ModelLoadError(WorkbenchError):
    """The file is not a loadable ONNX model (not ONNX, empty, truncated, bad zip...)."""


class ExternalDataError(ModelLoadError):
    """External data is missing or points outside the model's folder."""


class BackendUnavailableError(WorkbenchError):
    """The requested backend (TensorRT, TensorRT-RTX, ModelOpt...) is not installed."""
