"""Input shapes: trtexec-style specs (``NAME:1x3x224x224`` or ``NAME:MIN,OPT,MAX``), the one
rule that turns dynamic dims into concrete sizes, and profiles suggested from observed shapes."""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from workbench.errors import WorkbenchError
from workbench.serialize import JsonRecord

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


# ----------------------------------------------------------------------------- concrete shapes

#: Symbolic dim names that mean "the batch" wherever they sit.
BATCH_NAMES = frozenset({"batch", "batch_size", "n", "b", "bs", "N"})
#: What every notice about defaulted dims ends with.
DEFAULT_ADVICE = "give the shapes you serve with --shapes NAME:DIMS"


class HasShape(Protocol):
    """An input as the summary (``TensorInfo``), ONNX Runtime (``NodeArg``) or a worker sees
    it: a name and a shape whose dims are ints (fixed when >= 0), names or None."""

    @property
    def name(self) -> str: ...

    @property
    def shape(self) -> Sequence[Any] | None: ...


class InputShape(NamedTuple):
    """A light :class:`HasShape` for callers with only a name and dims (a TensorRT worker)."""

    name: str
    shape: Sequence[Any] | None


def is_fixed_dim(dim: Any) -> bool:
    """A dim the model fixes (as the summary counts them: an int >= 0)."""
    return isinstance(dim, int) and not isinstance(dim, bool) and dim >= 0


def _dim_label(name: str, axis: int, dim: Any) -> str:
    symbol = dim if isinstance(dim, str) and dim and not dim.startswith("unk__") else "?"
    return f"{name}[{axis}]={symbol}"


def _given_dims(value: Any) -> list[int]:
    """Dims from a ``--shapes`` triple (its opt shape) or from plain dims."""
    items = list(value)
    if items and all(isinstance(v, (list, tuple)) for v in items):
        return [int(d) for d in items[1 if len(items) > 1 else 0]]
    return [int(d) for d in items]


def concrete_shapes(
    inputs: Iterable[HasShape],
    given: Mapping[str, Any] | None = None,
    *,
    default: int = 1,
    batch: int | None = None,
    advice: str = DEFAULT_ADVICE,
) -> tuple[dict[str, list[int]], list[str]]:
    """The shape each input runs at, and the notice that says which dims were defaulted.

    ``given`` maps input names to a ``--shapes`` triple (``[min, opt, max]``, its opt shape
    is used) or to plain dims. Every other dynamic dim becomes ``default`` (1, as the build
    check, trtexec and Polygraphy do); with ``batch``, a dynamic batch axis (axis 0, or a
    dim named like a batch) becomes ``batch`` instead. Inputs of unknown rank are left out
    of the shapes, for the caller to refuse in its own words. The notes are empty when
    nothing was defaulted, else one sentence: ``dynamic dims defaulted to 1: input[0]=batch;
    give the shapes you serve with --shapes NAME:DIMS.``
    """
    shapes: dict[str, list[int]] = {}
    defaulted: dict[int, list[str]] = {}
    for inp in inputs:
        if given and inp.name in given:
            shapes[inp.name] = _given_dims(given[inp.name])
            continue
        if inp.shape is None:
            continue
        dims = []
        for axis, dim in enumerate(inp.shape):
            if is_fixed_dim(dim):
                dims.append(int(dim))
                continue
            is_batch = axis == 0 or (isinstance(dim, str) and dim in BATCH_NAMES)
            value = batch if (batch is not None and is_batch) else default
            dims.append(value)
            defaulted.setdefault(value, []).append(_dim_label(inp.name, axis, dim))
        shapes[inp.name] = dims
    if not defaulted:
        return shapes, []
    groups = [f"to {value}: {', '.join(labels)}" for value, labels in defaulted.items()]
    return shapes, [f"dynamic dims defaulted {'; '.join(groups)}; {advice}."]


# ----------------------------------------------------------------------------- observed shapes

#: An observed-shapes file larger than this is refused (a log of a million requests is ~40 MB).
MAX_OBSERVED_BYTES = 256 * 2**20
_EXAMPLE = "one request per line, like image:1x3x640x960"


