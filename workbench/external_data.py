"""External-data references of an ONNX file, found and judged without importing onnx.

TensorRT's parser opens a model's external data files itself. The one-shot CLI starts
that parse before onnx is even imported (for speed), so the safety rules (a location
must be relative, inside the model's folder, no ``..``, no symlink out, offsets and
lengths whole numbers inside the file) must be checked first, cheaply: this module walks
the protobuf wire format directly, skipping tensor payloads with a seek, and applies the
same rules ``model.check_external_data`` applies to a parsed model, from one function.

Only the fields that can hold a tensor are followed (graph initializers and sparse
initializers, node attributes ``t``/``tensors``/``sparse_tensor(s)``, subgraphs, and
functions' nodes); everything else is skipped by its length.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from workbench.errors import ExternalDataError, ModelLoadError

_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL


@dataclass(frozen=True)
class ExternalRef:
    tensor: str
    location: str
    offset: str | None
    length: str | None


class _WireError(Exception):
    pass


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise _WireError
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """(field number, wire type, value) of one message; length-delimited values as views."""
    pos = 0
    end = len(data)
    while pos < end:
        tag, pos = _varint(data, pos)
        number, kind = tag >> 3, tag & 7
        if kind == 0:
            value, pos = _varint(data, pos)
            yield number, kind, value
        elif kind == 2:
            size, pos = _varint(data, pos)
            if pos + size > end:
                raise _WireError
            yield number, kind, data[pos : pos + size]
            pos += size
        elif kind == 1:
            pos += 8
        elif kind == 5:
            pos += 4
        else:
            raise _WireError
        if pos > end:
            raise _WireError


def _text(value: int | memoryview) -> str:
    if isinstance(value, int):
        raise _WireError
    return bytes(value).decode("utf-8", errors="replace")


def _tensor(data: memoryview) -> ExternalRef | None:
    name = ""
    location_kind = 0
    entries: dict[str, str] = {}
    for number, kind, value in _fields(data):
        if number == 8 and kind == 2:
            name = _text(value)
        elif number == 14 and kind == 0:
            location_kind = int(value)
        elif number == 13 and kind == 2 and not isinstance(value, int):
            key = val = ""
            for n, k, v in _fields(value):
                if n == 1 and k == 2:
                    key = _text(v)
                elif n == 2 and k == 2:
                    val = _text(v)
            entries[key] = val
    if location_kind != _EXTERNAL:
        return None
    return ExternalRef(name, entries.get("location", ""), entries.get("offset"), entries.get("length"))


def _sparse(data: memoryview) -> Iterator[ExternalRef]:
    for number, kind, value in _fields(data):
        if number in (1, 2) and kind == 2 and not isinstance(value, int):
            ref = _tensor(value)
            if ref:
                yield ref


def _graph(data: memoryview) -> Iterator[ExternalRef]:
    for number, kind, value in _fields(data):
        if kind != 2 or isinstance(value, int):
            continue
        if number == 5:  # initializer
            ref = _tensor(value)
            if ref:
                yield ref
        elif number == 15:  # sparse_initializer
            yield from _sparse(value)
        elif number == 1:  # node
            yield from _node(value)


def _node(data: memoryview) -> Iterator[ExternalRef]:
    for number, kind, value in _fields(data):
        if number == 5 and kind == 2 and not isinstance(value, int):  # attribute
            for n, k, v in _fields(value):
                if k != 2 or isinstance(v, int):
                    continue
                if n in (5, 10):  # t, tensors
                    ref = _tensor(v)
                    if ref:
                        yield ref
                elif n in (6, 11):  # g, graphs
                    yield from _graph(v)
                elif n in (22, 23):  # sparse_tensor, sparse_tensors
                    yield from _sparse(v)


def external_refs(data: bytes | memoryview) -> list[ExternalRef]:
    """Every external-data reference in a serialised ModelProto.

    Raises:
        ModelLoadError: the bytes are not a well-formed protobuf message.
    """
    view = memoryview(data)
    refs: list[ExternalRef] = []
    try:
        for number, kind, value in _fields(view):
            if kind != 2 or isinstance(value, int):
                continue
            if number == 7:  # graph
                refs.extend(_graph(value))
            elif number == 25:  # functions
                for n, k, v in _fields(value):
                    if n == 7 and k == 2 and not isinstance(v, int):
                        refs.extend(_node(v))
    except (_WireError, RecursionError) as exc:
        raise ModelLoadError("not a well-formed protobuf message") from exc
    return refs


def whole_number(raw: str | None, tensor: str, key: str, default: int) -> int:
    """``offset``/``length`` of an external-data entry: a non-negative decimal integer, or absent."""
    if raw is None or raw == "":
        return default
    text = raw.strip()
    if not (text.isascii() and text.isdigit()):  # refuses "-5", "1e3", "0x10", "abc", "²"
        raise ExternalDataError(
            f"tensor {_safe(tensor)!r} has an external-data {key} of {_safe(raw)!r}, "
            "which is not a non-negative whole number of bytes."
        )
    return int(text)


def _safe(text: str) -> str:
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def check_reference(
    root: Path, folder: Path, ref: ExternalRef, model_name: str, sizes: dict[str, int]
) -> str:
    """Judge one reference; returns its location. ``sizes`` caches file sizes by location."""
    where = f"tensor {_safe(ref.tensor)!r} of {_safe(model_name)}"
    location = ref.location
    offset = whole_number(ref.offset, ref.tensor, "offset", 0)
    length = whole_number(ref.length, ref.tensor, "length", -1)
    shown = _safe(location)
    if not location:
        raise ExternalDataError(f"{where} is marked as external data but names no file.")
    if "\0" in location:
        raise ExternalDataError(f"{where} names an external-data file with a NUL byte in it ({shown}).")
    if PurePosixPath(location).is_absolute() or PureWindowsPath(location).is_absolute() or PureWindowsPath(location).drive:
        raise ExternalDataError(
            f"{where} points at an absolute external-data location ({shown}); external data must sit in the model's folder."
        )
    if ".." in PurePosixPath(location.replace("\\", "/")).parts:
        raise ExternalDataError(
            f"{where} points outside the model's folder ({shown}); external data must sit in the model's folder."
        )
    target = (root / location).resolve()
    if root != target and root not in target.parents:
        raise ExternalDataError(
            f"{where} resolves outside the model's folder ({shown} -> {_safe(str(target))}); "
            "external data must sit in the model's folder."
        )
    if not target.is_file():
        raise ExternalDataError(
            f"{where} needs the external data file {shown}, which is missing from {_safe(str(folder))}."
        )
    size = sizes.get(location)
    if size is None:
        size = sizes[location] = target.stat().st_size
    if offset > size or (length >= 0 and offset + length > size):
        end = offset + max(length, 0)
        raise ExternalDataError(
            f"{where} reads bytes {offset:,}..{end:,} of {shown}, which has only {size:,} bytes "
            "(the data file is truncated)."
        )
    return location


def undecodable_message(data: bytes | memoryview, label: str, parsed: bool = False) -> str:
    """What a file that is not a readable ModelProto most likely is, in one sentence."""
    # A serialised ModelProto starts with field 1 (ir_version, varint: tag 0x08) followed
    # by a small version number; a file that starts that way and fails is most likely
    # truncated rather than something else entirely.
    looks_like_onnx = len(data) >= 2 and data[0] == 0x08 and 0 < data[1] < 32
    if looks_like_onnx:
        return (
            f"{label} starts like an ONNX model but is truncated or corrupt "
            f"({len(data):,} bytes could not be read as a complete model)."
        )
    if parsed:
        return f"{label} is not an ONNX model: it has no graph."
    return f"{label} is not an ONNX model: its contents are not an ONNX protobuf."


def check_file_before_parse(path: str | os.PathLike[str]) -> None:
    """The external-data rules, applied to a model file before any backend opens it.

    Raises:
        ExternalDataError: a reference breaks a rule (the same sentence the loader gives).
        ModelLoadError: the file is not a well-formed protobuf message (no backend should
            start on it; the sentence is the loader's).
    """
    import mmap

    path = Path(path)
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return  # the loader says "empty"
        with mmap.mmap(handle.fileno(), 0, prot=mmap.PROT_READ) as mapping:
            view = memoryview(mapping)
            refs: list[ExternalRef] = []
            failure = None
            try:
                refs = external_refs(view)
            except ModelLoadError:
                # Keep no traceback: its frames hold slices of the mapping, which must close.
                failure = undecodable_message(view, path.name)
            view.release()
    if failure:
        raise ModelLoadError(failure)
    root = path.parent.resolve()
    sizes: dict[str, int] = {}
    for ref in refs:
        check_reference(root, path.parent, ref, path.name, sizes)
