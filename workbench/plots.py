"""Plotly figures shared by the Streamlit pages, the notebooks and the report."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import plotly.graph_objects as go

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
        title=f"Operators in {summary.name} ({summary.node_count} nodes)",
        xaxis_title="nodes",
        height=max(260, 22 * len(ops) + 90),
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return fig
