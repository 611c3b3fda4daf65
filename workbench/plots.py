"""Plotly figures shared by the Streamlit pages, the notebooks and the report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from workbench.evaluation import CalibrationStudy, Evaluation
    from workbench.summary import ModelSummary


def op_histogram_figure(summary: ModelSummary, top: int = 25) -> go.Figure:
    """Operator counts, most frequent first; ops from custom domains in a warning colour."""
    import plotly.graph_objects as go

    items = list(summary.op_histogram.items())[:top]
    ops = [op for op, _ in items][::-1]
    counts = [n for _, n in items][::-1]
    colors = ["#d62728" if "::" in op else "#76b900" for op in ops]
    fig = go.Figure(
        go.Bar(
            x=counts, y=ops, orientation="h", marker_color=colors, hovertemplate="%{y}: %{x}<extra></extra>"
        )
    )
    fig.update_layout(
        title=f"Operators in {summary.name} ({summary.node_count} nodes"
        + (
            f", top {top} of {len(summary.op_histogram)} op types)"
            if len(summary.op_histogram) > top
            else ")"
        ),
        xaxis_title="nodes",
        height=max(260, 22 * len(ops) + 90),
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return fig


def _precision_colors() -> dict[str, str]:
    from workbench.precision import PRECISION_INFO

    colors = {name: info.color for name, info in PRECISION_INFO.items()}
    # Engine layers can report precisions no build asks for (4-bit, TensorRT's own kinds).
    colors.setdefault("int4", "#9467bd")
    colors.setdefault("fp4", "#e377c2")
    colors["other"] = "#bcbd22"
    return colors


def precision_color(precision: str | None, default: str | None = None) -> str | None:
    """The chart colour of a precision (from the precision table), or ``default``."""
    return _precision_colors().get(precision or "", default)


def _precision_order() -> list[str]:
    return list(_precision_colors())


def drift_depth_figure(comparison: Any, metric: str = "max_abs") -> go.Figure:
    """Drift along depth for every precision on one chart (log scale): where error grows."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for result in comparison.results:
        if not result.layerwise:
            continue
        xs = list(range(len(result.layerwise)))
        ys = [max(getattr(r, metric), 1e-12) for r in result.layerwise]
        text = [f"{r.node} ({r.op_type})<br>{r.tensor}" for r in result.layerwise]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines+markers",
                name=f"{result.precision.upper()} ({result.backend})",
                line={"color": precision_color(result.precision)},
                text=text,
                hovertemplate="%{text}<br>" + metric + " %{y:.3g}<extra>%{fullData.name}</extra>",
            )
        )
    fig.update_layout(
        title=f"Layer-by-layer drift from FP32 ({metric}, reference: ONNX Runtime CPU)",
        xaxis_title="tensor, in topological order",
        yaxis_title=metric,
        yaxis_type="log",
        height=420,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
        legend={"orientation": "h"},
    )
    return fig


