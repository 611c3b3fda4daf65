"""The ``cluster`` and ``sweep`` commands (Ray), registered into the CLI's parser.

Kept apart from :mod:`workbench.cli` so the cluster work can grow without touching every
other command; nothing here imports Ray until a command runs (``--help`` stays fast).
"""

from __future__ import annotations

from typing import Any


def add_commands(sub: Any) -> None:
    """Register this module's commands on the CLI's sub-parser collection."""
    del sub  # the commands are added here as they land (issue 15)
