"""The one session object: everything a browser session has, in one place.

Pages read and write it through :func:`session`; none invents its own
``st.session_state`` keys. Each browser session gets its own workspace folder, so two
users of one server never see each other's models or results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import streamlit as st

from workbench.errors import WorkbenchError
from workbench.model import LoadedModel
from workbench.shapes import ShapeProfile, concrete_shapes, format_shape_spec, parse_shape_spec
from workbench.summary import ModelSummary
from workbench.workspace import Workspace

if TYPE_CHECKING:
    from workbench.build import BuildResult
    from workbench.calibration import CalibrationData, CalibrationReport
    from workbench.compare import Comparison, KeepPrecisionResult
    from workbench.fixing import FixSession
    from workbench.shapes import ProfileSuggestion
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
    #: The shapes the user serves, as optimization profiles (input -> [min, opt, max]), the
    #: first profile first: one source for every page that needs shapes. Diagnose, Build,
    #: Accuracy and Timing prefill their shape controls from it and write edits back;
    #: Accuracy and Timing run at the first profile's opt shapes.
    shape_profiles: list[ShapeProfile] = field(default_factory=list)
    #: Bumped whenever ``shape_profiles`` change, so a table showing them starts again from them.
    shapes_version: int = 0
    #: Request shapes observed in serving (Build page) and the profiles suggested from them.
    observed_shapes: list[dict[str, list[int]]] = field(default_factory=list)
    profile_suggestion: ProfileSuggestion | None = None

    @property
    def serving_shapes(self) -> ShapeProfile:
        """The first profile: the shapes typed on Diagnose, Accuracy and Timing."""
        return self.shape_profiles[0] if self.shape_profiles else {}

    def set_serving_shapes(self, shapes: ShapeProfile) -> None:
        """Replace the first profile (the others, e.g. suggested ones, stay)."""
        rest = self.shape_profiles[1:]
        self.set_shape_profiles([dict(shapes), *rest] if shapes or rest else [])

    def set_shape_profiles(self, profiles: list[ShapeProfile]) -> None:
        profiles = [dict(p) for p in profiles if p]
        if profiles != self.shape_profiles:
            self.shape_profiles = profiles
            self.shapes_version += 1

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
            # Shapes stay for the inputs the new model has at the same rank (a fixed or
            # re-exported model); observed shapes and their suggestion belong to the old one.
            ranks = {t.name: len(t.shape) for t in summary.inputs if t.shape is not None}
            self.set_shape_profiles(
                [
                    {n: t for n, t in p.items() if n in ranks and all(len(s) == ranks[n] for s in t)}
                    for p in self.shape_profiles
                ]
            )
            if not keep_history:
                self.observed_shapes = []
                self.profile_suggestion = None
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


#: The end of the UI's defaulted-dims notice (the CLI's says --shapes NAME:DIMS).
UI_ADVICE = "type the shapes you serve (Diagnose, Build, Accuracy and Timing share them)"


def shape_text(triple: list[list[int]]) -> str:
    """``1x3x224x224`` for a static shape, ``MIN,OPT,MAX`` for a range."""
    return format_shape_spec("_", triple).split(":", 1)[1]


def shape_inputs(
    sess: Session, page: str, columns: list[Any] | None = None, *, batch: int | None = None
) -> ShapeProfile | None:
    """One box per input, prefilled from the session's serving shapes, with the notice of
    the dims left to their default; edits go back to the session, so every page shows them.
    Returns the shapes given, or None once a bad shape's error is shown."""
    assert sess.summary is not None
    inputs = sess.summary.inputs
    columns = columns or list(st.columns(len(inputs) or 1))
    serving = sess.serving_shapes
    defaults, _ = concrete_shapes(inputs)
    given: ShapeProfile = {}
    error = None
    for col, t in zip(columns, inputs):
        key = f"{page}_shape_{t.name}"
        if key not in st.session_state:  # a page shown again starts from the session's shapes
            st.session_state[key] = shape_text(serving[t.name]) if t.name in serving else ""
        text = col.text_input(
            f"Shape of {t.name}",
            key=key,
            placeholder="x".join(str(d) for d in defaults.get(t.name, [])) or "1x3x224x224",
            help="DIMS, or MIN,OPT,MAX (runs at OPT); empty: dynamic dims default to 1. "
            "The same serving shapes as on the Diagnose, Build, Accuracy and Timing pages.",
        ).strip()
        if not text:
            continue
        try:
            name, triple = parse_shape_spec(f"{t.name}:{text}")
        except WorkbenchError as exc:
            error = exc.message
            continue
        given[name] = triple
    if error:
        st.error(error)
        return None
    if given != serving:
        sess.set_serving_shapes(given)
    _, notes = concrete_shapes(inputs, given, batch=batch, advice=UI_ADVICE)
    for note in notes:
        st.caption(note)
    return given
