"""How images become a model's input, declared the way vision users write it.

A :class:`Preprocessing` is the recipe torchvision, timm and PaddleClas users write as a
transform pipeline: resize (the short side, or to an exact size), centre crop, channel
order (RGB or BGR) or grayscale, a scale (1/255), mean and std per channel, the layout
(NCHW or NHWC) and the dtype. It is the one preprocessing record: calibration images
(``workbench.calibration``) and labelled evaluation images go through it, so the two cannot
drift apart by accident; JSON written before its resize/crop/order fields existed loads
unchanged.

With only the old fields set (no ``resize``, no ``crop``), an image is resized straight to
``height`` x ``width`` with Pillow's default (bicubic) filter, exactly as
``workbench.calibration`` has always done.

Presets (:data:`PRESETS`):

- ``torchvision``: ``Resize(256)`` (bilinear, short side), ``CenterCrop(224)``, RGB,
  ``ToTensor`` (1/255), ImageNet mean/std, NCHW, float32;
- ``timm``: timm's default data config: short side ``floor(224 / 0.875) = 256`` with a
  bicubic filter, centre crop 224, ImageNet mean/std;
- ``paddleclas``: PaddleClas's ImageNet eval pipeline: ``ResizeImage resize_short: 256``,
  ``CropImage size: 224``, ``NormalizeImage`` (scale 1/255, ImageNet mean/std), RGB
  (``DecodeImage to_rgb: True``), ``ToCHWImage``; set ``channel_order`` to BGR for Paddle
  models trained on OpenCV's BGR order;
- ``none``: the pixels as they are (0..255 as float32), resized to the input size.

Pillow resizes with an antialiasing filter; OpenCV's ``INTER_LINEAR`` (PaddleClas) does not,
so downscaled pixels differ by a few levels between the two: a difference far below what
calibration or top-1 can see, but not bit-exact.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from workbench.archives import check_image_pixels, checked_members, open_zip, read_member, safe_text
from workbench.errors import WorkbenchError
from workbench.serialize import JsonRecord

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".ppm", ".pgm", ".tif", ".tiff"})
LAYOUTS = ("NCHW", "NHWC")
RESIZE_MODES = ("short", "exact")
CHANNEL_ORDERS = ("RGB", "BGR")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos")
DTYPES = ("float32", "float16", "float64", "uint8", "int8")


class PreprocessingError(WorkbenchError):
    """A preprocessing that cannot be applied (a bad field, an image it cannot make)."""


@dataclass
class Preprocessing(JsonRecord):
    """How an image becomes the model's input tensor (one sample, without the batch axis).

    The steps, in order: decode; grayscale or RGB (then BGR if asked); resize (``resize``
    set: the short side to ``resize`` with ``resize_mode="short"``, or to ``resize`` x
    ``resize`` with ``"exact"``; unset: straight to ``height`` x ``width``); centre crop to
    ``crop`` (``[h, w]``) or, when the resized image is larger than the input, to
    ``height`` x ``width``; ``* scale``; ``(x - mean) / std`` per channel (one value applies
    to every channel); ``layout``; ``dtype``.
    """

    height: int = 224
    width: int = 224
    layout: str = "NCHW"  # or "NHWC"
    #: Pixel values are first scaled by this (1/255 maps 0..255 to 0..1).
    scale: float = 1.0 / 255.0
    mean: list[float] = field(default_factory=lambda: list(IMAGENET_MEAN))
    std: list[float] = field(default_factory=lambda: list(IMAGENET_STD))
    dtype: str = "float32"
    #: Resize before the crop: the short side (``resize_mode="short"``) or both sides (``"exact"``).
    resize: int | None = None
    resize_mode: str = "short"
    #: Centre crop ``[height, width]`` after the resize; None crops to the input size when larger.
    crop: list[int] | None = None
    channel_order: str = "RGB"
    #: One channel (luminance, as Pillow's "L" mode computes it): digit and document models.
    grayscale: bool = False
    #: Pillow's default filter (bicubic) unless a preset names another.
    interpolation: str = "bicubic"

    # ------------------------------------------------------------------ checks

    @property
    def channels(self) -> int:
        return 1 if self.grayscale else 3

    def validate(self) -> Preprocessing:
        """This preprocessing, or a one-sentence ``PreprocessingError`` naming the bad field."""

        def bad(message: str) -> PreprocessingError:
            return PreprocessingError(f"Bad preprocessing: {message}.")

        for name in ("height", "width"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise bad(f"{name} must be a whole number of pixels of 1 or more, not {value!r}")
        if str(self.layout).upper() not in LAYOUTS:
            raise bad(f"layout {self.layout!r} is not one of {', '.join(LAYOUTS)}")
        if self.resize_mode not in RESIZE_MODES:
            raise bad(f"resize_mode {self.resize_mode!r} is not one of {', '.join(RESIZE_MODES)}")
        if self.resize is not None and (
            not isinstance(self.resize, int) or isinstance(self.resize, bool) or self.resize < 1
        ):
            raise bad(f"resize must be a whole number of pixels of 1 or more (or null), not {self.resize!r}")
        if self.crop is not None and (
            not isinstance(self.crop, list)
            or len(self.crop) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in self.crop)
        ):
            raise bad(f"crop must be [height, width] in whole pixels (or null), not {self.crop!r}")
        if self.crop is not None and list(self.crop) != [self.height, self.width]:
            raise bad(
                f"crop {self.crop} does not give the {self.height}x{self.width} input (height, width): make them agree"
            )
        if self.channel_order not in CHANNEL_ORDERS:
            raise bad(f"channel_order {self.channel_order!r} is not one of {', '.join(CHANNEL_ORDERS)}")
        if self.interpolation not in INTERPOLATIONS:
            raise bad(f"interpolation {self.interpolation!r} is not one of {', '.join(INTERPOLATIONS)}")
        if str(self.dtype) not in DTYPES:
            raise bad(f"dtype {self.dtype!r} is not one of {', '.join(DTYPES)}")
        if not _finite_number(self.scale) or self.scale == 0:
            raise bad(f"scale must be a finite non-zero number, not {self.scale!r}")
        for name in ("mean", "std"):
            values = getattr(self, name)
            if not isinstance(values, list) or len(values) not in (1, self.channels):
                raise bad(
                    f"{name} needs one value or one per channel ({self.channels}), not {values!r}"
                )
            if not all(_finite_number(v) for v in values):
                raise bad(f"{name} must hold finite numbers, not {values!r}")
        if any(v == 0 for v in self.std):
            raise bad("std must not be 0 (it divides)")
        return self

    def expected_range(self) -> tuple[float, float]:
        """The values 0..255 pixels map to (a one-value mean/std applies to every channel)."""
        mean, std = self._per_channel(self.mean), self._per_channel(self.std)
        ends = [(p * self.scale - m) / s for m, s in zip(mean, std) for p in (0.0, 255.0)]
        return min(ends), max(ends)

    def _per_channel(self, values: list[float]) -> list[float]:
        return list(values) * self.channels if len(values) == 1 else list(values)

    def input_shape(self) -> list[int]:
        """One sample's shape: ``[C, H, W]`` or ``[H, W, C]``."""
        if self.layout.upper() == "NCHW":
            return [self.channels, self.height, self.width]
        return [self.height, self.width, self.channels]

    def describe(self) -> str:
        """One line, e.g. ``resize short 256 bilinear, crop 224x224, RGB, x0.00392, mean/std ..., NCHW float32``."""
        steps = []
        if self.resize is not None:
            steps.append(f"resize {self.resize_mode} {self.resize} {self.interpolation}")
        elif self.crop is None:
            steps.append(f"resize to {self.height}x{self.width} {self.interpolation}")
        steps.append(f"crop {self.height}x{self.width}")
        steps.append("grayscale" if self.grayscale else self.channel_order)
        steps.append(f"x{self.scale:.4g}")
        steps.append(f"mean {_short(self.mean)} std {_short(self.std)}")
        steps.append(f"{self.layout.upper()} {self.dtype}")
        return ", ".join(steps)

    # ------------------------------------------------------------------ fitting to a model

    def fitted_to(self, shape: list[Any] | None) -> Preprocessing:
        """This preprocessing made to give the model's image input ``shape`` (``[N, C, H, W]`` or NHWC).

        The layout follows where the channel axis is (1 or 3 channels at axis 1: NCHW; at
        the last axis: NHWC), a 1-channel input makes it grayscale, and a fixed height and
        width replace the preset's, keeping its resize-to-crop ratio (224 of 256 for
        ImageNet presets). Dynamic dims keep the preset's values.
        """
        if not shape or len(shape) != 4:
            return self
        dims = [d if isinstance(d, int) and d > 0 else None for d in shape]
        layout = self.layout.upper()
        if dims[1] in (1, 3) and dims[3] not in (1, 3):
            layout = "NCHW"
        elif dims[3] in (1, 3) and dims[1] not in (1, 3):
            layout = "NHWC"
        channels, height, width = (dims[1], dims[2], dims[3]) if layout == "NCHW" else (dims[3], dims[1], dims[2])
        height = height or self.height
        width = width or self.width
        grayscale = self.grayscale if channels is None else channels == 1
        resize = self.resize
        if resize is not None and (height, width) != (self.height, self.width):
            ratio = resize / min(self.height, self.width)
            resize = max(min(height, width), math.floor(min(height, width) * ratio + 1e-9))
        crop = [height, width] if self.crop is not None else None
        mean, std = self.mean, self.std
        if grayscale and not self.grayscale and len(mean) == 3:
            mean, std = [float(np.mean(mean))], [float(np.mean(std))]
        return replace(
            self, layout=layout, height=height, width=width, grayscale=grayscale, resize=resize, crop=crop,
            mean=list(mean), std=list(std),
        )

    # ------------------------------------------------------------------ applying it

    def to_tensor(self, image: Any) -> np.ndarray:
        """A PIL image as one sample of the model's input (no batch axis)."""
        return to_tensor(image, self)


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _short(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in values) + "]"