def _request_from_text(text: str, where: str) -> dict[str, list[int]]:
    request: dict[str, list[int]] = {}
    for token in text.replace(",", " ").split():
        name, sep, dims = token.rpartition(":")
        if not sep or not name:
            raise WorkbenchError(f"{where}: {token!r} is not NAME:DIMS ({_EXAMPLE}).")
        try:
            parsed = parse_dims(dims, token)
        except WorkbenchError:
            raise WorkbenchError(f"{where}: {token!r} has bad dims ({_EXAMPLE}).") from None
        if name in request:
            raise WorkbenchError(f"{where} gives input {name!r} twice.")
        request[name] = parsed
    return request


def _request_from_json(item: Any, where: str) -> dict[str, list[int]]:
    if isinstance(item, str):
        return _request_from_text(item, where)
    if isinstance(item, dict) and item:
        request: dict[str, list[int]] = {}
        for name, dims in item.items():
            if isinstance(dims, str):
                request[str(name)] = _request_from_text(f"{name}:{dims}", where)[str(name)]
            elif isinstance(dims, list) and all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in dims
            ):
                request[str(name)] = [int(d) for d in dims]
            else:
                raise WorkbenchError(
                    f"{where}: the dims of {name!r} are not a list of whole numbers or a 1x3x640x960 string."
                )
        return request
    raise WorkbenchError(f"{where} is neither a shape string nor a {{name: dims}} object.")


def parse_observed_shapes(text: str, source: str = "the observed shapes") -> list[dict[str, list[int]]]:
    """Observed request shapes: one request per line (``image:1x3x640x960``, several inputs
    separated by spaces or commas; ``#`` starts a comment), or a JSON list of such strings
    or of ``{name: dims}`` objects. Every request must give the same inputs at the same ranks."""
    stripped = text.strip()
    requests: list[tuple[str, dict[str, list[int]]]] = []
    if stripped.startswith("[") or stripped.startswith("{"):
        try:
            items = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise WorkbenchError(f"{source} is not valid JSON ({exc.msg} at line {exc.lineno}).") from None
        if not isinstance(items, list):
            raise WorkbenchError(
                f"{source} is JSON but not a list of requests (strings or {{name: dims}} objects)."
            )
        for i, item in enumerate(items):
            where = f"{source} item {i}"
            requests.append((where, _request_from_json(item, where)))
    else:
        for number, line in enumerate(text.splitlines(), 1):
            content = line.split("#", 1)[0].strip()
            if content:
                where = f"{source} line {number}"
                requests.append((where, _request_from_text(content, where)))
    if not requests:
        raise WorkbenchError(f"{source} holds no shapes: write {_EXAMPLE}.")
    _, first = requests[0]
    for where, request in requests[1:]:
        if set(request) != set(first):
            raise WorkbenchError(
                f"{where} names {', '.join(sorted(request))} but the first request names "
                f"{', '.join(sorted(first))}: every request must give the same inputs."
            )
        for name, dims in request.items():
            if len(dims) != len(first[name]):
                raise WorkbenchError(
                    f"{where} gives {name!r} rank {len(dims)} but the first request gives it rank {len(first[name])}."
                )
    return [request for _, request in requests]


