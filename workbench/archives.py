"""Zip archives and NumPy files from users, read without trusting what they say.

Every archive the workbench accepts (a model folder, calibration images, an ``.npz``, a
folder of engine exports) goes through :func:`checked_members` first: no absolute or
``..`` paths, no symlinks, no encrypted members, no compression method Python cannot
read, no file that is also a folder, and declared sizes and compression ratios inside
the limits (``workbench.limits``). Unpacking then counts the bytes it really writes.

NumPy files are judged by their headers before any array is allocated: the dtype must be
numeric or boolean (never objects, which would need pickle, nor strings), and the total
size must fit the array limit.
"""

from __future__ import annotations

import io
import stat
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import IO, Any

from workbench.errors import WorkbenchError
from workbench.limits import ARRAY_BYTES, COMPRESSION_RATIO, UNPACKED_BYTES

ZIP_MAGIC = b"PK\x03\x04"
NPY_MAGIC = b"\x93NUMPY"
_READABLE_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
#: Small members may compress extremely well (a zero-filled header); ratios count above this.
_RATIO_FLOOR = 1 << 20
_COPY_CHUNK = 1 << 20

ErrorType = Callable[[str], WorkbenchError]


def open_zip(source: Path | bytes, label: str, error: ErrorType = WorkbenchError) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise error(f"{label} is not a valid zip archive (it may be truncated or corrupt).") from exc


def is_junk(filename: str) -> bool:
    parts = PurePosixPath(filename).parts
    return bool(parts) and (parts[0] == "__MACOSX" or parts[-1] in {".DS_Store", "Thumbs.db"})


def checked_members(archive: zipfile.ZipFile, label: str, error: ErrorType = WorkbenchError) -> list[zipfile.ZipInfo]:
    """The archive's file members, after every check that can be made before unpacking."""
    members = [m for m in archive.infolist() if not m.is_dir() and not is_junk(m.filename)]
    names: set[str] = set()
    folders: set[str] = set()
    declared = 0
    for member in members:
        name = member.filename
        posix = PurePosixPath(name.replace("\\", "/"))
        if posix.is_absolute() or PureWindowsPath(name).drive or name.startswith(("/", "\\")):
            raise error(f"{label} holds a member with an absolute path ({_shown(name)}); refusing to unpack it.")
        if ".." in posix.parts:
            raise error(f"{label} holds a member that points outside the archive ({_shown(name)}); refusing to unpack it.")
        if stat.S_ISLNK(member.external_attr >> 16):
            raise error(f"{label} holds a symbolic link ({_shown(name)}); refusing to unpack it.")
        if member.flag_bits & 0x1:
            raise error(f"{label} holds an encrypted member ({_shown(name)}), which the workbench cannot read: zip it without a password.")
        if member.compress_type not in _READABLE_METHODS:
            raise error(
                f"{label} holds a member compressed with method {member.compress_type} ({_shown(name)}), "
                "which cannot be read here: zip it with deflate or no compression."
            )
        key = str(posix)
        if key in names:
            raise error(f"{label} holds two members named {_shown(name)}; refusing to unpack it.")
        names.add(key)
        folders.update(str(parent) for parent in posix.parents if str(parent) != ".")
        declared += member.file_size
        if member.file_size > _RATIO_FLOOR:
            ratio = member.file_size / max(member.compress_size, 1)
            COMPRESSION_RATIO.check(ratio, f"{label}: member {_shown(name)} compresses")
    clash = sorted(names & folders)
    if clash:
        raise error(f"{label} holds {_shown(clash[0])} both as a file and as a folder; refusing to unpack it.")
    UNPACKED_BYTES.check(declared, f"{label} unpacks to")
    return members


def _shown(name: str) -> str:
    """A member name safe to print: control characters (newlines, terminal escapes) escaped."""
    return safe_text(name)


def safe_text(text: str) -> str:
    """``text`` with control characters escaped, for one line on a terminal."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


class _Budget:
    """Bytes left to unpack: declared sizes can lie, the count of bytes written cannot."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.left = UNPACKED_BYTES.value()

    def take(self, amount: int) -> None:
        self.left -= amount
        if self.left < 0:
            UNPACKED_BYTES.check(UNPACKED_BYTES.value() + 1, f"{self.label} unpacks to")


def _copy(src: IO[bytes], dst: IO[bytes], budget: _Budget, member: zipfile.ZipInfo) -> None:
    written = 0
    while chunk := src.read(_COPY_CHUNK):
        written += len(chunk)
        if written > member.file_size:
            raise WorkbenchError(
                f"{budget.label}: member {_shown(member.filename)} unpacks to more than the {member.file_size:,} bytes it declares; refusing it."
            )
        budget.take(len(chunk))
        dst.write(chunk)