def _resample(image_module: Any, name: str) -> Any:
    return {
        "nearest": image_module.Resampling.NEAREST,
        "bilinear": image_module.Resampling.BILINEAR,
        "bicubic": image_module.Resampling.BICUBIC,
        "lanczos": image_module.Resampling.LANCZOS,
    }[name]


def as_preprocessing(pre: Preprocessing | None) -> Preprocessing:
    """``pre`` checked (None: the default), as a fresh record when it came from JSON."""
    if pre is None:
        return Preprocessing().validate()
    if isinstance(pre, Preprocessing):
        return pre.validate()
    return Preprocessing.from_dict(pre.to_dict()).validate()


def to_tensor(image: Any, pre: Preprocessing | None = None) -> np.ndarray:
    """Apply a preprocessing to a PIL image: one sample ``[C, H, W]`` or ``[H, W, C]``.

    With only the original fields set, the image is made exactly as calibration always made
    it (resized straight to the input size, bicubic). The caller has checked the pixel count
    (``workbench.archives.check_image_pixels``) before the image was decoded.
    """
    from PIL import Image

    p = as_preprocessing(pre)
    picture = image.convert("L" if p.grayscale else "RGB")
    resample = _resample(Image, p.interpolation)
    if p.resize is None and p.crop is None:
        if picture.size != (p.width, p.height):
            # Pillow's own default when no filter is named is bicubic: the legacy behaviour.
            picture = picture.resize((p.width, p.height), resample)
    else:
        if p.resize is not None:
            w, h = picture.size
            if p.resize_mode == "exact":
                size = (p.resize, p.resize)
            elif w <= h:  # torchvision: the short side to `resize`, the long side truncated
                size = (p.resize, max(1, int(p.resize * h / w)))
            else:
                size = (max(1, int(p.resize * w / h)), p.resize)
            if size != picture.size:
                picture = picture.resize(size, resample)
        picture = _centre_crop(picture, p.height, p.width)
    if picture.size != (p.width, p.height):
        picture = _centre_crop(picture, p.height, p.width)
    array: np.ndarray = np.asarray(picture, dtype=np.float32)
    if array.ndim == 2:
        array = array[:, :, None]
    elif p.channel_order == "BGR":
        array = array[:, :, ::-1]
    array = array * np.float32(p.scale)
    array = (array - np.asarray(p.mean, np.float32)) / np.asarray(p.std, np.float32)
    if p.layout.upper() == "NCHW":
        array = array.transpose(2, 0, 1)
    return np.ascontiguousarray(array).astype(p.dtype)