def load_observed_shapes(path: str | Path) -> list[dict[str, list[int]]]:
    """:func:`parse_observed_shapes` of a file, refused in one sentence when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise WorkbenchError(f"--observed-shapes {path}: no such file.")
    size = path.stat().st_size
    if size > MAX_OBSERVED_BYTES:
        raise WorkbenchError(
            f"--observed-shapes {path} is {size / 2**20:,.0f} MiB, more than the {MAX_OBSERVED_BYTES // 2**20} MiB "
            "allowed: give a histogram of distinct shapes or a sample of the requests."
        )
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise WorkbenchError(f"--observed-shapes {path} is not a text file ({_EXAMPLE}, or JSON).") from None
    return parse_observed_shapes(text, f"--observed-shapes {path.name}")


def check_observed_against(
    inputs: Iterable[HasShape], observed: list[dict[str, list[int]]], flag: str = "--observed-shapes"
) -> None:
    """Refuse observed shapes that name no input of the model or contradict its fixed dims."""
    known = {inp.name: inp for inp in inputs}
    first = observed[0]
    for name, dims in first.items():
        inp = known.get(name)
        if inp is None:
            raise WorkbenchError(
                f"{flag} names {name!r}, which is not an input of the model (inputs: {', '.join(known) or 'none'})."
            )
        if inp.shape is None:
            continue
        if len(dims) != len(inp.shape):
            raise WorkbenchError(
                f"{flag} gives {name!r} rank {len(dims)}; the model's input has rank {len(inp.shape)}."
            )
        for i, request in enumerate(observed):
            for axis, (dim, declared) in enumerate(zip(request[name], inp.shape)):
                if is_fixed_dim(declared) and dim != declared:
                    raise WorkbenchError(
                        f"{flag} request {i + 1} gives {name!r} axis {axis} = {dim}; the model fixes it to {declared}."
                    )


# ----------------------------------------------------------------------------- profile suggestion

#: A request whose dims are all within this factor of its profile's opt shape runs near it.
NEAR_OPT = 1.25
#: A dim's sizes fall into separate groups when splitting them into k groups leaves at most
#: this share of what splitting evenly spread sizes would leave ((j/k)^2 of the spread of j
#: groups): the groups are then far apart compared with their own widths.
SEPARATE_GROUPS = 0.6
#: Every profile serves at least this share of the requests (smaller groups join a neighbour).
MIN_PROFILE_SHARE = 0.05
#: Sizes within about 15% of their group's centre (RMS, log2 0.2) are not split further.
MIN_SPREAD = 0.2
#: Groups looked for in one dim before the profiles are merged down to ``max_profiles``.
AXIS_GROUPS = 4
#: Distinct sizes per dim above this are binned (on a log scale) before they are grouped.
_MAX_BINS = 256


@dataclass
class ProfileSuggestion(JsonRecord):
    """Optimization profiles suggested from observed request shapes, and why."""

    #: input -> [min, opt, max] per profile, the most requested first.
    profiles: list[dict[str, list[list[int]]]]
    #: The share of the observed requests each profile serves.
    shares: list[float]
    #: Why these profiles: the headline first, then how the count and the opt shapes were chosen.
    reasons: list[str]
    #: How many requests were observed, and how many distinct shapes among them.
    requests: int = 0
    distinct: int = 0
    #: One profile over every observed shape (opt: the first profile's), for a single-profile
    #: check such as diagnose's build check.
    covering: dict[str, list[list[int]]] = field(default_factory=dict)
    #: The dims whose size varies, as ``input[axis]``.
    varying: list[str] = field(default_factory=list)

    def flags(self) -> list[str]:
        """The build flags that give these profiles: ``--shapes ...``, then one
        ``--extra-profile`` per further profile."""
        args = []
        for i, profile in enumerate(self.profiles):
            specs = [format_shape_spec(name, triple) for name, triple in profile.items()]
            if i == 0:
                args += [f"--shapes {spec}" for spec in specs]
            else:
                args.append(f"--extra-profile '{' '.join(specs)}'")
        return args


def _log2(dim: int) -> float:
    return math.log2(max(dim, 1))


def _partitions(values: list[float], weights: list[float], kmax: int) -> dict[int, tuple[float, list[int]]]:
    """Optimal 1-D k-means of sorted ``values`` for k = 1..kmax: (squared spread, first index of each group)."""
    n = len(values)
    pw = [0.0] * (n + 1)
    px = [0.0] * (n + 1)
    pxx = [0.0] * (n + 1)
    for i, (x, w) in enumerate(zip(values, weights)):
        pw[i + 1] = pw[i] + w
        px[i + 1] = px[i] + w * x
        pxx[i + 1] = pxx[i] + w * x * x

    def cost(i: int, j: int) -> float:  # values[i:j] as one group
        w = pw[j] - pw[i]
        s = px[j] - px[i]
        return max(0.0, (pxx[j] - pxx[i]) - s * s / w) if w else 0.0

    best = [[math.inf] * (n + 1) for _ in range(kmax + 1)]
    cut = [[0] * (n + 1) for _ in range(kmax + 1)]
    best[0][0] = 0.0
    for k in range(1, kmax + 1):
        for j in range(k, n + 1):
            for i in range(k - 1, j):
                c = best[k - 1][i] + cost(i, j)
                if c < best[k][j]:
                    best[k][j], cut[k][j] = c, i
    result = {}
    for k in range(1, min(kmax, n) + 1):
        starts = []
        j = n
        for level in range(k, 0, -1):
            i = cut[level][j]
            starts.append(i)
            j = i
        result[k] = (best[k][n], sorted(starts))
    return result


def _axis_groups(sizes: list[tuple[int, int]], kmax: int) -> tuple[list[int], str]:
    """Group one dim's observed (size, count) pairs: the upper bounds of each group but the
    last, and a sentence on how many groups and why."""
    total = float(sum(c for _, c in sizes))
    logs = sorted((_log2(v), float(c), v) for v, c in sizes)
    if len(logs) > _MAX_BINS:  # bin on a log scale: the groups' boundaries, not exact sizes, matter
        lo, hi = logs[0][0], logs[-1][0]
        bins: dict[int, list[tuple[float, float, int]]] = {}
        for item in logs:
            bins.setdefault(min(_MAX_BINS - 1, int((item[0] - lo) / (hi - lo) * _MAX_BINS)), []).append(item)
        logs = [
            (
                sum(x * c for x, c, _ in b) / sum(c for _, c, _ in b),
                sum(c for _, c, _ in b),
                max(v for _, _, v in b),
            )
            for _, b in sorted(bins.items())
        ]
    values = [x for x, _, _ in logs]
    weights = [c for _, c, _ in logs]
    # Sizes come in steps (multiples of 32, powers of two): each stands for an interval as
    # wide as the typical step, so evenly spaced steps (1, 2, 4, 8) read as one spread.
    # Two sizes alone are two groups: a step needs a third size to be a step.
    steps = sorted(b - a for a, b in itertools.pairwise(values))
    step = steps[len(steps) // 2] if len(steps) > 1 else 0.0
    quantization = total * step * step / 12
    parts = _partitions(values, weights, kmax)
    chosen = 1
    why = ""
    for k in range(2, len(parts) + 1):
        sse_j = parts[chosen][0] + quantization
        sse_k = parts[k][0] + quantization
        starts = parts[k][1] + [len(values)]
        shares = [sum(weights[a:b]) / total for a, b in itertools.pairwise(starts)]
        even = (chosen / k) ** 2
        if math.sqrt(sse_j / total) <= MIN_SPREAD:
            why = (
                why or f"its sizes stay within about {2 ** math.sqrt(sse_j / total) - 1:.0%} of their centre"
            )
            break
        if min(shares) < MIN_PROFILE_SHARE:
            why = why or f"{k} groups would leave one with {min(shares):.0%} of the requests"
            continue
        if sse_k <= SEPARATE_GROUPS * even * sse_j:
            chosen = k
            why = ""
        else:
            why = why or (
                f"splitting it in {k} leaves {sse_k / sse_j:.0%} of its spread, no better than evenly spread "
                f"sizes would ({even:.0%})"
            )
    starts = parts[chosen][1] + [len(values)]
    bounds = [int(max(v for _, _, v in logs[a:b])) for a, b in itertools.pairwise(starts[:-1])]
    return bounds, why


def _weighted_median(values: list[tuple[int, int]]) -> int:
    """The lower weighted median of (value, weight) pairs."""
    ordered = sorted(values)
    half = sum(w for _, w in ordered) / 2
    running = 0
    for value, weight in ordered:
        running += weight
        if running >= half:
            return value
    return ordered[-1][0]


Request = dict[str, list[int]]


def _profile_of(
    members: list[tuple[Request, int]], names: list[str]
) -> tuple[dict[str, list[list[int]]], str]:
    """min/max over the members; opt the most frequent shape when it is common, else the median."""
    weight = sum(w for _, w in members)
    top, top_weight = max(members, key=lambda m: m[1])
    if top_weight > 1 and top_weight >= 0.25 * weight:
        opt = {n: list(top[n]) for n in names}
        why = f"the most frequent shape ({top_weight / weight:.0%} of this profile's requests)"
    else:
        opt = {
            n: [_weighted_median([(req[n][a], w) for req, w in members]) for a in range(len(top[n]))]
            for n in names
        }
        why = "the median size of each dim"
    profile = {}
    for n in names:
        rank = len(top[n])
        lo = [min(req[n][a] for req, _ in members) for a in range(rank)]
        hi = [max(req[n][a] for req, _ in members) for a in range(rank)]
        profile[n] = [lo, opt[n], hi]
    return profile, why


def _ranges(profile: dict[str, list[list[int]]], varying: list[tuple[str, int]]) -> str:
    """``image[2,3] 640-800`` (axes of one input with the same range share one entry)."""
    groups: dict[tuple[str, int, int], list[int]] = {}
    for name, axis in varying:
        groups.setdefault((name, profile[name][0][axis], profile[name][2][axis]), []).append(axis)
    return ", ".join(
        f"{name}[{','.join(str(a) for a in axes)}] {lo if lo == hi else f'{lo}-{hi}'}"
        for (name, lo, hi), axes in groups.items()
    )


def _far(members: list[tuple[Request, int]], opt: Request, varying: list[tuple[str, int]]) -> int:
    """How many requests have some dim more than NEAR_OPT away from the opt shape."""
    limit = math.log2(NEAR_OPT) + 1e-9
    return sum(
        w for req, w in members if any(abs(_log2(req[n][a]) - _log2(opt[n][a])) > limit for n, a in varying)
    )


def suggest_profiles(observed: list[Request], max_profiles: int = 3) -> ProfileSuggestion:
    """How many optimization profiles observed request shapes call for, each with min/max
    over the requests it serves and opt at their most frequent shape (else the median).

    Each varying dim's sizes are grouped on a log scale (optimal 1-D k-means over their
    histogram), except the batch (axis 0 of an input of rank 2 or more), which varies inside
    each profile as TensorRT profiles usually do; a dim splits into groups only when they are far apart compared with their
    widths (much less spread left than splitting evenly spread sizes would leave), each
    holds at least 5% of the requests, and the sizes spread more than ~15%. Requests in the
    same groups of every dim share a profile; groups under 5% of the requests, or beyond
    ``max_profiles``, join their nearest neighbour. Every observed shape falls inside the
    [min, max] of the profile that serves it.
    """
    if not observed:
        raise WorkbenchError("No observed shapes to suggest profiles from.")
    if max_profiles < 1:
        raise WorkbenchError("max_profiles must be 1 or more.")
    names = list(observed[0])
    for request in observed:
        if set(request) != set(names) or any(len(request[n]) != len(observed[0][n]) for n in names):
            raise WorkbenchError("Every observed request must give the same inputs at the same ranks.")
    histogram = Counter(tuple((n, tuple(request[n])) for n in names) for request in observed)
    distinct = [({n: list(dims) for n, dims in key}, count) for key, count in histogram.most_common()]
    total = len(observed)
    varying = [
        (n, a)
        for n in names
        for a in range(len(observed[0][n]))
        if len({req[n][a] for req, _ in distinct}) > 1
    ]
    if not varying:
        profile, _ = _profile_of(distinct, names)
        return ProfileSuggestion(
            profiles=[profile],
            shares=[1.0],
            reasons=[
                f"1 profile: all {total} observed requests have the same shape, so it can be static (min = opt = max)."
            ],
            requests=total,
            distinct=1,
            covering=profile,
        )

    # The batch (axis 0 of an input of rank 2 or more) varies inside each profile, as
    # TensorRT profiles usually do (opt at the common batch); the other dims split profiles.
    shaped = [(n, a) for n, a in varying if not (a == 0 and len(observed[0][n]) > 1)]
    judged = shaped or varying  # what "near the opt shape" is measured on
    bounds: dict[tuple[str, int], list[int]] = {na: [] for na in varying}
    unsplit: dict[tuple[str, int], str] = {
        na: "a batch dim varies inside a profile" for na in varying if na not in shaped
    }
    for n, a in shaped:
        sizes: Counter[int] = Counter()
        for req, count in distinct:
            sizes[req[n][a]] += count
        bounds[(n, a)], unsplit[(n, a)] = _axis_groups(list(sizes.items()), max(max_profiles, AXIS_GROUPS))

    def cell(req: Request) -> tuple[int, ...]:
        return tuple(sum(req[n][a] > b for b in bounds[(n, a)]) for n, a in varying)

    cells: dict[tuple[int, ...], list[tuple[Request, int]]] = {}
    for req, count in distinct:
        cells.setdefault(cell(req), []).append((req, count))
    groups = list(cells.values())
    found = len(groups)

    def centre(members: list[tuple[Request, int]]) -> list[float]:
        weight = sum(w for _, w in members)
        return [sum(_log2(r[n][a]) * w for r, w in members) / weight for n, a in varying]

    while len(groups) > 1:
        weights = [sum(w for _, w in g) for g in groups]
        small = min(range(len(groups)), key=lambda i: weights[i])
        if len(groups) <= max_profiles and weights[small] >= MIN_PROFILE_SHARE * total:
            break
        c = centre(groups[small])
        near = min(
            (i for i in range(len(groups)) if i != small),
            key=lambda i: sum((x - y) ** 2 for x, y in zip(c, centre(groups[i]))),
        )
        groups[near] = groups[near] + groups[small]
        del groups[small]
    groups.sort(key=lambda g: -sum(w for _, w in g))

    built = [_profile_of(g, names) for g in groups]
    profiles = [p for p, _ in built]
    shares = [sum(w for _, w in g) / total for g in groups]
    k = len(profiles)
    described = [
        f"{_ranges(p, varying)} ({s:.0%}{' of requests' if i == 0 else ''})"
        for i, (p, s) in enumerate(zip(profiles, shares))
    ]
    head = f"{k} profile{'s' if k > 1 else ''}: " + (
        described[0] if k == 1 else ", ".join(described[:-1]) + " and " + described[-1]
    )
    reasons = [f"{head}, from {total} observed requests ({len(distinct)} distinct shapes)."]
    one, _ = _profile_of(distinct, names)
    one_opt = {n: one[n][1] for n in names}
    far_one = _far(distinct, one_opt, judged) / total
    dims_word = "some dim" if judged == varying else "some dim other than the batch"
    if k > 1:
        far_now = sum(_far(g, {n: p[n][1] for n in names}, judged) for g, p in zip(groups, profiles)) / total
        split = [f"{n}[{a}]" for n, a in varying if bounds[(n, a)]]
        gaps = []
        for n, a in varying:
            for b in bounds[(n, a)]:
                above = [r[n][a] for r, _ in distinct if r[n][a] > b]
                gaps.append(f"{n}[{a}] {b} and {min(above)}")
        opt_text = ", ".join(format_shape_spec(n, [one_opt[n]] * 3) for n in names)
        reasons.append(
            f"The sizes of {', '.join(split)} fall into separate groups (no requests between {', '.join(gaps)}): "
            f"one profile over {_ranges(one, varying)} would tune for {opt_text}, and {far_one:.0%} of the requests "
            f"differ from it by more than {NEAR_OPT - 1:.0%} in {dims_word}; with {k} profiles {far_now:.0%} do."
        )
        if found > k:
            reasons.append(
                f"The dims' groups combine into {found} groups of requests; the smallest joined their nearest "
                f"neighbour (at most {max_profiles} profiles, each serving at least {MIN_PROFILE_SHARE:.0%})."
            )
    else:
        widest = max(judged, key=lambda na: len({r[na[0]][na[1]] for r, _ in distinct}))
        reasons.append(
            f"The requests form one group: no dim's sizes fall into separate groups "
            f"({widest[0]}[{widest[1]}]: {unsplit[widest] or 'no split separates them'}); "
            f"{far_one:.0%} of the requests differ from the opt shape by more than {NEAR_OPT - 1:.0%} in {dims_word}."
        )
    for i, (p, why) in enumerate(built):
        opt_text = ", ".join(format_shape_spec(n, [p[n][1]] * 3) for n in names)
        reasons.append(f"Profile {i}: opt {opt_text}, {why}; min and max are the extremes of its requests.")
    covering = {
        n: [
            [min(r[n][a] for r, _ in distinct) for a in range(len(observed[0][n]))],
            list(profiles[0][n][1]),
            [max(r[n][a] for r, _ in distinct) for a in range(len(observed[0][n]))],
        ]
        for n in names
    }
    return ProfileSuggestion(
        profiles=profiles,
        shares=shares,
        reasons=reasons,
        requests=total,
        distinct=len(distinct),
        covering=covering,
        varying=[f"{n}[{a}]" for n, a in varying],
    )
