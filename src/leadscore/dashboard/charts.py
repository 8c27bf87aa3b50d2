"""The lead page's charts, as Plotly figures (data and layout) that the page draws with
the plotly.js the package ships."""

from __future__ import annotations

from typing import Any

from leadscore.one_lead import LeadScore
from leadscore.service.times import iso

FONT = {"family": "system-ui, sans-serif", "size": 13}
GOOD, BAD = "#2f6f4f", "#b3412e"


def _layout(**more: Any) -> dict[str, Any]:
    return {
        "font": FONT,
        "margin": {"l": 10, "r": 10, "t": 10, "b": 40},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "showlegend": False,
        **more,
    }


def reasons(score: LeadScore) -> dict[str, Any]:
    """One bar per reason, in the order the scorer gives (largest first): they add up to
    the score."""
    names = [r.rule for r in score.reasons]
    points = [r.points for r in score.reasons]
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "y": names,
                "x": points,
                "text": [f"{p:+.1f}" for p in points],
                "textposition": "auto",
                "marker": {"color": [GOOD if p >= 0 else BAD for p in points]},
                "hovertemplate": "%{y}: %{x:.2f}<extra></extra>",
            }
        ],
        "layout": _layout(
            yaxis={"autorange": "reversed", "automargin": True},
            xaxis={
                "title": {"text": f"points (they add up to {score.score:.1f})"},
                "zeroline": True,
            },
            height=max(160, 34 * len(names) + 70),
        ),
    }


def score_over_time(
    entries: list[dict[str, Any]], now: float, current: float
) -> dict[str, Any] | None:
    """The score at each change the ledger kept, and as of now (the line ends today)."""
    if not entries:
        return None
    entries = [*entries, {"at": now, "score": current, "grade": None, "stage": "now",
                          "cause": {"kind": "as of now"}}]  # fmt: skip
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "line": {"shape": "hv", "color": GOOD},
                "x": [iso(e["at"]) for e in entries],
                "y": [e["score"] for e in entries],
                "text": [
                    f"{e['cause'].get('kind', '')} · grade {e['grade'] or '-'} · {e['stage']}"
                    for e in entries
                ],
                "hovertemplate": "%{x}<br>%{y:.1f} (%{text})<extra></extra>",
            }
        ],
        "layout": _layout(height=220, yaxis={"title": {"text": "score"}}),
    }


def timeline(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Each event as a mark on a time line, one row per event type."""
    if not events:
        return None
    kinds = sorted({e["event"] for e in events})
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "name": kind,
                "x": [iso(e["ts"]) for e in events if e["event"] == kind],
                "y": [kind] * sum(1 for e in events if e["event"] == kind),
                "marker": {"size": 10, "symbol": "line-ns-open", "line": {"width": 2}},
                "hovertemplate": "%{y}<br>%{x}<extra></extra>",
            }
            for kind in kinds
        ],
        "layout": _layout(height=max(140, 30 * len(kinds) + 70), yaxis={"automargin": True}),
    }
