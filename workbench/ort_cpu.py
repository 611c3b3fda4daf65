"""ONNX Runtime on the CPU: the one place sessions are made.

ONNX Runtime is the workbench's FP32 reference and its CPU executor for Q/DQ models
(fix meaning checks, ``compare``, labelled evaluation, CPU timing). Every session comes
from :func:`cpu_session`, so each has the same provider (CPU only: a number from here is
never a TensorRT number), the same quiet logging (ONNX Runtime's own warnings are
coloured native log lines printed before our one sentence; the process-wide logger is
turned down too, because some lines come before a session's options apply), and the same
handling of a model too large to pass as bytes.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np

#: ONNX Runtime's severities: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal.
QUIET = 3
#: A serialized ModelProto must stay below protobuf's 2 GiB; leave room for the envelope.
_MAX_BYTES = 2**31 - 2**20
_quieted = False


def _ort() -> Any:
    global _quieted
    import onnxruntime as ort

    if not _quieted:
        ort.set_default_logger_severity(QUIET)
        _quieted = True
    return ort


def session_options(*, threads: int | None = None) -> Any:
    """Session options with ONNX Runtime's logging turned down; ``threads`` intra-op (0: all)."""
    options = _ort().SessionOptions()
    options.log_severity_level = QUIET
    if threads is not None:
        options.intra_op_num_threads = threads
    return options


def cpu_session(model: Any, options: Any = None) -> Any:
    """An ``InferenceSession`` on the CPU for a path, serialized bytes or an ``onnx.ModelProto``."""
    ort = _ort()
    options = options if options is not None else session_options()
    providers = ["CPUExecutionProvider"]
    if isinstance(model, (str, os.PathLike)):
        return ort.InferenceSession(os.fspath(model), options, providers=providers)
    if isinstance(model, bytes):
        return ort.InferenceSession(model, options, providers=providers)
    if model.ByteSize() < _MAX_BYTES:
        return ort.InferenceSession(model.SerializeToString(), options, providers=providers)
    import onnx

    with tempfile.TemporaryDirectory() as tmp:  # > 2 GB: ONNX Runtime must read it from disk
        path = os.path.join(tmp, "model.onnx")
        onnx.save_model(model, path, save_as_external_data=True, location="model.onnx.data")
        return ort.InferenceSession(path, options, providers=providers)


def run_cpu(model: Any, feeds: dict[str, np.ndarray], outputs: list[str] | None = None) -> dict[str, np.ndarray]:
    """Outputs by name (all, or ``outputs``); feeds the model does not take are left out."""
    session = cpu_session(model)
    wanted = {i.name for i in session.get_inputs()}
    names = outputs or [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {k: v for k, v in feeds.items() if k in wanted})))
