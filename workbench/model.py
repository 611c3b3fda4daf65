"""Model intake: load an ONNX model from a path, an upload or a zip, check it, hash it.

A :class:`LoadedModel` always lives on disk (TensorRT's parser reads it with
``parse_from_file`` so external data resolves beside it) and keeps the ONNX graph in
memory *without* its external tensor data: the summary, the checks and the diagnosis
need only shapes and dtypes, so a multi-gigabyte model costs what its graph costs.

Every problem with the input raises a :class:`~workbench.errors.ModelLoadError` whose
message is one sentence; nothing is written for an input that fails to load.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import io
import mmap
import os
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import onnx
from google.protobuf.message import DecodeError

from workbench.archives import checked_members, extract_members, open_zip, safe_text
from workbench.dtypes import onnx_dtype_itemsize
from workbench.errors import ExternalDataError, ModelLoadError
from workbench.external_data import ExternalRef, check_reference, undecodable_message
from workbench.workspace import Workspace

#: Protobuf cannot serialise or parse a single message above 2 GiB.
PROTOBUF_LIMIT_BYTES = 2**31 - 1
_ZIP_MAGIC = b"PK\x03\x04"
_HASH_CHUNK = 1 << 20


@dataclass
class LoadedModel:
    """An ONNX model on disk, parsed without its external tensor data."""

    path: Path
    proto: onnx.ModelProto
    #: SHA-256 of the model file and its external data; "" when the caller asked for none.
    content_hash: str
    #: Bytes on disk: the model file plus its external data files.
    total_bytes: int
    #: External data files, relative to the model's folder.
    external_data_files: list[str] = field(default_factory=list)
    checker_error: str | None = None
    shape_inference_error: str | None = None
    #: The graph after ONNX shape inference (partial when inference failed).
    inferred: onnx.ModelProto | None = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def has_external_data(self) -> bool:
        return bool(self.external_data_files)

    def load_full(self) -> onnx.ModelProto:
        """The model with its external data loaded (for fixes and ONNX Runtime)."""
        return onnx.load(str(self.path), load_external_data=True)


# ----------------------------------------------------------------------------- loading


def load_model(
    source: str | os.PathLike[str] | bytes,
    *,
    name: str | None = None,
    workspace: Workspace | None = None,
    hash_content: bool = True,
) -> LoadedModel:
    """Load a model from a path (``.onnx`` or ``.zip``) or from uploaded bytes.

    Args:
        source: a path to an ``.onnx`` file or a ``.zip`` holding one with its external
            data, or the bytes of either (an upload).
        name: the upload's file name, used for bytes.
        workspace: where uploads and unpacked zips are stored (default workspace if None).
        hash_content: compute ``content_hash``. Only a one-shot reader of a file in place
            that neither caches nor shows the hash turns this off; uploads and zips are
            always hashed (they are stored by it).

    Raises:
        ModelLoadError: the input is not a loadable ONNX model; the message says why.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if data[:4] == _ZIP_MAGIC:
            return load_model_zip(data, name=name, workspace=workspace)
        return load_model_bytes(data, name=name or "model.onnx", workspace=workspace)
    path = Path(source)
    if path.suffix.lower() == ".zip" or (path.is_file() and _starts_with(path, _ZIP_MAGIC)):
        return load_model_zip(path, workspace=workspace)
    return load_model_path(path, hash_content=hash_content)


def load_model_path(path: str | os.PathLike[str], *, hash_content: bool = True) -> LoadedModel:
    """Load an ONNX file in place; its external data must sit in its folder."""
    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"{path} does not exist.")
    if not path.is_file():
        raise ModelLoadError(f"{path} is not a file.")
    size = path.stat().st_size
    if size == 0:
        raise ModelLoadError(f"{path.name} is empty (0 bytes), so it holds no ONNX model.")
    _check_single_file_size(path, size)
    # hashlib releases the GIL on large buffers: the file is hashed while protobuf parses
    # it and the checks run, from one read-only mapping of it (no copy of tens of MB).
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as hasher:
        with _mapped_file(path) as data:
            model_digest = hasher.submit(_digest_of, data) if hash_content else None
            try:
                proto = _parse_model_bytes(data, path.name)
            finally:
                digest = model_digest.result() if model_digest else None  # the mapping must outlive the hash
        external = check_external_data(proto, path.parent, model_name=path.name)
        total = size + sum((path.parent / f).stat().st_size for f in external)
        pending_hash = (
            hasher.submit(_finish_digest, digest, [path.parent / f for f in external]) if digest else None
        )
        skeleton = graph_skeleton(proto)
        checker_error = _run_checker(skeleton)
        inferred, inference_error = _infer_shapes(skeleton, proto)
        content_hash = pending_hash.result() if pending_hash else ""
    return LoadedModel(
        path=path.resolve(),
        proto=proto,
        content_hash=content_hash,
        total_bytes=total,
        external_data_files=external,
        checker_error=checker_error,
        shape_inference_error=inference_error,
        inferred=inferred,
    )