def _centre_crop(picture: Any, height: int, width: int) -> Any:
    """torchvision's CenterCrop: the middle ``height`` x ``width`` (padded with 0 when smaller)."""
    w, h = picture.size
    if (w, h) == (width, height):
        return picture
    if w < width or h < height:
        from PIL import Image

        canvas = Image.new(picture.mode, (max(w, width), max(h, height)))
        canvas.paste(picture, ((max(w, width) - w) // 2, (max(h, height) - h) // 2))
        picture, (w, h) = canvas, canvas.size
    left = round((w - width) / 2.0)
    top = round((h - height) / 2.0)
    return picture.crop((left, top, left + width, top + height))


# ----------------------------------------------------------------------------- presets

PRESETS: dict[str, Preprocessing] = {
    "torchvision": Preprocessing(
        height=224, width=224, layout="NCHW", scale=1.0 / 255.0, mean=list(IMAGENET_MEAN),
        std=list(IMAGENET_STD), dtype="float32", resize=256, resize_mode="short", crop=[224, 224],
        channel_order="RGB", interpolation="bilinear",
    ),
    "timm": Preprocessing(
        height=224, width=224, layout="NCHW", scale=1.0 / 255.0, mean=list(IMAGENET_MEAN),
        std=list(IMAGENET_STD), dtype="float32", resize=256, resize_mode="short", crop=[224, 224],
        channel_order="RGB", interpolation="bicubic",
    ),
    "paddleclas": Preprocessing(
        height=224, width=224, layout="NCHW", scale=1.0 / 255.0, mean=list(IMAGENET_MEAN),
        std=list(IMAGENET_STD), dtype="float32", resize=256, resize_mode="short", crop=[224, 224],
        channel_order="RGB", interpolation="bilinear",
    ),
    "none": Preprocessing(
        height=224, width=224, layout="NCHW", scale=1.0, mean=[0.0], std=[1.0], dtype="float32",
        resize=None, resize_mode="exact", crop=None, channel_order="RGB", interpolation="bilinear",
    ),
}


def preset(name: str) -> Preprocessing:
    """A copy of a preset (so changing it never changes the table)."""
    if name not in PRESETS:
        raise PreprocessingError(f"Unknown preprocessing preset {name!r}: choose from {', '.join(PRESETS)}, or give a JSON file.")
    return Preprocessing.from_dict(PRESETS[name].to_dict())


def load_preprocessing(
    spec: str | Path | dict[str, Any] | Preprocessing | None, *, shape: list[Any] | None = None
) -> Preprocessing:
    """A preprocessing from a preset name, a JSON file (or JSON text, or a dict), or a record.

    A JSON file may start from a preset (``{"preset": "timm", "crop": [256, 256], ...}``);
    a key that is not a field is refused (a misspelt ``"mean"`` would otherwise be ImageNet's
    silently). With ``shape`` (the model's image input), the result is fitted to it
    (:meth:`Preprocessing.fitted_to`) when the spec did not give the size itself.
    """
    given: set[str] = set()
    if spec is None:
        result = Preprocessing()
    elif isinstance(spec, Preprocessing):
        result = as_preprocessing(spec)
        given = {f.name for f in fields(result)}
    elif isinstance(spec, dict):
        result, given = _from_mapping(spec, "the preprocessing")
    else:
        text = str(spec)
        if text in PRESETS:
            result = preset(text)
        elif text.lstrip().startswith("{"):
            result, given = _from_mapping(_parse_json(text, "the preprocessing JSON"), "the preprocessing JSON")
        else:
            path = Path(text)
            if not path.is_file():
                raise PreprocessingError(
                    f"{safe_text(text)} is neither a preprocessing preset ({', '.join(PRESETS)}) nor a JSON file."
                )
            result, given = _from_mapping(_parse_json(path.read_text(errors="replace"), path.name), path.name)
    if shape is not None and not ({"height", "width"} & given):
        result = result.fitted_to(shape)
    return result.validate()


def _parse_json(text: str, label: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PreprocessingError(f"{safe_text(label)} is not valid JSON ({exc.msg} at line {exc.lineno}).") from exc
    if not isinstance(value, dict):
        raise PreprocessingError(f"{safe_text(label)} must hold a JSON object of preprocessing fields.")
    return value


def _from_mapping(values: dict[str, Any], label: str) -> tuple[Preprocessing, set[str]]:
    known = {f.name for f in fields(Preprocessing)}
    data = dict(values)
    base = data.pop("preset", None)
    unknown = sorted(set(data) - known)
    if unknown:
        raise PreprocessingError(
            f"{safe_text(label)} has unknown key(s) {', '.join(map(repr, unknown))}: the fields are {', '.join(sorted(known))} (and preset)."
        )
    start = preset(str(base)).to_dict() if base is not None else Preprocessing().to_dict()
    start.update(data)
    for key in ("mean", "std"):
        if isinstance(start.get(key), (int, float)) and not isinstance(start.get(key), bool):
            start[key] = [start[key]]
    if isinstance(start.get("crop"), int) and not isinstance(start.get("crop"), bool):
        start["crop"] = [start["crop"], start["crop"]]
    if isinstance(start.get("crop"), list) and "height" not in data and "width" not in data and len(start["crop"]) == 2:
        start["height"], start["width"] = start["crop"]
    return Preprocessing.from_dict(start).validate(), set(data)


# ----------------------------------------------------------------------------- reading images


def _pillow_limit(image_module: Any) -> None:
    # Our pixel check runs on every image right after its header is read, before any pixel
    # is decoded; Pillow's own bomb guard (whose sentence names no switch) steps aside.
    image_module.MAX_IMAGE_PIXELS = None


@dataclass
class ImageFile:
    """One image of a folder or zip: its name as shown and where it is."""

    name: str
    path: Path | None = None
    member: Any = None  # a zipfile.ZipInfo
    parts: list[str] = field(default_factory=list)


def is_image_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_SUFFIXES


def folder_images(folder: Path) -> list[ImageFile]:
    """The images under a folder, sorted by path, with their path parts below it."""
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and is_image_name(path.name) and not path.name.startswith("."):
            rel = path.relative_to(folder)
            found.append(ImageFile(name=str(rel), path=path, parts=list(rel.parts)))
    return found


def tensors_from_folder(
    files: list[ImageFile], label: str, pre: Preprocessing, error: type[WorkbenchError] = PreprocessingError
) -> Iterator[np.ndarray]:
    """Each image file of a folder as one preprocessed sample (pixel limit checked first)."""
    from PIL import Image, UnidentifiedImageError

    _pillow_limit(Image)
    for item in files:
        assert item.path is not None
        shown = f"{safe_text(item.name)} in {label}"
        try:
            with Image.open(item.path) as image:
                check_image_pixels(*image.size, shown)
                yield to_tensor(image, pre)
        except WorkbenchError:
            raise
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
            raise error(f"{shown} is not a readable image ({exc}).") from exc


def zip_images(data: bytes, label: str, error: type[WorkbenchError] = PreprocessingError) -> tuple[Any, list[ImageFile]]:
    """An image zip, opened and checked (``workbench.archives``), and its image members sorted by name."""
    archive = open_zip(data, label, error)
    members = checked_members(archive, label, error)
    files = [
        ImageFile(name=m.filename, member=m, parts=[p for p in m.filename.replace("\\", "/").split("/") if p])
        for m in sorted(members, key=lambda m: m.filename)
        if is_image_name(m.filename) and not Path(m.filename).name.startswith(".")
    ]
    return archive, files


def tensors_from_zip(
    archive: Any, files: list[ImageFile], label: str, pre: Preprocessing, error: type[WorkbenchError] = PreprocessingError
) -> Iterator[np.ndarray]:
    """Each image member of a checked zip as one preprocessed sample (pixel limit checked first)."""
    from PIL import Image, UnidentifiedImageError

    _pillow_limit(Image)
    for item in files:
        raw = read_member(archive, item.member, label, error)
        shown = f"{safe_text(item.name)} in {label}"
        try:
            with Image.open(io.BytesIO(raw)) as image:
                check_image_pixels(*image.size, shown)
                yield to_tensor(image, pre)
        except WorkbenchError:
            raise
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
            raise error(f"{shown} is not a readable image ({exc}).") from exc
