"""The one session object: everything a browser session has, in one place.

Pages read and write it through :func:`session`; none invents its own
``st.session_state`` keys. Each browser session gets its own workspace folder, so two
users of one server never see each other's models or results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import streamlit as st

from workbench.model import LoadedModel
from workbench.summary import ModelSummary
from workbench.workspace import Workspace

if TYPE_CHECKING:
    from workbench.build import BuildResult
    from workbench.calibration import CalibrationData, CalibrationReport
    from workbench.compare import Comparison, KeepPrecisionResult
    from workbench.fixing import FixSession
    from workbench.timing import Profile

_KEY = "trt_workbench_session"


@dataclass
class Session:
    workspace: Workspace
    model: LoadedModel | None = None
    summary: ModelSummary | None = None
    #: Where the current model came from ("sample: resnet_cnn.onnx", "upload: x.onnx"...).
    source: str = ""
    #: The last intake error, shown next to the control that caused it.
    load_error: str | None = None
    #: Which upload (name, size) was last processed, so a rerun does not reload it.
    last_upload: tuple[str, int] | None = None
    #: The diagnose-and-fix session of the current model (its history of fixes).
    fix_session: FixSession | None = None
    #: The last diagnose/fix error, shown next to the Diagnose controls.
    fix_error: str | None = None
    #: The last minimal reproduction extracted from the current model.
    repro_path: str | None = None
    #: Engines built for the current model, newest matrix last.
    builds: list[BuildResult] = field(default_factory=list)
    #: Calibration data as loaded and checked, and what it was loaded from.
    calibration: CalibrationData | None = None
    calibration_report: CalibrationReport | None = None
    calibration_key: tuple[Any, ...] | None = None
    #: Accuracy against FP32, the keep-precision search, and timings of the current model.
    comparison: Comparison | None = None
    keep_result: KeepPrecisionResult | None = None
    profiles: dict[str, Profile] = field(default_factory=dict)
    #: The last report made: (report.html, report.json).
    report_files: tuple[str, str] | None = None

    def set_model(
        self, model: LoadedModel, summary: ModelSummary, source: str, *, keep_history: bool = False
    ) -> None:
        """Make ``model`` the current model; a different model starts a new fix history unless
        ``keep_history`` (continuing with the fixed model of the current history)."""
        if not keep_history and (self.model is None or self.model.content_hash != model.content_hash):
            self.fix_session = None  # a different model starts a new history
            self.fix_error = None
            self.repro_path = None
        if self.model is None or self.model.content_hash != model.content_hash:
            self.builds = []
            self.calibration = self.calibration_report = self.calibration_key = None
            self.comparison = None
            self.keep_result = None
            self.profiles = {}
        self.model = model
        self.summary = summary
        self.source = source
        self.load_error = None


def session() -> Session:
    if _KEY not in st.session_state:
        st.session_state[_KEY] = Session(workspace=Workspace.for_session())
    value = st.session_state[_KEY]
    assert isinstance(value, Session)
    return value
