"""What workers return, as typed records both sides import.

A worker (``trt_worker``, run through :mod:`workbench.executor`) builds one of these and
sends its ``to_dict()``; the caller reads it back with ``from_dict``. A renamed field is
then a type error in one place instead of a silent ``None`` from ``raw.get("...")`` in
another. The module is light on purpose (no onnx, no numpy, no TensorRT): the worker
imports only what its task needs, and an executor on another machine needs only this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workbench.serialize import JsonRecord


@dataclass
class WorkerBackend(JsonRecord):
    name: str
    version: str


@dataclass
class UsedProfile(JsonRecord):
    """The optimization profile a build check used; ``assumed`` inputs got all-1 dims."""

    shapes: dict[str, list[list[int]]] = field(default_factory=dict)
    assumed: list[str] = field(default_factory=list)


@dataclass
class ParseOutcome(JsonRecord):
    """``trt_worker.parse_and_check``: the parse, the capability partition, the build check."""

    backend: WorkerBackend
    parse_ok: bool
    #: The parser's errors as it reports them (node_name, op_type, node_index, code, desc, ...).
    parse_errors: list[dict[str, Any]] = field(default_factory=list)
    build_ok: bool | None = None
    build_errors: list[str] = field(default_factory=list)
    target: str | None = None
    profile: UsedProfile | None = None
    #: Supported subgraphs when asked for (None: not asked).
    capability: list[Any] | None = None
    engine_bytes: int | None = None
    network_inputs: list[dict[str, Any]] = field(default_factory=list)
    #: (severity, message) pairs of the filtered TensorRT log.
    log: list[tuple[str, str]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class BuildOutcome(JsonRecord):
    """``trt_worker.build_engine``: the engine and what TensorRT made of each layer."""

    ok: bool
    backend: WorkerBackend | None = None
    target: str | None = None
    engine_bytes: int | None = None
    error: str | None = None
    #: Layers from the builder's detailed log (``engine_layers.parse_layer_log``).
    layers: list[dict[str, Any]] = field(default_factory=list)
    layer_log_found: bool = False
    log_path: str | None = None
    log: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    #: Build options set that this worker does not apply (``build_options``).
    ignored_options: list[str] = field(default_factory=list)
    #: Where the task ran, as the executor says: ``{"executor": "local"|"ray", "node": ...}``.
    executed_on: dict[str, Any] | None = None