def load_model_bytes(
    data: bytes, *, name: str = "model.onnx", workspace: Workspace | None = None
) -> LoadedModel:
    """Store an uploaded ``.onnx`` in the workspace (by content hash) and load it."""
    if not data:
        raise ModelLoadError(f"{name} is empty (0 bytes), so it holds no ONNX model.")
    if len(data) > PROTOBUF_LIMIT_BYTES:
        raise ModelLoadError(
            f"{name} is larger than 2 GiB, which a single ONNX file cannot be: load it from a "
            "server-side path with its weights as external data instead."
        )
    safe_name = _safe_file_name(name)
    # Parse before writing anything, so a bad upload leaves no trace.
    proto = _parse_model_bytes(data, safe_name)
    refs = list(_external_data_refs(proto))
    if refs:
        raise ExternalDataError(
            f"{safe_name} keeps its weights in external data ({safe_text(refs[0][1].location)}), which an upload of "
            "the .onnx file alone does not include: upload a .zip of the model's folder instead."
        )
    workspace = workspace or Workspace.default()
    with workspace.staging_dir() as staging:
        staged = staging / safe_name
        staged.write_bytes(data)
        loaded = load_model_path(staged)
        return _move_into_workspace(loaded, staging, workspace)


def load_model_zip(
    source: str | os.PathLike[str] | bytes,
    *,
    name: str | None = None,
    workspace: Workspace | None = None,
) -> LoadedModel:
    """Unpack a zip holding one ``.onnx`` model and its external data, then load it.

    Members with absolute paths, ``..`` components or symlinks are refused before
    anything is unpacked.
    """
    label = name or (Path(source).name if not isinstance(source, bytes) else "upload.zip")
    if isinstance(source, bytes):
        if not source:
            raise ModelLoadError(f"{label} is empty (0 bytes).")
        handle: io.BytesIO | Path = io.BytesIO(source)
    else:
        handle = Path(source)
        if not handle.is_file():
            raise ModelLoadError(f"{handle} does not exist.")
    archive = open_zip(handle if isinstance(handle, Path) else handle.getvalue(), label, ModelLoadError)
    with archive:
        members = checked_members(archive, label, ModelLoadError)
        model_member = _pick_model_member(members, label)
        workspace = workspace or Workspace.default()
        with workspace.staging_dir() as staging:
            # Unpacking counts the bytes it writes and checks each member's CRC as it goes.
            extract_members(archive, members, staging, label, ModelLoadError)
            loaded = load_model_path(staging / model_member)
            return _move_into_workspace(loaded, staging, workspace)


def _move_into_workspace(loaded: LoadedModel, staging: Path, workspace: Workspace) -> LoadedModel:
    """Move a staged model folder to its content-addressed home (reusing an identical one)."""
    target_dir = workspace.model_dir(loaded.content_hash)
    relative = loaded.path.relative_to(staging.resolve())
    if not (target_dir / relative).is_file():
        target_dir.parent.mkdir(parents=True, exist_ok=True)
        if target_dir.exists():
            shutil.rmtree(target_dir)
        shutil.move(str(staging), str(target_dir))
        staging.mkdir()  # the staging context removes it again
    loaded.path = (target_dir / relative).resolve()
    return loaded


# ----------------------------------------------------------------------------- parsing


def _check_single_file_size(path: Path, size: int) -> None:
    if size > PROTOBUF_LIMIT_BYTES:
        raise ModelLoadError(
            f"{path.name} is larger than 2 GiB in one file, which protobuf cannot parse: "
            "save the weights as external data (onnx.save(..., save_as_external_data=True))."
        )