class _MemberErrors:
    """Turns any failure to read one member (bad CRC, truncated stream) into one sentence."""

    def __init__(self, label: str, member: zipfile.ZipInfo, error: ErrorType) -> None:
        self.label, self.member, self.error = label, member, error

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None or isinstance(exc, WorkbenchError):
            return
        if isinstance(exc, (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError, ValueError)):
            raise self.error(
                f"{self.label} is a corrupt zip archive: member {_shown(self.member.filename)} cannot be read ({_first_line(exc)})."
            ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return safe_text(text[0]) if text else type(exc).__name__


def extract_members(
    archive: zipfile.ZipFile,
    members: list[zipfile.ZipInfo],
    dest: Path,
    label: str,
    error: ErrorType = WorkbenchError,
) -> None:
    """Unpack checked members under ``dest``, counting what is really written."""
    budget = _Budget(label)
    for member in members:
        target = dest / PurePosixPath(member.filename.replace("\\", "/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        with _MemberErrors(label, member, error), archive.open(member) as src, open(target, "wb") as dst:
            _copy(src, dst, budget, member)


def read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, label: str, error: ErrorType = WorkbenchError) -> bytes:
    out = io.BytesIO()
    with _MemberErrors(label, member, error), archive.open(member) as src:
        _copy(src, out, _Budget(label), member)
    return out.getvalue()


# ----------------------------------------------------------------------------- NumPy files


def _npy_header(handle: IO[bytes], label: str, error: ErrorType) -> tuple[tuple[int, ...], Any]:
    import numpy as np

    try:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(handle, max_header_size=1 << 16)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(handle, max_header_size=1 << 16)
    except (ValueError, EOFError, OSError, SyntaxError) as exc:
        raise error(f"{label} is not a readable .npy array: its header is damaged ({_first_line(exc)}).") from exc
    return tuple(int(d) for d in shape), dtype


def check_array_header(shape: tuple[int, ...], dtype: Any, label: str, error: ErrorType) -> int:
    """The array's byte size, after refusing dtypes that are not numbers."""
    if dtype.hasobject:
        raise error(
            f"{label} holds pickled Python objects, which are never loaded (they can run code): "
            "save plain numeric arrays with numpy.savez."
        )
    if dtype.kind not in "biufc" or dtype.fields is not None or dtype.subdtype is not None:
        raise error(f"{label} holds {dtype} data (not numbers): save numeric arrays (float32, int64, ...).")
    elements = 1
    for d in shape:
        elements *= d
    return elements * dtype.itemsize


def read_arrays(data: bytes, label: str, error: ErrorType = WorkbenchError) -> dict[str, Any] | Any:
    """An ``.npy`` (one array) or an ``.npz`` (a dict of arrays), checked before allocating."""
    import numpy as np

    if data[:6] == NPY_MAGIC:
        shape, dtype = _npy_header(io.BytesIO(data), label, error)
        ARRAY_BYTES.check(check_array_header(shape, dtype, label, error), f"{label} holds")
        try:
            return np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, EOFError, OSError) as exc:
            raise error(f"{label} is a truncated or damaged .npy array ({_first_line(exc)}).") from exc
    if data[:4] != ZIP_MAGIC:
        kind = "text" if _looks_like_text(data) else "something else"
        raise error(f"{label} is not a .npz or .npy file (it looks like {kind}): save arrays with numpy.savez.")
    archive = open_zip(data, label, error)
    arrays: dict[str, Any] = {}
    with archive:
        members = checked_members(archive, label, error)
        total = 0
        for member in members:
            key = member.filename.removesuffix(".npy")
            shown = f"{label}: entry {_shown(key)!r}"
            if not member.filename.endswith(".npy"):
                raise error(f"{shown} is not an array (an .npz holds only .npy arrays).")
            with _MemberErrors(label, member, error), archive.open(member) as handle:
                if handle.read(6) != NPY_MAGIC:
                    raise error(f"{shown} is not an array (an .npz holds only .npy arrays).")
            with _MemberErrors(label, member, error), archive.open(member) as handle:
                shape, dtype = _npy_header(handle, shown, error)
            total += check_array_header(shape, dtype, shown, error)
            ARRAY_BYTES.check(total, f"{label} holds")
        for member in members:
            raw = read_member(archive, member, label, error)
            try:
                arrays[member.filename.removesuffix(".npy")] = np.load(io.BytesIO(raw), allow_pickle=False)
            except (ValueError, EOFError, OSError) as exc:
                raise error(f"{label}: entry {_shown(member.filename)!r} is a truncated or damaged array ({_first_line(exc)}).") from exc
    return arrays


def _looks_like_text(data: bytes) -> bool:
    head = data[:4096]
    if not head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def check_image_pixels(width: int, height: int, label: str) -> None:
    """Refuse an image whose declared size is a decompression bomb, before it is decoded."""
    from workbench.limits import IMAGE_PIXELS

    IMAGE_PIXELS.check(width * height, f"{label} is {width}x{height} =")
