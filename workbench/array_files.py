"""Named arrays on disk, by content: the one digest of "these inputs" and their ``.npz``.

Calibration data, the inputs a transform runs on and a worker's reading of them all use
this digest, so the caller's cache key and what the worker reports agree. Light (numpy
only), so workers import it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np


def arrays_hash(arrays: Mapping[str, Any]) -> str:
    """SHA-256 over each array's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(name.encode() + str(array.dtype).encode() + str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def save_arrays(path: Path, arrays: Mapping[str, Any]) -> Path:
    """The arrays as an ``.npz`` (no pickles: plain numeric arrays only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(str(path), **dict(arrays))
    return path


def arrays_file(folder: Path, arrays: Mapping[str, Any]) -> tuple[Path, str]:
    """``folder/<digest>.npz`` holding ``arrays``, written once; and the digest."""
    digest = arrays_hash(arrays)
    path = folder / f"{digest[:16]}.npz"
    if not path.is_file():
        save_arrays(path, arrays)
    return path, digest