@contextlib.contextmanager
def _mapped_file(path: Path) -> Iterator[bytes | memoryview]:
    """The file's bytes as a read-only memory map, pre-faulted where the OS allows, else read.

    Reading tens of megabytes into a fresh ``bytes`` costs more in page faults than the
    protobuf parse itself; protobuf parses from the mapping (it copies what it keeps, so
    the message outlives the mapping).
    """
    try:
        with open(path, "rb") as handle:
            mapping = mmap.mmap(
                handle.fileno(),
                0,
                flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0),
                prot=mmap.PROT_READ,
            )
    except (OSError, ValueError, AttributeError, TypeError):  # not mappable, or not a POSIX mmap
        yield path.read_bytes()
        return
    view = memoryview(mapping)
    try:
        yield view
    finally:
        view.release()
        mapping.close()


def _parse_model_bytes(data: bytes | memoryview, label: str) -> onnx.ModelProto:
    if data[:4] == _ZIP_MAGIC:
        raise ModelLoadError(f"{label} is a zip archive, not an ONNX file: load it as a .zip.")
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        if "MaxDepth" in str(exc) or "recursion" in str(exc).lower():
            raise ModelLoadError(
                f"{label} nests subgraphs deeper than protobuf's parser allows (about 100 message levels), "
                "so it cannot be read: flatten its If/Loop/Scan nesting.",
                detail=str(exc),
            ) from exc
        raise ModelLoadError(undecodable_message(data, label), detail=str(exc)) from exc
    if not proto.HasField("graph") or proto.ir_version <= 0:
        raise ModelLoadError(undecodable_message(data, label, parsed=True))
    if not proto.opset_import and proto.ir_version >= 3:
        raise ModelLoadError(f"{label} has no opset imports, so it is not a complete ONNX model.")
    _check_tensor_types(proto, label)
    return proto


_KNOWN_TYPES = frozenset(onnx.TensorProto.DataType.values())


def _check_tensor_types(proto: onnx.ModelProto, label: str) -> None:
    """Refuse a tensor whose data type no ONNX version defines (every later step would trip on it)."""
    for tensor in iter_all_tensors(proto.graph):
        if tensor.data_type not in _KNOWN_TYPES or tensor.data_type == onnx.TensorProto.UNDEFINED:
            raise ModelLoadError(
                f"{label}: tensor {safe_text(tensor.name)!r} has data type {tensor.data_type}, which no ONNX "
                "version defines, so the model is corrupt or from a tool that writes invalid ONNX."
            )


#: Initializers above this size are left out of the graph skeleton the checks run on.
_SKELETON_THRESHOLD = 1024


