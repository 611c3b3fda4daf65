"""Executors beyond the local worker pool, and the choice between them.

A front end decides where tasks run from one setting, the cluster address:
``--cluster ADDRESS`` wins over ``$TRT_WORKBENCH_CLUSTER``; no address (or ``local``)
means the local worker pool, exactly as without this package. Importing this module is
cheap: Ray is imported only when a cluster executor connects.

The CLI::

    from workbench.executors import apply_cluster_option
    apply_cluster_option(args.cluster)     # every task of this command goes there

The app (one choice per session)::

    executor = executor_for_cluster(cluster_address(chosen_address))
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from workbench.errors import WorkbenchError
from workbench.executor import CLUSTER_ENV, Executor, get_executor, register_executor, use_executor

if TYPE_CHECKING:
    from workbench.executors.ray_executor import RayExecutor

#: Addresses that mean "no cluster, the local pool" when given to ``--cluster``.
LOCAL_WORDS = ("", "local", "none")

_LOCK = threading.Lock()
_RAY: dict[str, RayExecutor] = {}


def cluster_address(flag: str | None = None) -> str | None:
    """The cluster to run on: ``flag`` (``--cluster``) if given, else ``$TRT_WORKBENCH_CLUSTER``;
    None for the local pool (also when either says ``local``)."""
    value = flag if flag is not None else os.environ.get(CLUSTER_ENV)
    if value is None or value.strip().lower() in LOCAL_WORDS:
        return None
    return value.strip()


def cluster_executor(address: str) -> RayExecutor:
    """The (one per address) Ray executor of this process; it connects on first use."""
    from workbench.executors.ray_executor import RayExecutor

    with _LOCK:
        executor = _RAY.get(address)
        if executor is None:
            executor = _RAY[address] = RayExecutor(address)
        return executor


def executor_for_cluster(address: str | None) -> Executor:
    """``RayExecutor(address)`` (registered as ``ray``), or the local pool when ``address`` is None."""
    if address is None:
        return get_executor("local")
    executor = cluster_executor(address)
    register_executor("ray", lambda: executor)
    return executor


def use_cluster(address: str | None) -> Executor:
    """Run every task of this process that names no executor on ``address`` (None: on the
    local pool, whatever the environment says) and return that executor."""
    executor = executor_for_cluster(address)
    use_executor("ray" if address is not None else "local")
    return executor


def apply_cluster_option(flag: str | None) -> Executor:
    """What a command does with its ``--cluster`` value: a given flag wins (``local`` runs
    here even with ``$TRT_WORKBENCH_CLUSTER`` set); without one the environment decides
    (``$TRT_WORKBENCH_EXECUTOR``, else ``$TRT_WORKBENCH_CLUSTER``, else the local pool).
    Nothing connects until the first task runs."""
    if flag is not None:
        return use_cluster(cluster_address(flag))
    return get_executor()


def register_cluster_from_env() -> None:
    """Register ``ray`` for ``$TRT_WORKBENCH_CLUSTER`` (get_executor() calls this when needed)."""
    address = cluster_address(None)
    if address is None:
        raise WorkbenchError(f"{CLUSTER_ENV} names no cluster, so there is no 'ray' executor.")
    executor_for_cluster(address)