def output_error_figure(comparison: Any) -> go.Figure:
    """Per output and precision: max and mean absolute error against FP32."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for result in comparison.results:
        if not result.outputs:
            continue
        fig.add_trace(
            go.Bar(
                name=f"{result.precision.upper()} max",
                x=[o.name for o in result.outputs],
                y=[o.max_abs for o in result.outputs],
                marker_color=precision_color(result.precision),
            )
        )
        fig.add_trace(
            go.Bar(
                name=f"{result.precision.upper()} mean",
                x=[o.name for o in result.outputs],
                y=[o.mean_abs for o in result.outputs],
                marker_color=precision_color(result.precision),
                opacity=0.5,
            )
        )
    fig.update_layout(
        title="Output error against FP32",
        yaxis_title="absolute error",
        yaxis_type="log",
        barmode="group",
        height=360,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return fig


def layer_timing_figure(profile: Any, top: int = 20) -> go.Figure:
    """The slowest layers, labelled with the backend and device that timed them."""
    import plotly.graph_objects as go

    layers = sorted(profile.layers, key=lambda layer: -layer.ms)[:top][::-1]
    fig = go.Figure(
        go.Bar(
            x=[layer.ms for layer in layers],
            y=[layer.name for layer in layers],
            orientation="h",
            text=[layer.op_type for layer in layers],
            hovertemplate="%{y} (%{text}): %{x:.3f} ms<extra></extra>",
            marker_color="#76b900",
        )
    )
    fig.update_layout(
        title=f"Slowest layers: {profile.backend} on {profile.device}",
        xaxis_title="ms per inference",
        height=max(300, 22 * len(layers) + 100),
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return fig


def op_type_timing_figure(profile: Any) -> go.Figure:
    import plotly.graph_objects as go

    items = list(profile.by_op_type.items())
    fig = go.Figure(
        go.Pie(
            labels=[k or "?" for k, _ in items],
            values=[v for _, v in items],
            hole=0.4,
            hovertemplate="%{label}: %{value:.3f} ms (%{percent})<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"Time by op type: {profile.backend} on {profile.device}",
        height=360,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    return fig


def latency_figure(profiles: dict[str, Any]) -> go.Figure:
    """Latency distributions (one box per profile), each named with its backend and device."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for label, profile in profiles.items():
        fig.add_trace(
            go.Box(
                y=profile.samples_ms,
                name=f"{label} ({profile.backend}, {profile.device})",
                boxpoints="outliers",
            )
        )
    fig.update_layout(
        title="Latency",
        yaxis_title="ms",
        height=380,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
        showlegend=False,
    )
    return fig


