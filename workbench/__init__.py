"""TensorRT Workbench: from an ONNX model to a fast, accurate TensorRT engine.

The library behind the Streamlit app, the ``trt-workbench`` CLI and the notebooks.
Importing it is cheap: TensorRT, TensorRT-RTX, Model Optimizer and torch are imported
only by the functions that need them.
"""

__version__ = "0.1.0"

import os as _os

# ONNX Runtime (1.29+) writes a telemetry queue with a device id, the OS and the program
# path into ~/.cache/Microsoft/ as soon as it is imported, even in a run we refuse. Its
# documented switch must be set before that import; every workbench process (CLI, app,
# workers, notebooks) imports this package first, and workers inherit the environment.
_os.environ["ORT_DISABLE_TELEMETRY"] = "1"

# ----------------------------------------------------------------------------- public API
#
# What notebooks and users' scripts need, as ``from workbench import load_model``. Each name
# is imported on first use (PEP 562), so ``import workbench`` and ``trt-workbench --help``
# stay fast; the modules behind them stay the place to read.
_API: dict[str, str] = {
    "load_model": "workbench.model",
    "LoadedModel": "workbench.model",
    "summarize": "workbench.summary",
    "ModelSummary": "workbench.summary",
    "find_sample": "workbench.samples",
    "list_samples": "workbench.samples",
    "diagnose": "workbench.diagnose",
    "diagnose_file": "workbench.diagnose",
    "start_session": "workbench.fixing",
    "apply_fix": "workbench.fixing",
    "auto_fix": "workbench.fixing",
    "export": "workbench.fixing",
    "BuildConfig": "workbench.build",
    "build": "workbench.build",
    "build_matrix": "workbench.build",
    "compare_precisions": "workbench.compare",
    "keep_precision_search": "workbench.compare",
    "load_calibration": "workbench.calibration",
    "check_calibration": "workbench.calibration",
    "profile_onnxruntime": "workbench.timing",
    "load_engine_exports": "workbench.engine_report",
    "compare_engines": "workbench.engine_report",
    "collect_environment": "workbench.env",
    "Workspace": "workbench.workspace",
    "WorkbenchError": "workbench.errors",
    "PRECISION_INFO": "workbench.precision",
    "transformed_model": "workbench.transforms",
    "calibration_for": "workbench.calibration",
    "load_labelled": "workbench.evaluation",
    "load_calibration_data": "workbench.evaluation",
    "evaluate": "workbench.evaluation",
    "calibration_study": "workbench.evaluation",
    "calibration_findings": "workbench.evaluation",
    "keep_precision_for_accuracy": "workbench.evaluation",
    "check_versions": "workbench.compat",
    "run_task": "workbench.executor",
    "Task": "workbench.executor",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> object:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next look-up is a plain attribute
    return value
