"""What a node can do, what a task needs, and why a cluster cannot serve a request.

A node of a Ray cluster advertises its capabilities as Ray custom resources (what the
scheduler places by) and labels (what people read), made here from the same record the
environment report uses:

* ``trtwb_node``: trt-workbench is installed (every task asks for it);
* ``trtwb_backend_<name>``, ``trtwb_backend_<name>_<major.minor>`` and
  ``trtwb_backend_<name>_<version>``: TensorRT (``tensorrt``) or TensorRT-RTX
  (``tensorrt-rtx``) and its version, plus ``trtwb_backend`` for any of them;
* ``trtwb_aot_<sm>``: TensorRT-RTX builds engines ahead of time for that SM here (a CPU
  node is enough: SM75, SM80, SM86, SM89, SM120);
* ``trtwb_gpu_<sm>``: this many GPUs of that compute capability (timing needs one);
* ``trtwb_modelopt``: NVIDIA Model Optimizer (the precision transforms).

Start each node with them (``ray start`` takes the JSON as it is)::

    ray start --address HEAD:6379 \\
        --resources "$(python -m workbench.capabilities --ray-resources)" \\
        --labels "$(python -m workbench.capabilities --ray-labels)"

:func:`requirement_for` turns a :class:`~workbench.executor.Task` into the resources it
needs (a build for sm86 on TensorRT-RTX needs ``trtwb_aot_sm86``; a timing run needs
``trtwb_gpu_sm86`` and a GPU), and :func:`refusal` says in one sentence why no node of a
cluster can serve it. Nothing here imports Ray or TensorRT.
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from workbench.backends import BackendInfo
from workbench.env import GpuInfo
from workbench.errors import WorkbenchError
from workbench.serialize import JsonRecord

if TYPE_CHECKING:
    from workbench.executor import Task

#: What TensorRT-RTX 1.x builds ahead of time for, on any machine (no GPU needed).
RTX_AOT_TARGETS: tuple[str, ...] = ("sm75", "sm80", "sm86", "sm89", "sm120")
#: Every compute capability a target may name (TensorRT builds for the GPU it runs on).
KNOWN_TARGETS: tuple[str, ...] = (
    "sm75", "sm80", "sm86", "sm87", "sm89", "sm90", "sm100", "sm103", "sm110", "sm120", "sm121",
)
#: What people call the GPUs of each compute capability (for refusals).
GPU_FAMILIES: dict[str, str] = {
    "sm75": "Turing: T4, RTX 20xx",
    "sm80": "Ampere: A100, A30",
    "sm86": "Ampere: A10, A40, RTX 30xx, RTX A6000",
    "sm87": "Ampere: Jetson Orin",
    "sm89": "Ada: L4, L40, RTX 40xx, RTX 6000 Ada",
    "sm90": "Hopper: H100, H200",
    "sm100": "Blackwell: B200, GB200",
    "sm103": "Blackwell Ultra: B300",
    "sm110": "Blackwell: Jetson Thor",
    "sm120": "Blackwell: RTX 50xx, RTX PRO 6000",
    "sm121": "Blackwell: DGX Spark",
}

PREFIX = "trtwb_"
NODE = "trtwb_node"
ANY_BACKEND = "trtwb_backend"
MODELOPT = "trtwb_modelopt"
#: A shared capability (building, parsing) is advertised in this many units, so only the
#: node's CPUs limit how many tasks use it at once.
PLENTY = 1000.0
LABEL_PREFIX = "trt-workbench/"

_BACKEND_TITLES = {"tensorrt": "TensorRT", "tensorrt-rtx": "TensorRT-RTX"}


# ----------------------------------------------------------------------------- targets


def normalize_target(text: str) -> str:
    """``"SM86"``, ``"sm_86"``, ``"8.6"``, ``"86"`` -> ``"sm86"`` (one-sentence error otherwise)."""
    raw = text.strip().lower()
    if re.fullmatch(r"\d+\.\d", raw):
        name = "sm" + raw.replace(".", "")
    else:
        match = re.fullmatch(r"(?:sm[_-]?)?(\d{2,3})", raw)
        name = f"sm{match.group(1)}" if match else ""
    if name not in KNOWN_TARGETS:
        raise WorkbenchError(
            f"Unknown target {text.strip()!r}: write each target like sm86 or 8.6 (known: {', '.join(KNOWN_TARGETS)})."
        )
    return name


def parse_targets(text: str | Iterable[str] | None) -> list[str]:
    """``"sm80,sm86,sm89"`` (or repeated ``--target`` values) -> ``["sm80", "sm86", "sm89"]``,
    checked against the known SMs, duplicates dropped, order kept."""
    if text is None:
        return []
    items = text.split(",") if isinstance(text, str) else [p for t in text for p in t.split(",")]
    result: list[str] = []
    for item in items:
        if not item.strip():
            continue
        name = normalize_target(item)
        if name not in result:
            result.append(name)
    if not result:
        raise WorkbenchError("Give at least one target, e.g. --target sm80,sm86,sm89.")
    return result


C = TypeVar("C")


def expand_targets(configs: Iterable[C], targets: Iterable[str] | None) -> list[C]:
    """Every configuration once per target (precision-major: fp32@sm80, fp32@sm86, fp16@sm80...).

    ``configs`` are BuildConfig-like: dataclasses (copied with ``dataclasses.replace``) or
    dicts (copied with the ``target`` key set). No targets: the configurations unchanged.
    """
    names = list(targets or [])
    configs = list(configs)
    if not names:
        return configs
    out: list[Any] = []
    for config in configs:
        for target in names:
            if isinstance(config, Mapping):
                out.append({**config, "target": target})
            elif dataclasses.is_dataclass(config) and not isinstance(config, type):
                out.append(dataclasses.replace(config, target=target))  # type: ignore[type-var]
            else:
                raise WorkbenchError(f"Cannot set a target on {type(config).__name__}: give dicts or dataclasses.")
    return out


def sm_name(compute_capability: str | None) -> str | None:
    """``"8.9"`` -> ``"sm89"`` (what nvidia-smi says -> the workbench's target name)."""
    if not compute_capability:
        return None
    digits = re.sub(r"[^0-9]", "", compute_capability)
    return f"sm{digits}" if len(digits) >= 2 else None


# ----------------------------------------------------------------------------- a node


@dataclass
class NodeCapabilities(JsonRecord):
    """What this machine can do for the workbench (read from package metadata and nvidia-smi)."""

    host: str
    workbench: str
    python: str
    backends: list[BackendInfo] = field(default_factory=list)
    gpus: list[GpuInfo] = field(default_factory=list)
    #: SMs TensorRT-RTX builds for ahead of time here (empty without TensorRT-RTX).
    aot_targets: list[str] = field(default_factory=list)
    modelopt: str | None = None
    onnxruntime: str | None = None
    #: Ray's version (every node of a cluster needs the same).
    ray: str | None = None

    def backend(self, name: str) -> BackendInfo | None:
        return next((b for b in self.backends if b.name == name), None)

    def gpu_targets(self) -> dict[str, int]:
        """SM -> how many GPUs of it."""
        counts: dict[str, int] = {}
        for gpu in self.gpus:
            sm = sm_name(gpu.compute_capability)
            if sm:
                counts[sm] = counts.get(sm, 0) + 1
        return counts

    def describe(self) -> str:
        """One line: backends with versions, AOT targets, GPUs, ModelOpt."""
        return describe_resources(as_ray_resources(self), gpu_names=[g.name for g in self.gpus])


def local_capabilities() -> NodeCapabilities:
    """This machine's capabilities (nothing is imported: metadata, find_spec, nvidia-smi)."""
    import platform

    from workbench import __version__
    from workbench.backends import installed_backends
    from workbench.env import _dist_version, detect_gpus

    backends = installed_backends()
    return NodeCapabilities(
        host=socket.gethostname(),
        workbench=__version__,
        python=platform.python_version(),
        backends=backends,
        gpus=detect_gpus(),
        aot_targets=list(RTX_AOT_TARGETS) if any(b.name == "tensorrt-rtx" for b in backends) else [],
        modelopt=_dist_version("nvidia-modelopt"),
        onnxruntime=_dist_version("onnxruntime", "onnxruntime-gpu"),
        ray=_dist_version("ray"),
    )


def _version_keys(version: str) -> list[str]:
    parts = version.split(".")
    keys = [".".join(parts[:2])] if len(parts) > 2 else []
    return [*keys, version]


def backend_resource(name: str, version: str | None = None) -> str:
    """``trtwb_backend_tensorrt-rtx`` or, with a version (prefix), ``..._1.7``."""
    return f"{ANY_BACKEND}_{name}" + (f"_{version}" if version else "")


def aot_resource(target: str) -> str:
    return f"{PREFIX}aot_{target}"


def gpu_resource(target: str) -> str:
    return f"{PREFIX}gpu_{target}"


def as_ray_resources(caps: NodeCapabilities) -> dict[str, float]:
    """The node's capabilities as Ray custom resources (``ray start --resources``)."""
    resources: dict[str, float] = {NODE: PLENTY}
    if caps.backends:
        resources[ANY_BACKEND] = PLENTY
    for info in caps.backends:
        resources[backend_resource(info.name)] = PLENTY
        for key in _version_keys(info.version):
            resources[backend_resource(info.name, key)] = PLENTY
    for target in caps.aot_targets:
        resources[aot_resource(target)] = PLENTY
    for target, count in caps.gpu_targets().items():
        resources[gpu_resource(target)] = float(count)
    if caps.modelopt:
        resources[MODELOPT] = PLENTY
    return resources


def _label_value(text: str) -> str:
    value = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-_.")[:63].strip("-_.")
    return value or "unknown"


def as_ray_labels(caps: NodeCapabilities) -> dict[str, str]:
    """The same capabilities as Ray node labels (``ray start --labels``), for people and selectors."""
    labels = {f"{LABEL_PREFIX}workbench": _label_value(caps.workbench), f"{LABEL_PREFIX}python": _label_value(caps.python)}
    if caps.ray:
        labels[f"{LABEL_PREFIX}ray"] = _label_value(caps.ray)
    for info in caps.backends:
        labels[f"{LABEL_PREFIX}{info.name}"] = _label_value(info.version)
    if caps.aot_targets:
        labels[f"{LABEL_PREFIX}aot"] = "-".join(caps.aot_targets)
    if caps.gpus:
        first = caps.gpus[0]
        labels[f"{LABEL_PREFIX}gpu"] = _label_value(first.name)
        labels[f"{LABEL_PREFIX}gpu-sm"] = "-".join(sorted(caps.gpu_targets())) or "unknown"
    else:
        labels[f"{LABEL_PREFIX}gpu"] = "none"
    if caps.modelopt:
        labels[f"{LABEL_PREFIX}modelopt"] = _label_value(caps.modelopt)
    return labels


def labels_argument(labels: Mapping[str, str]) -> str:
    """``key=value,key=value``: the form ``ray start --labels`` reads."""
    return ",".join(f"{k}={v}" for k, v in labels.items())


# ----------------------------------------------------------------------------- a task


@dataclass
class Requirement(JsonRecord):
    """What a task needs of one node: custom resources and GPUs, and the same in words."""

    resources: dict[str, float]
    num_gpus: float = 0.0
    #: "build for SM86 with TensorRT-RTX" — what the refusal says cannot be done.
    description: str = "run a workbench task"

    def ray_options(self) -> dict[str, Any]:
        """Keyword arguments of ``ray.remote(...).options()`` that place the task."""
        options: dict[str, Any] = {"resources": dict(self.resources), "num_cpus": 1}
        if self.num_gpus:
            options["num_gpus"] = self.num_gpus
        return options


_WORKER_KINDS = {
    "workbench.trt_worker:parse_and_check": "parse",
    "workbench.trt_worker:build_engine": "build",
    "workbench.trt_worker:profile_engine": "profile",
    "workbench.trt_worker:engine_debug_tensors": "accuracy",
    "workbench.precision:transform_model": "transform",
}


def _backend_of(task: Task) -> str | None:
    value = task.kwargs.get("backend") or task.env.get("TRT_WORKBENCH_BACKEND")
    return str(value) if value else None


def requirement_for(task: Task) -> Requirement:
    """The resources ``task`` needs on one node.

    * parse: the backend (and, with a build check for a target, what a build needs);
    * build: TensorRT-RTX with AOT builds for the target (any node with TensorRT-RTX,
      CPU-only included), or full TensorRT on a GPU of the target's compute capability;
    * profile / accuracy: a GPU of the target's compute capability with the backend;
    * transform: NVIDIA Model Optimizer;
    * anything else: a node with trt-workbench.

    ``task.needs`` overrides what is read from the kind and the arguments.
    """
    needs = task.needs
    kind = task.kind if task.kind in ("parse", "build", "profile", "accuracy", "transform") else _WORKER_KINDS.get(task.func, task.kind)
    backend = (needs.backend if needs and needs.backend else None) or _backend_of(task)
    target_text = (needs.target if needs and needs.target else None) or task.kwargs.get("target")
    target = normalize_target(str(target_text)) if target_text else None
    version = needs.backend_version if needs else None
    resources: dict[str, float] = {NODE: 1.0}
    num_gpus = 0.0
    uses_backend = kind in ("parse", "build", "profile", "accuracy") or task.func.startswith("workbench.trt_worker:")
    if kind == "accuracy" and not backend:
        backend = "tensorrt"
    title = _BACKEND_TITLES.get(backend or "", "TensorRT")
    if uses_backend:
        if backend in (None, "auto"):
            resources[ANY_BACKEND] = 1.0
            title = "TensorRT or TensorRT-RTX"
        else:
            resources[backend_resource(backend, version)] = 1.0
            if version:
                title = f"{title} {version}"
    wants_gpu = needs.gpu if needs and needs.gpu is not None else kind in ("profile", "accuracy")
    builds = kind == "build" or (kind == "parse" and bool(task.kwargs.get("build_check")))
    if wants_gpu:
        num_gpus = 1.0
        if target:
            resources[gpu_resource(target)] = 1.0
        on = f"an {target.upper()} GPU" if target else "a GPU"
        verb = {"profile": "time an engine", "accuracy": "run an engine"}.get(kind, f"run {kind}")
        description = f"{verb} on {on} with {title}"
    elif builds and target:
        if backend == "tensorrt":
            num_gpus = 1.0
            resources[gpu_resource(target)] = 1.0
            description = f"build for {target.upper()} with TensorRT (on an {target.upper()} GPU)"
        else:
            # TensorRT-RTX (or "auto") builds ahead of time wherever it is installed.
            resources[aot_resource(target)] = 1.0
            description = f"build for {target.upper()} with {title}"
    elif uses_backend:
        description = f"{'build' if builds else 'parse'} with {title}"
    elif kind == "transform" or task.func == "workbench.precision:transform_model":
        description = "run a ModelOpt precision transform"
    else:
        description = f"run a {kind} task"
    if (needs and needs.modelopt) or kind == "transform":
        resources[MODELOPT] = 1.0
    if needs:
        resources.update(needs.resources)
    return Requirement(resources=resources, num_gpus=num_gpus, description=description)


# ----------------------------------------------------------------------------- refusals


def _words(resource: str, amount: float = 1.0) -> str:
    """A resource name in the words a refusal uses."""
    if resource == NODE:
        return (
            "trt-workbench (start each node with "
            "ray start --resources \"$(python -m workbench.capabilities --ray-resources)\")"
        )
    if resource == ANY_BACKEND:
        return "TensorRT or TensorRT-RTX"
    if resource == MODELOPT:
        return "NVIDIA Model Optimizer"
    if resource == "GPU":
        return "a GPU"
    if resource.startswith(f"{PREFIX}aot_"):
        target = resource[len(f"{PREFIX}aot_"):]
        return f"TensorRT-RTX ahead-of-time builds for {target.upper()}"
    if resource.startswith(f"{PREFIX}gpu_"):
        target = resource[len(f"{PREFIX}gpu_"):]
        family = GPU_FAMILIES.get(target)
        return f"an {target.upper()} GPU" + (f" ({family})" if family else "")
    if resource.startswith(f"{ANY_BACKEND}_"):
        name, _, version = resource[len(f"{ANY_BACKEND}_"):].partition("_")
        return f"{_BACKEND_TITLES.get(name, name)} {version}".strip()
    return f"{amount:g} of the resource {resource!r}"


def describe_resources(resources: Mapping[str, float], gpu_names: list[str] | None = None) -> str:
    """What one node offers, in words: "TensorRT-RTX 1.7.1.116 (AOT builds for SM75, ...), no GPU"."""
    if NODE not in resources:
        return "no trt-workbench"
    backends: dict[str, list[str]] = {}
    for key in resources:
        if key.startswith(f"{ANY_BACKEND}_"):
            name, _, version = key[len(f"{ANY_BACKEND}_"):].partition("_")
            backends.setdefault(name, [])
            if version:
                backends[name].append(version)
    parts = []
    aot = sorted((k[len(f"{PREFIX}aot_"):] for k in resources if k.startswith(f"{PREFIX}aot_")), key=_sm_order)
    for name, versions in backends.items():
        text = _BACKEND_TITLES.get(name, name)
        if versions:
            text += " " + max(versions, key=len)
        if name == "tensorrt-rtx" and aot:
            text += f" (AOT builds for {', '.join(t.upper() for t in aot)})"
        parts.append(text)
    if not backends:
        parts.append("no TensorRT")
    gpus = {k[len(f"{PREFIX}gpu_"):]: v for k, v in resources.items() if k.startswith(f"{PREFIX}gpu_")}
    if gpus:
        names = f" ({', '.join(sorted(set(gpu_names)))})" if gpu_names else ""
        parts.append(", ".join(f"{int(n)}x {t.upper()} GPU" for t, n in sorted(gpus.items())) + names)
    elif resources.get("GPU"):
        parts.append(f"{int(resources['GPU'])} GPU(s) of unknown compute capability")
    else:
        parts.append("no GPU")
    if MODELOPT in resources:
        parts.append("Model Optimizer")
    return ", ".join(parts)


def _sm_order(target: str) -> int:
    digits = re.sub(r"[^0-9]", "", target)
    return int(digits) if digits else 0


def _missing(requirement: Requirement, node: Mapping[str, float]) -> list[str]:
    missing = [k for k, amount in requirement.resources.items() if node.get(k, 0.0) < amount]
    # A node advertising the GPU kind but with no GPU for Ray is missing "a GPU" too.
    no_gpu = requirement.num_gpus and node.get("GPU", 0.0) < requirement.num_gpus
    if no_gpu and not any(k.startswith(f"{PREFIX}gpu_") for k in missing):
        missing.append("GPU")
    return missing


def refusal(
    requirement: Requirement, cluster: Mapping[str, float] | Iterable[Mapping[str, float]]
) -> str | None:
    """Why no node can serve ``requirement`` (one sentence naming what is missing and what
    the cluster has), or None when one can.

    ``cluster`` is each alive node's total resources (``ray.nodes()[i]["Resources"]``), or
    one dict (``ray.cluster_resources()``, read as a single node).
    """
    nodes = [dict(cluster)] if isinstance(cluster, Mapping) else [dict(n) for n in cluster]
    if not nodes:
        return f"Nothing can {requirement.description}: the cluster has no alive node."
    gaps = [_missing(requirement, node) for node in nodes]
    if any(not gap for gap in gaps):
        return None
    closest = min(gaps, key=len)
    needed = " and ".join(_words(k, requirement.resources.get(k, 1.0)) for k in closest)
    offers: dict[str, int] = {}
    for node in nodes:
        text = describe_resources(node)
        offers[text] = offers.get(text, 0) + 1
    has = "; ".join(f"{n} node{'s' if n > 1 else ''} with {text}" for text, n in offers.items())
    which = "the closest node" if len(nodes) > 1 else "the only node"
    return f"Nothing in the cluster can {requirement.description}: {which} lacks {needed}; the cluster has {has}."


def local_refusal(task: Task) -> str | None:
    """:func:`refusal` against this machine alone (what the local pool can serve)."""
    caps = local_capabilities()
    resources = as_ray_resources(caps)
    if caps.gpus:
        resources["GPU"] = float(len(caps.gpus))
    return refusal(requirement_for(task), resources)


# ----------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> int:
    """``python -m workbench.capabilities [--ray-resources | --ray-labels | --json]``."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m workbench.capabilities",
        description="What this node can do for trt-workbench, in the forms `ray start` takes.",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--ray-resources", action="store_true", help="JSON for ray start --resources")
    group.add_argument("--ray-labels", action="store_true", help="key=value,... for ray start --labels")
    group.add_argument("--json", action="store_true", help="the whole capability record as JSON")
    args = parser.parse_args(argv)
    caps = local_capabilities()
    if args.ray_resources:
        print(json.dumps(as_ray_resources(caps), sort_keys=True))
    elif args.ray_labels:
        print(labels_argument(as_ray_labels(caps)))
    elif args.json:
        print(json.dumps(caps.to_dict(), indent=2))
    else:
        print(f"{caps.host}: {caps.describe()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