def precision_per_layer_figure(builds: list[Any]) -> go.Figure:
    """How many engine layers run in each precision, per build (stacked)."""
    import plotly.graph_objects as go

    ok = [b for b in builds if b.ok]
    names = [b.config.label() if hasattr(b, "config") else b.precision for b in ok]
    precisions = sorted(
        {p for b in ok for p in b.precision_counts},
        key=lambda p: _precision_order().index(p) if p in _precision_order() else 99,
    )
    fig = go.Figure()
    for p in precisions:
        fig.add_trace(
            go.Bar(
                name=p.upper(),
                x=names,
                y=[b.precision_counts.get(p, 0) for b in ok],
                marker_color=precision_color(p),
            )
        )
    fig.update_layout(
        title="Engine layers by precision",
        barmode="stack",
        yaxis_title="layers",
        height=360,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return fig


def comparison_rows(comparison: Any) -> list[dict[str, Any]]:
    """One row per precision and output, naming the backend that computed it; a precision
    that could not be computed gets one row saying why."""
    rows: list[dict[str, Any]] = []
    for r in comparison.results:
        if not r.available:
            rows.append({"precision": r.precision, "computed by": "—", "output": "", "note": r.note or ""})
            continue
        for o in r.outputs:
            rows.append(
                {
                    "precision": r.precision,
                    "computed by": r.backend,
                    "output": o.name,
                    "max_abs": o.max_abs,
                    "mean_abs": o.mean_abs,
                    "rel": o.rel,
                    "cosine": o.cosine,
                    "snr_db": o.snr_db,
                    "top-1": r.top1_agreement,
                    "pass": r.passed,
                    "note": "; ".join(r.failures) or (r.note or ""),
                }
            )
    return rows


def builds_table(
    builds: list[Any], comparison: Any = None, profiles: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """One row per build: size, build time, latency (with its backend) and accuracy."""
    accuracy = {r.precision: r for r in (comparison.results if comparison is not None else [])}
    rows = []
    for b in builds:
        row: dict[str, Any] = {
            "precision": b.precision,
            "ok": b.ok,
            "engine MiB": round((b.engine_bytes or 0) / 2**20, 2) if b.ok else None,
            "build s": round(b.build_seconds or 0, 2) if b.ok else None,
        }
        profile = (profiles or {}).get(b.precision)
        if profile is not None:
            row["latency ms"] = round(profile.latency_ms.mean, 3)
            row["timed by"] = f"{profile.backend} ({profile.device})"
        acc = accuracy.get(b.precision)
        if acc is not None and acc.outputs:
            row["max_abs"] = max(o.max_abs for o in acc.outputs)
            row["cosine"] = min(o.cosine for o in acc.outputs)
            row["accuracy by"] = acc.backend
        rows.append(row)
    return rows


_STATUS_COLORS = {
    "supported": "#76b900",
    "unsupported": "#d62728",
    "blocked": "#ff9896",
    "error": "#d62728",
    "unknown": "#9e9e9e",
}


def graph_figure(
    proto: Any,
    *,
    status: dict[str, str] | None = None,
    shapes: dict[str, str] | None = None,
    drift: dict[str, float] | None = None,
    times: dict[str, float] | None = None,
    precision: dict[str, str] | None = None,
    focus: str | None = None,
    radius: int = 3,
    max_nodes: int = 400,
) -> go.Figure:
    """The model as a layered graph drawn with plotly (no CDN, works offline).

    Nodes sit in columns by depth (longest path from the inputs) and are coloured by
    status (parser error, unsupported, supported) or, when given, engine precision; hover
    shows the op, output shapes, drift and time. Graphs larger than ``max_nodes`` show the
    neighbourhood of ``focus`` (``radius`` hops) so they stay readable.
    """
    import plotly.graph_objects as go

    nodes = list(proto.graph.node)
    names = [n.name or f"{n.op_type}#{i}" for i, n in enumerate(nodes)]
    producer = {out: i for i, n in enumerate(nodes) for out in n.output if out}
    edges = [(producer[t], i) for i, n in enumerate(nodes) for t in n.input if t in producer]
    keep = set(range(len(nodes)))
    if len(nodes) > max_nodes:
        center = names.index(focus) if focus in names else 0
        neighbours: dict[int, set[int]] = {i: set() for i in range(len(nodes))}
        for a, b in edges:
            neighbours[a].add(b)
            neighbours[b].add(a)
        keep, frontier = {center}, {center}
        for _ in range(radius):
            frontier = {m for n in frontier for m in neighbours[n]} - keep
            keep |= frontier
    depth = [0] * len(nodes)
    for a, b in sorted(edges, key=lambda e: e[1]):  # nodes are in topological order
        depth[b] = max(depth[b], depth[a] + 1)
    rows: dict[int, int] = {}
    position = {}
    for i in sorted(keep):
        row = rows.get(depth[i], 0)
        rows[depth[i]] = row + 1
        position[i] = (depth[i], -row)
    edge_x: list[float | None] = []
    edge_y: list[float | None] = []
    for a, b in edges:
        if a in position and b in position:
            edge_x += [position[a][0], position[b][0], None]
            edge_y += [position[a][1], position[b][1], None]
    fig = go.Figure(
        go.Scatter(
            x=edge_x,
            y=edge_y,
            mode="lines",
            line={"color": "#c8c8c8", "width": 1},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    order = sorted(position)
    colors, texts = [], []
    for i in order:
        name = names[i]
        if precision and name in precision:
            colors.append(precision_color(precision[name], "#9e9e9e"))
        else:
            colors.append(_STATUS_COLORS.get((status or {}).get(name, "unknown"), "#9e9e9e"))
        parts = [f"<b>{name}</b>", nodes[i].op_type]
        if shapes:
            parts += [f"{out}: {shapes[out]}" for out in nodes[i].output if out in shapes]
        if status and name in status:
            parts.append(f"TensorRT: {status[name]}")
        if precision and name in precision:
            parts.append(f"engine precision: {precision[name]}")
        if drift and name in drift:
            parts.append(f"drift max_abs: {drift[name]:.3g}")
        if times and name in times:
            parts.append(f"time: {times[name]:.3f} ms")
        texts.append("<br>".join(parts))
    fig.add_trace(
        go.Scatter(
            x=[position[i][0] for i in order],
            y=[position[i][1] for i in order],
            mode="markers+text",
            marker={"size": 14, "color": colors, "line": {"width": 1, "color": "#444"}},
            text=[nodes[i].op_type for i in order],
            textposition="top center",
            textfont={"size": 9},
            hovertext=texts,
            hoverinfo="text",
            showlegend=False,
        )
    )
    shown = (
        f"{len(order)} of {len(nodes)} nodes around {names[min(keep)] if focus is None else focus}"
        if len(order) < len(nodes)
        else f"{len(nodes)} nodes"
    )
    fig.update_layout(
        title=f"Graph ({shown})",
        height=520,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        xaxis={"visible": False},
        yaxis={"visible": False},
        plot_bgcolor="white",
        dragmode="pan",
    )
    return fig


# ----------------------------------------------------------------------------- engines from trtexec exports


def _engine_color(precision: str) -> str:
    """The precision colours above, plus the engine-only precisions (INT4, FP4, unknown)."""
    return precision_color(precision) or "#9e9e9e"


def _engine_precision_order(precisions: set[str]) -> list[str]:
    order = ["fp32", "tf32", "bf16", "fp16", "fp8", "int8", "int4", "fp4", "other", "unknown"]
    return sorted(precisions, key=lambda p: order.index(p) if p in order else len(order))


def _engine_source(reports: list[Any]) -> str:
    devices = sorted({r.device.name for r in reports if r.device.name})
    return f"TensorRT on {', '.join(devices) or 'an unrecorded GPU'}, trtexec export"


def engine_layer_time_figure(report: Any) -> go.Figure:
    """Every engine layer's time in execution order, coloured by the precision it runs in."""
    import plotly.graph_objects as go

    fig = go.Figure()
    layers = list(enumerate(report.layers))
    for precision in _engine_precision_order({layer.precision for _, layer in layers}):
        chosen = [(i, layer) for i, layer in layers if layer.precision == precision]
        fig.add_trace(
            go.Bar(
                x=[i for i, _ in chosen],
                y=[layer.avg_ms or 0.0 for _, layer in chosen],
                name=precision.upper(),
                marker_color=_engine_color(precision),
                text=[f"{layer.name}<br>{layer.type_label} · {layer.tactic or 'tactic unknown'}" for _, layer in chosen],
                textposition="none",
                hovertemplate="#%{x} %{text}<br>%{y:.4f} ms<extra>%{fullData.name}</extra>",
            )
        )
    total = f", {report.total_ms:.3f} ms in total" if report.total_ms is not None else ", no profile export"
    fig.update_layout(
        title=f"Layer times of {report.label} ({len(layers)} layers{total}; {_engine_source([report])})",
        xaxis_title="layer, in execution order",
        yaxis_title="ms per inference (profiled run)",
        barmode="overlay",
        height=380,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
        legend={"orientation": "h"},
    )
    return fig


def engine_precision_mix_figure(reports: list[Any]) -> go.Figure:
    """Per engine: layer time by precision (stacked); layer counts when there are no times."""
    import plotly.graph_objects as go

    timed = all(r.total_ms is not None for r in reports)
    names = [r.label for r in reports]
    fig = go.Figure()
    for precision in _engine_precision_order({layer.precision for r in reports for layer in r.layers}):
        values, counts = [], []
        for r in reports:
            chosen = [layer for layer in r.layers if layer.precision == precision]
            counts.append(len(chosen))
            values.append(sum(layer.avg_ms or 0.0 for layer in chosen) if timed else len(chosen))
        fig.add_trace(
            go.Bar(
                name=precision.upper(),
                x=names,
                y=values,
                customdata=counts,
                marker_color=_engine_color(precision),
                hovertemplate="%{x}: %{y:.4f} (%{customdata} layers)<extra>%{fullData.name}</extra>",
            )
        )
    fig.update_layout(
        title=f"Engine {'layer time' if timed else 'layers'} by precision ({_engine_source(reports)})",
        barmode="stack",
        yaxis_title="ms per inference (sum of layers)" if timed else "layers",
        height=360,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return fig


def engine_compare_figure(comparison: Any, top: int = 30) -> go.Figure:
    """Matched layers side by side (grouped bars per row): rows where a quantized engine is slower first."""
    import plotly.graph_objects as go

    rows = [r for r in comparison.rows if any(c is not None and c.avg_ms for c in r.per_engine)][:top][::-1]
    fig = go.Figure()
    for e, label in enumerate(comparison.labels):
        cells = [row.per_engine[e] for row in rows]
        fig.add_trace(
            go.Bar(
                name=label,
                y=[row.key for row in rows],
                x=[c.avg_ms if c is not None and c.avg_ms is not None else 0.0 for c in cells],
                orientation="h",
                text=[f"{c.name} ({c.precision})" if c is not None else "no such layer" for c in cells],
                textposition="none",
                hovertemplate="%{text}<br>%{x:.4f} ms<extra>%{fullData.name}</extra>",
            )
        )
    slower = len(set(comparison.slower_than_reference) & {row.key for row in rows})
    note = f"; the first {slower} are slower than {comparison.reference}" if slower else ""
    fig.update_layout(
        title=f"Matched layers across {len(comparison.labels)} engines (top {len(rows)}{note})",
        barmode="group",
        xaxis_title="ms per inference (profiled run)",
        height=max(320, 18 * len(rows) * max(1, len(comparison.labels)) // 2 + 120),
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
        legend={"orientation": "h"},
    )
    return fig


def engine_type_time_figure(comparison: Any) -> go.Figure:
    """Per engine: layer time by layer type (convolutions, pooling, reformats, Q/DQ...), stacked."""
    import plotly.graph_objects as go

    types = sorted({t for d in comparison.time_by_type for t in d},
                   key=lambda t: -max(d.get(t, 0.0) for d in comparison.time_by_type))
    fig = go.Figure()
    for t in types:
        fig.add_trace(
            go.Bar(
                name=t,
                x=comparison.labels,
                y=[d.get(t, 0.0) for d in comparison.time_by_type],
                hovertemplate="%{x}: %{y:.4f} ms<extra>%{fullData.name}</extra>",
            )
        )
    fig.update_layout(
        title="Layer time by type (sum of per-layer averages, trtexec profile)",
        barmode="stack",
        yaxis_title="ms per inference",
        height=380,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return fig


def engine_latency_figure(reports: list[Any]) -> go.Figure:
    """Per-inference latency of each engine as a box (quartiles, min/max, mean) from its timing export."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for r in reports:
        s = r.latency_ms
        if s is None:
            continue
        fig.add_trace(
            go.Box(
                name=r.label,
                x=[r.label],
                q1=[s.p25 if s.p25 is not None else s.median],
                median=[s.median],
                q3=[s.p75 if s.p75 is not None else s.median],
                lowerfence=[s.min],
                upperfence=[s.max],
                mean=[s.mean],
                marker_color=_engine_color(r.dominant_precision),
                hovertext=f"{r.label}: median {s.median:.4f} ms, p99 {s.p99 or float('nan'):.4f} ms ({r.latency_source})",
            )
        )
    fig.update_layout(
        title=f"Latency per inference ({_engine_source(reports)})",
        yaxis_title="ms",
        height=380,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
        showlegend=False,
    )
    return fig


# ----------------------------------------------------------------------------- task accuracy on labelled data


def evaluation_figure(evaluation: Evaluation) -> go.Figure:
    """Top-1 and top-5 per precision against the labels, each bar named with what computed it."""
    import plotly.graph_objects as go

    from workbench.evaluation import PrecisionAccuracy

    rows = [r for r in evaluation.results if r.available and r.top1 is not None]
    if not any(r.precision == "fp32" for r in rows):
        ref = evaluation.reference
        rows.insert(0, PrecisionAccuracy("fp32", ref.top1, ref.top5, 1.0, ref.n, ref.computed_by))
    labels = [f"{r.precision.upper()}<br><sub>{r.computed_by}</sub>" for r in rows]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=labels, y=[r.top1 for r in rows], name="top-1",
            marker_color=[precision_color(r.precision, "#7f7f7f") for r in rows],
            text=[f"{r.top1:.2%}" for r in rows], textposition="outside",
            customdata=[r.kept_top1 for r in rows],
            hovertemplate="top-1 %{y:.2%}<br>kept of FP32 %{customdata:.4f}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=labels, y=[r.top5 for r in rows], name="top-5", mode="markers",
            marker={"symbol": "diamond", "size": 11, "color": "#333333"},
            hovertemplate="top-5 %{y:.2%}<extra></extra>",
        )
    )
    low = min([r.top1 for r in rows if r.top1 is not None] or [0.0])
    fig.update_layout(
        title=f"Task accuracy on {evaluation.data_source} ({evaluation.reference.n} labelled samples)",
        yaxis={"title": "accuracy", "tickformat": ".0%", "range": [max(0.0, low - 0.1), 1.02]},
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return fig


def calibration_study_figure(study: CalibrationStudy, metric: str = "kept_top1") -> go.Figure:
    """The metric against calibration sample count (log scale), one line per calibrator,
    with the keep target and the smallest count that keeps it."""
    import plotly.graph_objects as go

    fig = go.Figure()
    palette = {"entropy": "#d62728", "max": "#1f77b4"}
    for calibrator in study.calibrators:
        curve = [p for p in study.points if p.calibrator == calibrator]
        fig.add_trace(
            go.Scatter(
                x=[p.samples for p in curve], y=[getattr(p, metric) for p in curve], mode="lines+markers",
                name=f"{study.precision.upper()} {calibrator} ({curve[0].computed_by if curve else ''})",
                line={"color": palette.get(calibrator)},
                customdata=[[p.top1, p.output_cosine] for p in curve],
                hovertemplate="%{x} samples<br>" + metric + " %{y:.4f}<br>top-1 %{customdata[0]:.2%}"
                "<br>output cosine %{customdata[1]:.5f}<extra>%{fullData.name}</extra>",
            )
        )
    target = study.keep.get(metric)
    if target is not None:
        fig.add_hline(y=target, line_dash="dot", line_color="#76b900", annotation_text=f"target {metric} {target:g}")
    if study.smallest_count is not None:
        fig.add_vline(
            x=study.smallest_count, line_dash="dash", line_color="#555555",
            annotation_text=f"smallest count {study.smallest_count} ({study.smallest_calibrator})",
        )
    fig.update_layout(
        title=f"{study.precision.upper()} accuracy against calibration samples (FP32 top-1 {study.reference.top1:.2%}, "
        f"{study.evaluation_samples} labelled samples)",
        xaxis={"title": "calibration samples", "type": "log"},
        yaxis={"title": metric},
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return fig


def per_class_change_figure(evaluation: Evaluation) -> go.Figure:
    """Per class, samples each precision gets right minus FP32's (negative: lost), one bar
    group per class, each trace named with what computed it."""
    import plotly.graph_objects as go

    fig = go.Figure()
    shown = [r for r in evaluation.results if r.available and r.precision != "fp32" and r.per_class]
    for r in shown:
        fig.add_trace(
            go.Bar(
                x=[c.name for c in r.per_class],
                y=[c.change for c in r.per_class],
                name=f"{r.precision.upper()} ({r.computed_by})",
                marker_color=precision_color(r.precision, "#7f7f7f"),
                customdata=[[c.n, c.reference_correct, c.correct] for c in r.per_class],
                hovertemplate="class %{x}: %{y:+d}<br>%{customdata[2]} of %{customdata[0]} right "
                "(FP32 %{customdata[1]})<extra>%{fullData.name}</extra>",
            )
        )
    fig.update_layout(
        title=f"Per-class change against FP32 ({evaluation.reference.computed_by}): samples right minus FP32's",
        barmode="group",
        xaxis={"title": "class", "type": "category"},
        yaxis={"title": "change in correct samples"},
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return fig


def study_point_rows(study: CalibrationStudy) -> list[dict[str, Any]]:
    """The calibration study's points as table rows, each naming what computed it."""
    return [
        {
            "calibrator": p.calibrator,
            "samples": p.samples,
            "top-1": p.top1,
            "kept_top1": p.kept_top1,
            "output cosine": p.output_cosine,
            "meets": p.meets,
            "computed_by": p.computed_by,
        }
        for p in study.points
    ]


def labelled_rows(evaluation: Evaluation) -> list[dict[str, Any]]:
    """The per-precision table of the labelled-accuracy section."""
    return [
        {
            "precision": r.precision,
            "top-1": r.top1,
            "top-5": r.top5,
            "kept_top1": r.kept_top1,
            "n": r.n,
            "computed_by": r.computed_by,
            "lost": r.regressions_total if r.available else None,
            "gained": r.improvements if r.available else None,
            "calibrator": r.calibrator,
            "calibration samples": r.calibration_samples,
            "note": r.note,
        }
        for r in evaluation.results
    ]
