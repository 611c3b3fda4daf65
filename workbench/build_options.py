"""The build options: each declared once, with everything that follows from it.

Like Polygraphy's argument groups, an option here owns its command-line flag and parsing,
its UI control, how it reaches the builder worker, and how it is written into the
``trtexec`` and ``polygraphy convert`` commands that reproduce a build. ``BuildConfig``
holds the values (its field is the option's ``name``); the CLI (``add_arguments`` /
``values_from_args``), the Build page (``workbench.ui.build_page``), the worker call in
``build.py`` (``worker_arguments``) and the report (``trtexec_arguments`` /
``polygraphy_arguments``) all read this table, so adding an option is one row here (and
its use inside ``trt_worker.build_engine``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Polygraphy's hardware-compatibility names -> trtexec's.
_TRTEXEC_HARDWARE = {"ampere_plus": "ampere+", "same_compute_capability": "sameComputeCapability"}


@dataclass(frozen=True)
class BuildOption:
    #: The ``BuildConfig`` field and (unless ``worker_key`` says otherwise) the worker argument.
    name: str
    flag: str
    help: str
    #: "int", "bool", "choice" or "disable" (a bool that is on unless the flag is given).
    kind: str
    label: str
    default: Any = None
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    worker_key: str | None = None
    #: The worker's value, from the option's value and the workspace root.
    to_worker: Callable[[Any, Path], Any] | None = None
    trtexec: Callable[[Any], list[str]] = field(default=lambda value: [])
    polygraphy: Callable[[Any], list[str]] = field(default=lambda value: [])

    def value_in(self, config: Any) -> Any:
        """The option's value in a ``BuildConfig`` (its own field, or ``extra_options``)."""
        if hasattr(config, self.name):
            return getattr(config, self.name)
        return getattr(config, "extra_options", {}).get(self.name, self.default)


def _int_range(option: BuildOption) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if option.minimum is not None and value < option.minimum:
            raise argparse.ArgumentTypeError(f"must be at least {option.minimum}, not {value}")
        if option.maximum is not None and value > option.maximum:
            raise argparse.ArgumentTypeError(f"must be at most {option.maximum}, not {value}")
        return value

    return parse


BUILD_OPTIONS: dict[str, BuildOption] = {}


def register_build_option(option: BuildOption) -> BuildOption:
    BUILD_OPTIONS[option.name] = option
    return option


for _option in (
    BuildOption(
        "builder_optimization_level",
        "--opt-level",
        "builder optimization level 0-5 (higher: longer builds, faster engines)",
        "int",
        "Builder optimization level",
        minimum=0,
        maximum=5,
        trtexec=lambda v: [f"--builderOptimizationLevel={v}"],
        polygraphy=lambda v: ["--builder-optimization-level", str(v)],
    ),
    BuildOption(
        "workspace_mib",
        "--workspace-mib",
        "workspace memory pool limit in MiB",
        "int",
        "Workspace limit (MiB)",
        minimum=1,
        trtexec=lambda v: [f"--memPoolSize=workspace:{v}M"],
        polygraphy=lambda v: ["--pool-limit", f"workspace:{v}M"],
    ),
    BuildOption(
        "timing_cache",
        "--no-timing-cache",
        "do not reuse or update the workspace's timing cache",
        "disable",
        "Reuse the workspace's timing cache",
        default=True,
        worker_key="timing_cache_path",
        to_worker=lambda v, root: str(root / "timing.cache") if v else None,
        trtexec=lambda v: ["--timingCacheFile=timing.cache"] if v else [],
        polygraphy=lambda v: ["--load-timing-cache", "timing.cache", "--save-timing-cache", "timing.cache"] if v else [],
    ),
    BuildOption(
        "version_compatible",
        "--version-compatible",
        "build a version-compatible engine (where the backend has it)",
        "bool",
        "Version-compatible engine",
        default=False,
        trtexec=lambda v: ["--versionCompatible"] if v else [],
        polygraphy=lambda v: ["--version-compatible"] if v else [],
    ),
    BuildOption(
        "hardware_compatibility",
        "--hardware-compatibility",
        "hardware compatibility level (full TensorRT)",
        "choice",
        "Hardware compatibility",
        choices=("ampere_plus", "same_compute_capability"),
        trtexec=lambda v: [f"--hardwareCompatibilityLevel={_TRTEXEC_HARDWARE.get(v, v)}"] if v else [],
        polygraphy=lambda v: ["--hardware-compatibility-level", v] if v else [],
    ),
):
    register_build_option(_option)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every build option's flag, on a command that builds."""
    for option in BUILD_OPTIONS.values():
        dest = option.name
        if option.kind == "int":
            parser.add_argument(option.flag, dest=dest, type=_int_range(option), default=None, help=option.help)
        elif option.kind == "bool":
            parser.add_argument(option.flag, dest=dest, action="store_true", help=option.help)
        elif option.kind == "disable":
            parser.add_argument(option.flag, dest=dest, action="store_false", help=option.help)
        elif option.kind == "choice":
            parser.add_argument(option.flag, dest=dest, choices=list(option.choices), default=None, help=option.help)
        else:
            raise ValueError(f"unknown build option kind {option.kind!r}")


def values_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """``BuildConfig`` keyword arguments for the options, from parsed flags."""
    return {name: getattr(args, name) for name in BUILD_OPTIONS if hasattr(args, name)}


def worker_arguments(config: Any, workspace_root: Path) -> dict[str, Any]:
    """What ``trt_worker.build_engine`` receives for the options of ``config``."""
    out = {}
    for option in BUILD_OPTIONS.values():
        value = option.value_in(config)
        out[option.worker_key or option.name] = option.to_worker(value, workspace_root) if option.to_worker else value
    return out


def trtexec_arguments(config: Any) -> list[str]:
    out: list[str] = []
    for option in BUILD_OPTIONS.values():
        value = option.value_in(config)
        if value is not None:
            out += option.trtexec(value)
    return out


def polygraphy_arguments(config: Any) -> list[str]:
    out: list[str] = []
    for option in BUILD_OPTIONS.values():
        value = option.value_in(config)
        if value is not None:
            out += option.polygraphy(value)
    return out
