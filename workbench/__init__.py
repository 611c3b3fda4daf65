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
