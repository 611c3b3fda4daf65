"""TensorRT Workbench: from an ONNX model to a fast, accurate TensorRT engine.

The library behind the Streamlit app, the ``trt-workbench`` CLI and the notebooks.
Importing it is cheap: TensorRT, TensorRT-RTX, Model Optimizer and torch are imported
only by the functions that need them.
"""

__version__ = "0.1.0"
