"""Where the workbench keeps what it makes: uploaded models, fixed models, engines, logs.

The default root is ``$TRT_WORKBENCH_HOME`` or, failing that, ``trt-workbench`` under
the user's cache directory (``$XDG_CACHE_HOME`` or ``~/.cache``). Everything is stored by
content hash, so the same upload lands in the same folder and nothing is lost when the
app restarts.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


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
