"""Where the workbench keeps what it makes: uploaded models, fixed models, engines, logs.

The default root is ``$TRT_WORKBENCH_HOME`` or, failing that, ``trt-workbench`` under
the user's cache directory (``$XDG_CACHE_HOME`` or ``~/.cache``). Everything is stored by
content hash, so the same upload lands in the same folder and nothing is lost when the
app restarts.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def default_root() -> Path:
    env = os.environ.get("TRT_WORKBENCH_HOME")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "trt-workbench"


@dataclass(frozen=True)
class Workspace:
    """A folder holding one user's models and artifacts."""

    root: Path

    @classmethod
    def default(cls) -> Workspace:
        return cls(default_root())

    @classmethod
    def for_session(cls, session_id: str | None = None, base: Path | None = None) -> Workspace:
        """A private workspace for one app session, so two users never see each other's files."""
        session_id = session_id or uuid.uuid4().hex
        return cls((base or default_root()) / "sessions" / session_id)

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    def model_dir(self, content_hash: str) -> Path:
        return self.models_dir / content_hash[:16]

    @property
    def index_path(self) -> Path:
        return self.root / "index.json"

    def record(self, kind: str, entry: dict[str, Any]) -> None:
        """Append an entry to the workspace's JSON index (under a file lock: builds run in parallel)."""
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".index.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            index = self.index()
            index.setdefault(kind, [])
            index[kind] = [e for e in index[kind] if e.get("cache_key") != entry.get("cache_key")] + [entry]
            tmp = self.index_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(index, indent=1))
            tmp.replace(self.index_path)

    def save_result(self, kind: str, record: Any, label: str = "") -> Path:
        """Keep a result (a JsonRecord) in ``<root>/<kind>/`` and list it in the index,
        so a report of the workspace finds it after the app restarts."""
        import hashlib
        import time

        text = record.to_json()
        key = hashlib.sha256(text.encode()).hexdigest()
        folder = self.root / kind
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{key[:16]}.json"
        path.write_text(text)
        self.record(kind, {"cache_key": key, "path": str(path), "label": label, "time": time.time()})
        return path

    def results(self, kind: str) -> list[Path]:
        """The saved results of one kind, oldest first (files the index still lists)."""
        return [
            Path(e["path"]) for e in self.index().get(kind, []) if "path" in e and Path(e["path"]).is_file()
        ]

    def index(self) -> dict[str, list[dict[str, Any]]]:
        try:
            loaded = json.loads(self.index_path.read_text())
        except (OSError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    @contextmanager
    def staging_dir(self) -> Iterator[Path]:
        """A scratch folder inside the workspace, removed afterwards whatever happens.

        Uploads are unpacked here and moved into place only once they load cleanly, so a
        bad upload leaves nothing behind.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)


class WorkspaceTransaction:
    """What a command adds to a workspace, undone when the command fails.

    A command that fails (bad input, a crash, Ctrl+C, SIGTERM, or nothing it was asked to
    make got made) must leave the folder ``-o`` named as it was: new files and folders are
    removed, and the few files commands rewrite in place (the index, the timing cache) are
    restored from copies taken at the start. Everything is content-addressed, so keeping
    what a failed command made would be harmless to later runs, but not what users expect.
    """

    #: Files rewritten in place; everything else is only ever added.
    REWRITTEN = ("index.json", "timing.cache")

    def __init__(self, root: Path) -> None:
        self.root = root
        self.existed = root.exists()
        self.before: set[Path] = set(root.rglob("*")) if self.existed else set()
        self.saved: dict[Path, tuple[bytes, int, int]] = {}
        for name in self.REWRITTEN:
            path = root / name
            if path.is_file():
                info = path.stat()
                self.saved[path] = (path.read_bytes(), info.st_atime_ns, info.st_mtime_ns)

    def rollback(self) -> None:
        if not self.existed:
            shutil.rmtree(self.root, ignore_errors=True)
            return
        added = sorted((p for p in self.root.rglob("*") if p not in self.before), key=lambda p: len(p.parts), reverse=True)
        for path in added:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        for path, (data, atime, mtime) in self.saved.items():
            if not path.is_file() or path.read_bytes() != data:
                path.write_bytes(data)
            os.utime(path, ns=(atime, mtime))
        for name in self.REWRITTEN:
            path = self.root / name
            if path not in self.saved:
                path.unlink(missing_ok=True)


@contextmanager
def transaction(root: Path | None) -> Iterator[WorkspaceTransaction | None]:
    """Undo the block's additions to ``root`` if it raises (``root=None``: nothing to guard)."""
    if root is None:
        yield None
        return
    txn = WorkspaceTransaction(root)
    try:
        yield txn
    except BaseException:
        txn.rollback()
        raise
