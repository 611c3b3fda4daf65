"""The fix registry: one :class:`Fix` entry per fix, in one place per family of fixes.

A fix has an id, a title, a one-paragraph explanation, a relevance test (how well it
answers one error or finding of a diagnosis; 0 = not at all), the parameters it needs
(derived from the model, the diagnosis and the user's options), and an implementation:
a plain, self-contained function ``impl(model, **params) -> model`` built on
onnx-graphsurgeon, Polygraphy or onnx's own tools. Because the implementation imports
what it uses inside its own body, its source *is* the reproduction snippet: the exported
fix script contains exactly the code the workbench ran.

Adding a fix: write its implementation and one ``register(Fix(...))`` entry in the
family module under ``workbench/fixes/`` (constants, shapes, dtypes, ops, cleanup).
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import onnx

from workbench.serialize import JsonRecord
from workbench.shapes import ShapeProfile

if TYPE_CHECKING:
    from workbench.graph_index import GraphIndex


class Issue(Protocol):
    """What a fix is asked about: a DiagnosticError or a Finding."""

    @property
    def stage(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def op_type(self) -> str | None: ...
    @property
    def node_name(self) -> str | None: ...
    @property
    def tensors(self) -> list[str]: ...


@dataclass
class FixOptions(JsonRecord):
    """What the user told us that some fixes need."""

    #: Shapes for override-input-shapes (and the build check): input -> [min, opt, max].
    shapes: ShapeProfile = field(default_factory=dict)
    #: Values for set-input-constant: input -> nested list.
    input_values: dict[str, Any] = field(default_factory=dict)
    #: Opset for convert-opset (default 17, which every TensorRT 10 parser imports).
    target_opset: int | None = None
    #: Node to extract for extract-failing-subgraph (default: the first failing node).
    node: str | None = None


@dataclass
class FixContext:
    """Everything a relevance test or a parameter function may look at."""

    model: onnx.ModelProto  # without external data is fine: fixes only need the graph here
    index: GraphIndex
    options: FixOptions
    issues: list[Any]  # the diagnosis' errors and findings


RelevanceFn = Callable[[Any, FixContext], float]
ParamsFn = Callable[[FixContext, Any], "dict[str, Any] | None"]


@dataclass(frozen=True)
class Fix:
    id: str
    title: str
    explanation: str
    implementation: Callable[..., onnx.ModelProto]
    #: How well this fix answers one issue (0 = not relevant; higher ranks first).
    relevance: RelevanceFn
    #: Parameters for the implementation, or None when the fix cannot apply (e.g. needs a value
    #: the user has not given). ``issue`` is the issue it answers, or None for a direct --apply.
    params: ParamsFn = lambda ctx, issue: {}
    #: False for fixes whose result is not a replacement model (a minimal reproduction).
    preserves_outputs: bool = True
    #: Whether --auto may choose it.
    auto: bool = True
    #: Whether --auto applies it for a warning finding once the model parses and builds.
    auto_for_warnings: bool = False

    def snippet(self, params: dict[str, Any]) -> str:
        """Standalone Python that reproduces this fix on ``model``."""
        source = textwrap.dedent(inspect.getsource(self.implementation))
        call = f"model = {self.implementation.__name__}(model{''.join(f', {k}={v!r}' for k, v in params.items())})"
        return f"{source}\n\n{call}\n"


REGISTRY: dict[str, Fix] = {}


def register(fix: Fix) -> Fix:
    if fix.id in REGISTRY:
        raise ValueError(f"fix id {fix.id!r} registered twice")
    REGISTRY[fix.id] = fix
    return fix


# ----------------------------------------------------------------------------- helpers for relevance tests


def message_has(issue: Any, *needles: str) -> bool:
    text = (getattr(issue, "message", "") or "").lower()
    return any(n.lower() in text for n in needles)


def is_kind(issue: Any, *kinds: str) -> bool:
    return getattr(issue, "kind", None) in kinds
