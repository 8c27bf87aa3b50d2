"""The report's charts (Plotly figures), drawn from the review's numbers alone.

Every chart reads the same dictionary that `--json` writes, so the picture and
the numbers cannot disagree.
"""

from __future__ import annotations

import itertools

import plotly.graph_objects as go

BLUE, ORANGE, GREY, GREEN, RED = "#2563eb", "#ea580c", "#9ca3af", "#16a34a", "#dc2626"
_LAYOUT = {
    "template": "plotly_white",
    "height": 340,
    "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
    "legend": {"orientation": "h", "y": -0.2},
    "font": {"family": "system-ui, sans-serif", "size": 12},
}


def _figure(title: str, **layout) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title={"text": title, "x": 0, "font": {"size": 14}}, **{**_LAYOUT, **layout})
    return fig


def gain_curve(perf: dict, challenger: dict | None = None) -> go.Figure:
    curve = perf["gain"]["curve"]
    x = curve["share_of_leads"]
    fig = _figure(
        "Cumulative gain: share of conversions in the top leads",
        xaxis={"title": "share of leads, best scores first", "tickformat": ".0%"},
        yaxis={"title": "share of conversions", "tickformat": ".0%"},
    )
    rate = perf["conversion_rate"]
    fig.add_scatter(
        x=[0, rate, 1], y=[0, 1, 1], name="perfect", line={"color": GREY, "dash": "dot"}
    )
    fig.add_scatter(x=[0, 1], y=[0, 1], name="random", line={"color": GREY, "dash": "dash"})
    name = "champion" if challenger else "model"
    fig.add_scatter(x=x, y=curve["share_of_conversions"], name=name, line={"color": BLUE})
    if challenger is not None:
        other = challenger["gain"]["curve"]
        fig.add_scatter(
            x=other["share_of_leads"],
            y=other["share_of_conversions"],
            name="challenger",
            line={"color": ORANGE},
        )
    return fig


def lift_by_decile(perf: dict) -> go.Figure:
    rows = perf["gain"]["deciles"]
    fig = _figure(
        "Lift by decile",
        xaxis={"title": "decile (1 = best scores)", "dtick": 1},
        yaxis={"title": "conversion rate / average"},
    )
    fig.add_bar(
        x=[r["decile"] for r in rows],
        y=[r["lift"] for r in rows],
        marker_color=BLUE,
        name="lift",
        customdata=[[r["conversion_rate"], r["min_score"], r["max_score"]] for r in rows],
        hovertemplate="decile %{x}: lift %{y:.2f}<br>conversion %{customdata[0]:.1%}"
        "<br>scores %{customdata[1]:g} to %{customdata[2]:g}<extra></extra>",
    )
    fig.add_hline(y=1, line={"color": GREY, "dash": "dash"})
    return fig


def score_distribution(perf: dict) -> go.Figure:
    d = perf["distribution"]
    edges = d["edges"]
    mids = [(a + b) / 2 for a, b in itertools.pairwise(edges)]
    width = edges[1] - edges[0]
    fig = _figure(
        "Score distribution by outcome",
        barmode="overlay",
        xaxis={"title": "score"},
        yaxis={"title": "share of the group", "tickformat": ".0%"},
    )
    for name, counts, color in (
        ("did not convert", d["other"], GREY),
        ("converted", d["converted"], BLUE),
    ):
        total = sum(counts) or 1
        fig.add_bar(
            x=mids,
            y=[c / total for c in counts],
            width=width,
            name=name,
            marker_color=color,
            opacity=0.6,
            customdata=counts,
            hovertemplate="score %{x:g}: %{customdata:,} leads (%{y:.1%})<extra></extra>",
        )
    return fig


def conversion_by(rows: list[dict], title: str, average: float, axis: str) -> go.Figure:
    fig = _figure(
        title,
        xaxis={"title": axis, "type": "category"},
        yaxis={"title": "conversion rate", "tickformat": ".0%"},
    )
    fig.add_bar(
        x=[r["group"] for r in rows],
        y=[r["conversion_rate"] for r in rows],
        marker_color=BLUE,
        name="conversion rate",
        customdata=[[r["leads"], r["converted"]] for r in rows],
        hovertemplate="%{x}: %{y:.1%} of %{customdata[0]:,} leads"
        " (%{customdata[1]:,} converted)<extra></extra>",
    )
    fig.add_hline(
        y=average,
        line={"color": GREY, "dash": "dash"},
        annotation_text=f"average {average:.1%}",
    )
    return fig


def calibration(cal: dict) -> go.Figure:
    bins = cal["bins"]
    top = 1.05 * max([b["mean_predicted"] for b in bins] + [b["observed"] for b in bins] + [0.01])
    fig = _figure(
        f"Calibration: predicted against observed (Brier {cal['brier']:.4f})",
        xaxis={
            "title": "mean predicted probability",
            "tickformat": ".0%",
            "range": [0, top * 1.05],
        },
        yaxis={"title": "observed conversion rate", "tickformat": ".0%", "range": [0, top * 1.05]},
    )
    fig.add_scatter(x=[0, top], y=[0, top], name="perfect", line={"color": GREY, "dash": "dash"})
    fig.add_scatter(
        x=[b["mean_predicted"] for b in bins],
        y=[b["observed"] for b in bins],
        name="model",
        mode="lines+markers",
        line={"color": BLUE},
        customdata=[b["leads"] for b in bins],
        hovertemplate="predicted %{x:.1%}, observed %{y:.1%} (%{customdata:,} leads)"
        "<extra></extra>",
    )
    return fig


