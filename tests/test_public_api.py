"""The public API: every advertised name resolves, lazily (``import workbench`` stays cheap)."""

from __future__ import annotations

import subprocess
import sys

import workbench


def test_every_public_name_resolves() -> None:
    for name in workbench.__all__:
        assert getattr(workbench, name) is not None, name


def test_import_stays_light() -> None:
    code = "import sys, workbench; print(sorted(m for m in ('onnx', 'numpy', 'onnxruntime', 'streamlit') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
    code = "import sys, workbench; workbench.summarize; print('onnx' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "True"
