"""Property tests (Hypothesis) of what parses user text and file bytes: every input either
parses to something well-formed or is refused with a WorkbenchError, never anything else."""

from __future__ import annotations

import contextlib
import json
import math

import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from workbench.compare import TOLERANCE_METRICS, parse_tolerances
from workbench.errors import ExternalDataError, ModelLoadError, WorkbenchError
from workbench.external_data import external_refs, whole_number
from workbench.fixing import parse_input_values
from workbench.shapes import format_shape_spec, parse_shape_spec

names = st.text(st.characters(blacklist_characters=":,\n\r", blacklist_categories=("Cs",)), min_size=1, max_size=20).filter(
    lambda s: s.strip() == s and s != ""
)
dims = st.lists(st.integers(0, 4096), min_size=0, max_size=5)


@st.composite
def triples(draw: st.DrawFn) -> list[list[int]]:
    rank = draw(st.integers(1, 5))
    lo = [draw(st.integers(0, 64)) for _ in range(rank)]
    opt = [a + draw(st.integers(0, 64)) for a in lo]
    hi = [b + draw(st.integers(0, 64)) for b in opt]
    return [lo, opt, hi]


@given(names, triples())
def test_shape_spec_round_trips(name: str, triple: list[list[int]]) -> None:
    assert parse_shape_spec(format_shape_spec(name, triple)) == (name, triple)


@given(st.text(max_size=60))
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_any_shape_text_parses_well_formed_or_is_refused(text: str) -> None:
    try:
        name, (lo, opt, hi) = parse_shape_spec(text)
    except WorkbenchError as exc:
        assert exc.message and "\n" not in exc.message.replace(text, "")
        return
    assert name
    assert len(lo) == len(opt) == len(hi)
    assert all(0 <= a <= b <= c for a, b, c in zip(lo, opt, hi))


@given(st.sampled_from(list(TOLERANCE_METRICS)), st.floats(allow_nan=False, allow_infinity=False))
def test_tolerance_round_trips(metric: str, value: float) -> None:
    assert parse_tolerances([f"{metric}={value!r}"]) == {metric: value}


@given(st.text(max_size=40))
def test_any_tolerance_text_is_finite_or_refused(text: str) -> None:
    try:
        parsed = parse_tolerances([text])
    except WorkbenchError:
        return
    ((metric, value),) = parsed.items()
    assert metric in TOLERANCE_METRICS and math.isfinite(value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=10,
)


@given(names.filter(lambda s: "=" not in s), json_values)
def test_input_value_round_trips(name: str, value: object) -> None:
    assert parse_input_values([f"{name}={json.dumps(value)}"]) == {name: value}


@given(st.text(max_size=40))
def test_any_input_value_text_parses_or_is_refused(text: str) -> None:
    try:
        parsed = parse_input_values([text])
    except WorkbenchError:
        return
    assert len(parsed) == 1


@given(st.text(max_size=30))
def test_external_data_numbers_are_whole_and_non_negative_or_refused(text: str) -> None:
    try:
        value = whole_number(text, "w", "offset", 0)
    except ExternalDataError as exc:
        assert "whole number" in exc.message
        return
    assert value >= 0
    assert (text.strip() == "" and value == 0) or int(text.strip()) == value


@given(st.binary(max_size=300))
@settings(max_examples=300)
def test_the_external_data_scanner_never_fails_on_junk(data: bytes) -> None:
    with contextlib.suppress(ModelLoadError):
        external_refs(data)


@given(
    st.lists(
        st.tuples(
            st.from_regex(r"[a-z][a-z0-9_.]{0,8}", fullmatch=True),
            st.integers(0, 10**12).map(str) | st.just("abc") | st.just("-4"),
        ),
        min_size=1,
        max_size=5,
        unique_by=lambda t: t[0],
    )
)
def test_the_scanner_finds_exactly_what_onnx_finds(entries: list[tuple[str, str]]) -> None:
    nodes, inits = [], []
    for i, (location, offset) in enumerate(entries):
        tensor = TensorProto(name=f"w{i}", data_type=TensorProto.FLOAT, dims=[1], data_location=TensorProto.EXTERNAL)
        for key, value in (("location", location), ("offset", offset)):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
        if i % 2:
            # A Constant node's tensor inside an If branch: the scanner must look into subgraphs.
            branch = helper.make_graph(
                [helper.make_node("Constant", [], [f"c{i}"], value=tensor)], f"b{i}", [], [helper.make_tensor_value_info(f"c{i}", TensorProto.FLOAT, [1])]
            )
            nodes.append(helper.make_node("If", ["cond"], [f"o{i}"], then_branch=branch, else_branch=branch))
        else:
            inits.append(tensor)
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("cond", TensorProto.BOOL, [])], [], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    data = model.SerializeToString()
    from workbench.model import _external_data_refs

    expected = sorted((ref.tensor, ref.location, ref.offset) for _, ref in _external_data_refs(onnx.load_from_string(data)))
    found = sorted((ref.tensor, ref.location, ref.offset) for ref in external_refs(data))
    # A tensor in both branches of an If is listed twice by both walkers.
    assert found == expected
    assert len({t for t, _, _ in found}) == len(entries)


def test_whole_number_refuses_lookalikes() -> None:
    for text in ("-5", "1e3", "0x10", "²", "٣", "1.0", " 12 3"):
        with pytest.raises(ExternalDataError):
            whole_number(text, "w", "length", -1)
    assert whole_number(" 12 ", "w", "length", -1) == 12
