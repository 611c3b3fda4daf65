"""``ray start`` that keeps a loopback node address: ``python -m workbench.executors.ray_node start ...``.

On Linux Ray replaces 127.0.0.1 by the machine's outward address (and then listens on
every interface) unless ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``; but with that setting
``ray start --address`` refuses to start a second node. With the variable at 0 this
wrapper lets the ``ray start`` process keep the address it is given (its child processes
read the variable themselves), then runs Ray's own CLI unchanged. Without the variable it
is exactly ``ray``.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    from workbench.executors.cluster import KEEP_LOOPBACK_ENV

    if os.environ.get(KEEP_LOOPBACK_ENV) == "0":
        from ray._private import ray_constants, services

        ray_constants.ENABLE_RAY_CLUSTER = True  # the check `ray start --address` makes
        services.resolve_ip_for_localhost = lambda host: host  # 127.0.0.1 stays 127.0.0.1
    from ray.scripts.scripts import main as ray_main

    sys.argv = ["ray", *sys.argv[1:]]
    ray_main()


if __name__ == "__main__":
    main()
