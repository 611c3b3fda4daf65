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


def configured_roots() -> list[Path] | None:
    """The folders ``TRT_WORKBENCH_SERVER_ROOTS`` allows; None when it is unset, [] when it names none."""
    raw = os.environ.get(ROOTS_ENV)
    if raw is None:
        return None
    return [Path(p).expanduser().resolve() for p in raw.split(os.pathsep) if p.strip()]


def is_local_address(address: str | None) -> bool:
    return (address or "localhost").strip().lower() in _LOCAL_ADDRESSES


def server_paths_enabled(address: str | None) -> bool:
    roots = configured_roots()
    return bool(roots) if roots is not None else is_local_address(address)


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def refusal(text: str, want: str = "file") -> WorkbenchError:
    """The one sentence for every refusal (missing or not allowed alike)."""
    what = "file or folder" if want == "any" else want
    return WorkbenchError(f"{text.strip()} is not a {what} the workbench may open here.")


def may_open(path: Path, *, workspace: Workspace, address: str | None, contents: bool = True) -> bool:
    """Whether a session may read ``path``: it exists, lies under the allowed roots, and neither
    is inside another session's workspace nor (``contents``: a folder to search) holds the
    sessions folder, whose search would reach every session's files."""
    try:
        resolved = path.expanduser().resolve()
        if not resolved.exists():
            return False
    except (OSError, RuntimeError, ValueError):
        return False
    roots = configured_roots()
    if roots is not None:
        if not any(_inside(resolved, root) for root in roots):
            return False
    elif not is_local_address(address):
        return False
    own = workspace.root.resolve()
    sessions = {(default_root() / "sessions").resolve()}
    if workspace.root.parent.name == "sessions":
        sessions.add(workspace.root.parent.resolve())
    for folder in sessions:
        if contents and resolved.is_dir() and _inside(folder, resolved):
            return False
        if _inside(resolved, folder) and not _inside(resolved, own):
            return False
    return True


def resolve_server_path(text: str, *, workspace: Workspace, address: str | None, want: str = "file") -> Path:
    """The path a session typed, if it may open it; else :func:`refusal`'s sentence.

    Args:
        want: ``"file"``, ``"folder"`` or ``"any"``.
    """
    if not text.strip() or "\0" in text:
        raise refusal(text, want)
    path = Path(text.strip()).expanduser()
    if not may_open(path, workspace=workspace, address=address):
        raise refusal(text, want)
    path = path.resolve()
    if (want == "file" and not path.is_file()) or (want == "folder" and not path.is_dir()):
        raise refusal(text, want)
    return path


def listen_address() -> str:
    """The address the Streamlit server listens on (``localhost`` outside a server)."""
    try:
        import streamlit as st

        return str(st.get_option("server.address") or "localhost")
    except Exception:
        return "localhost"
