"""Which files on the server a browser session may open by typing a path.

The app's "Open a file on the server" field reads with the server's rights, so on a
shared server it must not let one session read another's uploads and results (they live
side by side under the workbench's home) or probe which files exist. The rules:

* ``TRT_WORKBENCH_SERVER_ROOTS`` (folders, separated like ``PATH``) lists where paths may
  point; a path must resolve (symlinks followed) inside one of them.
* Without it, a server that listens only on this machine (localhost) is one user's local
  tool and may open any file; a server that listens beyond localhost opens none.
* Never inside another session's workspace, whatever the roots say.
* Missing and not allowed get the same sentence, so nothing can be learnt by probing.
"""

from __future__ import annotations

import os
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.workspace import Workspace, default_root

ROOTS_ENV = "TRT_WORKBENCH_SERVER_ROOTS"
_LOCAL_ADDRESSES = {"localhost", "127.0.0.1", "::1", "ip6-localhost"}


def configured_roots() -> list[Path]:
    raw = os.environ.get(ROOTS_ENV, "")
    return [Path(p).expanduser().resolve() for p in raw.split(os.pathsep) if p.strip()]


def is_local_address(address: str | None) -> bool:
    return (address or "localhost").strip().lower() in _LOCAL_ADDRESSES


def server_paths_enabled(address: str | None) -> bool:
    return bool(configured_roots()) or is_local_address(address)


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def resolve_server_path(text: str, *, workspace: Workspace, address: str | None, want: str = "file") -> Path:
    """The path a session typed, if it may open it; else one sentence, the same for every refusal.

    Args:
        want: ``"file"``, ``"folder"`` or ``"any"``.
    """
    refusal = WorkbenchError(f"{text.strip()!s} is not a {'file or folder' if want == 'any' else want} the workbench may open here.")
    if not text.strip() or "\0" in text:
        raise refusal
    try:
        path = Path(text.strip()).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        raise refusal from None
    roots = configured_roots()
    if roots:
        if not any(_inside(path, root) for root in roots):
            raise refusal
    elif not is_local_address(address):
        raise refusal
    sessions = (default_root() / "sessions").resolve()
    own = workspace.root.resolve()
    if _inside(path, sessions) and not _inside(path, own):
        raise refusal
    exists = path.is_file() if want == "file" else path.is_dir() if want == "folder" else path.exists()
    if not exists:
        raise refusal
    return path