def graph_skeleton(proto: onnx.ModelProto) -> bytes:
    """The model with its large initializers turned into typed graph inputs, serialised.

    ONNX's checker and shape inference need each weight's type and shape, not its values;
    re-serialising tens of megabytes of weights for them costs more than everything else
    in loading. Small initializers (shape constants, axes) keep their values, which shape
    inference propagates. (The checker therefore does not compare a large weight's byte
    count with its shape; TensorRT's parser reports such a weight when it imports it.)
    """
    skeleton = onnx.ModelProto()
    _copy_fields(proto, skeleton, skip="graph")
    graph = skeleton.graph
    _copy_fields(proto.graph, graph, skip="initializer")
    declared = {vi.name for vi in proto.graph.input}
    for init in proto.graph.initializer:
        # The declared size, from dims: touching the data itself would copy it.
        elements = 1
        for d in init.dims:
            elements *= int(d)
        if (
            init.data_location != onnx.TensorProto.EXTERNAL
            and elements * onnx_dtype_itemsize(init.data_type) <= _SKELETON_THRESHOLD
        ):
            graph.initializer.append(init)
        elif init.name not in declared:
            graph.input.append(onnx.helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
    return skeleton.SerializeToString()


def _copy_fields(source: Any, target: Any, skip: str) -> None:
    for descriptor, value in source.ListFields():
        if descriptor.name == skip:
            continue
        if isinstance(value, (str, bytes, int, float, bool)):
            setattr(target, descriptor.name, value)
        else:
            getattr(target, descriptor.name).MergeFrom(value)


def _run_checker(data: bytes) -> str | None:
    try:
        # External data was checked by check_external_data(); the checker sees the graph.
        onnx.checker.check_model(data, full_check=False)
    except (onnx.checker.ValidationError, onnx.onnx_cpp2py_export.checker.ValidationError) as exc:  # type: ignore[attr-defined]
        return _first_line(str(exc))
    except Exception as exc:
        return _first_line(f"{type(exc).__name__}: {exc}")
    return None


def _infer_shapes(data: bytes, proto: onnx.ModelProto) -> tuple[onnx.ModelProto, str | None]:
    try:
        inferred = onnx.shape_inference.infer_shapes(data, check_type=True, strict_mode=True, data_prop=True)
        return inferred, None
    except Exception as exc:
        error = _first_line(str(exc))
    try:
        return onnx.shape_inference.infer_shapes(data, strict_mode=False, data_prop=True), error
    except Exception:
        return proto, error


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[0] if lines else text


# ----------------------------------------------------------------------------- external data


def iter_all_tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """Initializers and tensor attributes of a graph and all its subgraphs."""
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from iter_all_tensors(attr.g)
            for sub in attr.graphs:
                yield from iter_all_tensors(sub)


def _external_data_refs(proto: onnx.ModelProto) -> Iterator[tuple[onnx.TensorProto, ExternalRef]]:
    for tensor in iter_all_tensors(proto.graph):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {entry.key: entry.value for entry in tensor.external_data}
        yield tensor, ExternalRef(tensor.name, info.get("location", ""), info.get("offset"), info.get("length"))


def check_external_data(proto: onnx.ModelProto, folder: Path, *, model_name: str = "model") -> list[str]:
    """Validate every external-data reference and return the files used (relative).

    A location must be relative, stay inside ``folder`` (no ``..``, no symlink out),
    exist, and be long enough for the offset and length it is read at; the rules live in
    ``workbench.external_data`` (which also applies them before a backend opens a file).
    """
    root = folder.resolve()
    sizes: dict[str, int] = {}
    files = {check_reference(root, folder, ref, model_name, sizes) for _, ref in _external_data_refs(proto)}
    return sorted(files)


# ----------------------------------------------------------------------------- hashing


def hash_files(model_path: Path, external_files: list[Path], model_bytes: bytes | None = None) -> str:
    """SHA-256 over the model file and its external data (names included), in a fixed order.

    ``model_bytes``, when given, are the model file's contents already in memory.
    """
    digest = hashlib.sha256()
    if model_bytes is not None:
        digest.update(model_bytes)
    else:
        _hash_file_into(digest, model_path)
    return _finish_digest(digest, external_files)


def _digest_of(data: bytes | memoryview) -> hashlib._Hash:
    digest = hashlib.sha256()
    digest.update(data)
    return digest


def _finish_digest(digest: hashlib._Hash, external_files: list[Path]) -> str:
    """Add the external data files (names included, in a fixed order) to a model's digest."""
    for ext in sorted(external_files, key=lambda p: p.name):
        digest.update(b"\0external:" + ext.name.encode() + b"\0")
        _hash_file_into(digest, ext)
    return digest.hexdigest()


def hash_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hash_file_into(digest: hashlib._Hash, path: Path) -> None:
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)


# ----------------------------------------------------------------------------- helpers


def _starts_with(path: Path, magic: bytes) -> bool:
    with open(path, "rb") as handle:
        return handle.read(len(magic)) == magic


def _safe_file_name(name: str) -> str:
    base = PureWindowsPath(PurePosixPath(name).name).name or "model.onnx"
    base = "".join(ch if ch.isalnum() or ch in "._-+" else "_" for ch in base).lstrip(".") or "model.onnx"
    if not base.lower().endswith(".onnx"):
        base += ".onnx"
    return base


def _pick_model_member(members: list[zipfile.ZipInfo], label: str) -> str:
    candidates = [m.filename for m in members if m.filename.lower().endswith(".onnx")]
    if not candidates:
        raise ModelLoadError(f"{label} contains no .onnx file.")
    depth = min(len(PurePosixPath(c).parts) for c in candidates)
    shallowest = [c for c in candidates if len(PurePosixPath(c).parts) == depth]
    if len(shallowest) > 1:
        raise ModelLoadError(
            f"{label} contains {len(shallowest)} .onnx files at the same level ({', '.join(sorted(shallowest)[:4])}); "
            "zip one model with its external data."
        )
    return shallowest[0]
