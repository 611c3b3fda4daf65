"""The bundled sample models and their manifest (what each is, what TensorRT does with it)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.serialize import JsonRecord

#: The bundled models are package data, so a wheel install has them; ``sample_models/generate.py``
#: in a source checkout makes them.
BUNDLED_DIR = Path(__file__).resolve().parent / "bundled_models"
#: ``sample:NAME`` names a bundled sample wherever a command takes a model path.
SAMPLE_PREFIX = "sample:"


def samples_dir() -> Path:
    """The package's ``bundled_models/``, or ``$TRT_WORKBENCH_SAMPLES``."""
    env = os.environ.get("TRT_WORKBENCH_SAMPLES")
    if env:
        return Path(env)
    return BUNDLED_DIR


@dataclass
class SampleModel(JsonRecord):
    file: str
    kind: str
    title: str
    description: str
    tensorrt: str
    expect: dict[str, Any] = field(default_factory=dict)
    fixes: list[str] = field(default_factory=list)
    #: Shapes (trtexec syntax) to diagnose and build it with, when the default profile would hide its problem.
    shapes: list[str] = field(default_factory=list)
    bytes: int = 0
    #: Data files shipped beside the model, by role ("eval", "calibration", "preprocessing").
    data: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return samples_dir() / self.file

    def data_files(self) -> dict[str, Path]:
        """The shipped data files that exist, by role."""
        found = {role: samples_dir() / name for role, name in self.data.items()}
        return {role: path for role, path in found.items() if path.is_file()}


def list_samples() -> list[SampleModel]:
    manifest = samples_dir() / "manifest.json"
    if not manifest.is_file():
        return []
    return [SampleModel.from_dict(entry) for entry in json.loads(manifest.read_text())["models"]]


def find_sample(name: str) -> SampleModel:
    """A sample by file name, with or without ``.onnx`` (``resnet_cnn`` or ``resnet_cnn.onnx``)."""
    for sample in list_samples():
        stem = Path(sample.file).name
        if name in (sample.file, stem, stem.removesuffix(".onnx")):
            return sample
    names = ", ".join(Path(s.file).name for s in list_samples()) or "none found"
    raise WorkbenchError(f"There is no bundled sample model called {name!r} (available: {names}).")


def resolve_model_argument(text: str) -> tuple[str, str | None]:
    """A model argument as a path, and a notice when it named a bundled sample.

    ``sample:resnet_cnn`` always means the bundled sample. A bare name such as
    ``resnet_cnn.onnx`` means the file when it exists, else the bundled sample of that name
    (said in the notice), so the README's examples work from any folder and any install.
    """
    if text.startswith(SAMPLE_PREFIX):
        sample = find_sample(text[len(SAMPLE_PREFIX) :])
        return str(sample.path), None
    if os.path.exists(text) or os.sep in text or "/" in text:
        return text, None
    try:
        sample = find_sample(text)
    except WorkbenchError:
        return text, None
    return str(sample.path), f"{text} is not a file here: using the bundled sample {sample.path}."
