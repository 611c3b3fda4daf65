"""Input shapes in trtexec's syntax: ``NAME:1x3x224x224`` or ``NAME:MIN,OPT,MAX``."""

from __future__ import annotations

from collections.abc import Iterable

from workbench.errors import WorkbenchError

#: input name -> [min, opt, max], each a list of ints.
ShapeProfile = dict[str, list[list[int]]]


def parse_dims(text: str, spec: str) -> list[int]:
    text = text.strip()
    if not text:
        raise WorkbenchError(f"Empty shape in {spec!r}: write dims like 1x3x224x224.")
    try:
        dims = [int(d) for d in text.lower().split("x")]
    except ValueError as exc:
        raise WorkbenchError(f"Bad shape {text!r} in {spec!r}: write dims like 1x3x224x224.") from exc
    if any(d < 0 for d in dims):
        raise WorkbenchError(f"Bad shape {text!r} in {spec!r}: dims must be 0 or more.")
    return dims


def parse_shape_spec(spec: str) -> tuple[str, list[list[int]]]:
    """``input:1x3x224x224`` (static) or ``input:1x3x224x224,8x3x224x224,32x3x224x224`` (min,opt,max)."""
    name, sep, rest = spec.rpartition(":")
    if not sep or not name:
        raise WorkbenchError(
            f"Bad --shapes value {spec!r}: write NAME:DIMS or NAME:MIN,OPT,MAX (e.g. input:1x3x224x224)."
        )
    parts = [parse_dims(p, spec) for p in rest.split(",")]
    if len(parts) == 1:
        parts = parts * 3
    if len(parts) != 3:
        raise WorkbenchError(
            f"Bad --shapes value {spec!r}: give one shape or three (min,opt,max), not {len(parts)}."
        )
    ranks = {len(p) for p in parts}
    if len(ranks) != 1:
        raise WorkbenchError(f"Bad --shapes value {spec!r}: min, opt and max must have the same rank.")
    lo, opt, hi = parts
    for a, b, c in zip(lo, opt, hi):
        if not a <= b <= c:
            raise WorkbenchError(f"Bad --shapes value {spec!r}: every dim needs min <= opt <= max.")
    return name, parts


def parse_shape_specs(specs: Iterable[str] | None) -> ShapeProfile:
    profile: ShapeProfile = {}
    for spec in specs or []:
        name, triple = parse_shape_spec(spec)
        if name in profile:
            raise WorkbenchError(f"--shapes gives input {name!r} twice.")
        profile[name] = triple
    return profile


def format_shape_spec(name: str, triple: list[list[int]]) -> str:
    dims = ["x".join(str(d) for d in shape) for shape in triple]
    if dims[0] == dims[1] == dims[2]:
        return f"{name}:{dims[0]}"
    return f"{name}:{','.join(dims)}"


def check_profile_inputs(profile: ShapeProfile, input_names: Iterable[str], flag: str = "--shapes") -> None:
    """Refuse shapes for an input the model does not have (before any work is done)."""
    names = list(input_names)
    for name in profile:
        if name not in names:
            raise WorkbenchError(
                f"{flag} names {name!r}, which is not an input of the model (inputs: {', '.join(names) or 'none'})."
            )