def mql_trade_off(mql: dict) -> go.Figure:
    rows = sorted(mql["candidates"], key=lambda r: r["threshold"])
    fig = _figure(
        "MQL threshold: precision, recall and volume",
        xaxis={"title": "MQL threshold (score)"},
        yaxis={"title": "precision / recall", "tickformat": ".0%", "range": [0, 1.02]},
        yaxis2={
            "title": "share of leads that are MQL",
            "overlaying": "y",
            "side": "right",
            "tickformat": ".0%",
            "showgrid": False,
            "range": [0, 1.02],
        },
    )
    x = [r["threshold"] for r in rows]
    fig.add_scatter(x=x, y=[r["precision"] for r in rows], name="precision", line={"color": BLUE})
    fig.add_scatter(x=x, y=[r["recall"] for r in rows], name="recall", line={"color": GREEN})
    fig.add_scatter(
        x=x,
        y=[r["share"] for r in rows],
        name="MQL share",
        line={"color": GREY, "dash": "dot"},
        yaxis="y2",
    )
    if mql["model"] is not None:
        fig.add_vline(
            x=mql["model"]["threshold"],
            line={"color": ORANGE, "dash": "dash"},
            annotation_text="model's threshold",
        )
    return fig


def rule_lift(rules: dict) -> go.Figure:
    """Bars from 1 (no effect) to each rule's lift, on a log scale: 2 and 0.5 look alike."""
    rows = [r for r in rules["rules"] if r["lift"] is not None and r["lift"] > 0]
    rows.sort(key=lambda r: r["lift"])
    fig = _figure(
        "Observed lift of each rule (its leads' conversion / average)",
        height=max(300, 22 * len(rows) + 120),
        xaxis={"title": "lift (log scale; 1 = average)", "type": "log"},
        yaxis={"automargin": True},
        margin={"l": 20, "r": 20, "t": 40, "b": 50},
    )
    for name, positive, color in (
        ("positive points", True, GREEN),
        ("negative points", False, RED),
    ):
        picked = [r for r in rows if (r["points"] >= 0) == positive]
        if not picked:
            continue
        fig.add_bar(
            y=[r["rule"] for r in picked],
            x=[r["lift"] - 1 for r in picked],
            base=[1] * len(picked),
            orientation="h",
            name=name,
            marker_color=color,
            marker_line={
                "color": [ORANGE if r["flags"] else color for r in picked],
                "width": 2,
            },
            customdata=[
                [r["lift"], r["points"], r["fired"], _pts(r["suggested_points"])] for r in picked
            ],
            hovertemplate="%{y}: lift %{customdata[0]:.2f}<br>points %{customdata[1]:g}, "
            "fired for %{customdata[2]:,} leads<br>suggested %{customdata[3]}<extra></extra>",
        )
    fig.update_yaxes(categoryorder="array", categoryarray=[r["rule"] for r in rows])
    fig.add_vline(x=1, line={"color": GREY})
    return fig


def _pts(x: float | None) -> str:
    return "–" if x is None else f"{x:g}"


def drift_psi(drift: dict) -> go.Figure:
    rows = [{"attribute": "score", **drift["score"]}, *drift["attributes"]]
    colors = {"stable": GREEN, "moderate": ORANGE, "major": RED}
    fig = _figure(
        "Population stability index against the reference period",
        xaxis={"title": "", "type": "category"},
        yaxis={"title": "PSI"},
    )
    fig.add_bar(
        x=[r["attribute"] for r in rows],
        y=[r["psi"] for r in rows],
        marker_color=[colors[r["level"]] for r in rows],
        name="PSI",
        hovertemplate="%{x}: PSI %{y:.3f}<extra></extra>",
    )
    t = drift["thresholds"]
    fig.add_hline(
        y=t["moderate"], line={"color": ORANGE, "dash": "dash"}, annotation_text="moderate"
    )
    fig.add_hline(y=t["major"], line={"color": RED, "dash": "dash"}, annotation_text="major")
    return fig


def drift_scores(drift: dict) -> go.Figure:
    d = drift["score_distribution"]
    edges = d["edges"]
    mids = [(a + b) / 2 for a, b in itertools.pairwise(edges)]
    fig = _figure(
        f"Score distribution: reference and current (PSI {drift['score']['psi']:.3f})",
        barmode="overlay",
        xaxis={"title": "score"},
        yaxis={"title": "share of leads", "tickformat": ".0%"},
    )
    fig.add_bar(
        x=mids,
        y=d["reference"],
        width=edges[1] - edges[0],
        name="reference",
        marker_color=GREY,
        opacity=0.6,
    )
    fig.add_bar(
        x=mids,
        y=d["current"],
        width=edges[1] - edges[0],
        name="current",
        marker_color=BLUE,
        opacity=0.6,
    )
    return fig


def comparison(c: dict) -> go.Figure:
    a, b = c["champion"]["mql"], c["challenger"]["mql"]
    fig = _figure("MQLs: champion and challenger", barmode="group", yaxis={"title": "leads"})
    groups = ["MQLs", "converted MQLs", "become MQL", "stop being MQL"]
    fig.add_bar(x=groups[:2], y=[a["volume"], a["converted"]], name="champion", marker_color=BLUE)
    fig.add_bar(
        x=groups[:2], y=[b["volume"], b["converted"]], name="challenger", marker_color=ORANGE
    )
    fig.add_bar(
        x=groups[2:],
        y=[c["become_mql"]["leads"], c["stop_being_mql"]["leads"]],
        name="leads that move",
        marker_color=GREY,
    )
    fig.add_bar(
        x=groups[2:],
        y=[c["become_mql"]["converted"], c["stop_being_mql"]["converted"]],
        name="of which converted",
        marker_color=GREEN,
    )
    return fig
