"""Write the review: one self-contained HTML file (Plotly inlined) and the JSON.

The page fetches nothing: plotly.js is inlined once, each chart is a JSON figure
drawn by it. Both files are written beside their targets and moved into place
together, after everything is computed, so a failed review leaves nothing behind.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path

import numpy as np
import plotly.io as pio
from jinja2 import Environment, StrictUndefined, select_autoescape
from plotly.offline import get_plotlyjs

from leadscore.errors import named
from leadscore.outputs import atomic_files
from leadscore.review import charts


def to_json(review: dict) -> str:
    return json.dumps(review, indent=2, default=_plain, allow_nan=False) + "\n"


def figures(review: dict) -> list[tuple[str, str, object]]:
    """(section, name, figure) of every chart the review has data for."""
    perf = review["performance"]
    comparison = review["comparison"]
    out: list[tuple[str, str, object]] = [
        (
            "performance",
            "gain",
            charts.gain_curve(perf, comparison["challenger"] if comparison else None),
        ),
        ("performance", "lift", charts.lift_by_decile(perf)),
        ("performance", "distribution", charts.score_distribution(perf)),
    ]
    rate = perf["conversion_rate"]
    for name, key, axis in (("bands", "score_bands", "score band"), ("grades", "grades", "grade"),
                            ("labels", "labels", "label")):  # fmt: skip
        if perf[key]:
            title = f"Conversion by {axis}"
            out.append(("conversion", name, charts.conversion_by(perf[key], title, rate, axis)))
    if perf["calibration"] is not None:
        out.append(("calibration", "calibration", charts.calibration(perf["calibration"])))
    out.append(("mql", "mql", charts.mql_trade_off(perf["mql"])))
    if any(r["lift"] for r in review["rules"]["rules"]):
        out.append(("rules", "rules", charts.rule_lift(review["rules"])))
    if review["drift"] is not None:
        out.append(("drift", "psi", charts.drift_psi(review["drift"])))
        out.append(("drift", "drift-scores", charts.drift_scores(review["drift"])))
    if comparison is not None:
        out.append(("comparison", "comparison", charts.comparison(comparison)))
    return out


def render_html(review: dict) -> str:
    env = Environment(autoescape=select_autoescape(default=True), undefined=StrictUndefined)
    env.filters.update(pct=_pct, num=_num, pts=_pts, signed=_signed, score=_score)
    template = env.from_string(
        resources.files("leadscore.review").joinpath("report.html.j2").read_text()
    )
    plots: dict[str, dict[str, str]] = {}
    for section, name, fig in figures(review):
        plots.setdefault(section, {})[name] = _figure_json(fig)
    return template.render(r=review, plots=plots, plotly_js=_script(get_plotlyjs()))


def write_review(review: dict, report: Path, metrics: Path | None) -> None:
    """Write the report (and the JSON); both or neither."""
    # A caller that did not put the inputs named in warnings in its own words (the
    # command line shows flags) gets their field names, never the marker.
    files = [(report, named(render_html(review)))]
    if metrics is not None:
        files.append((metrics, named(to_json(review))))
    with atomic_files([path for path, _ in files]) as temps:
        for tmp, (_, text) in zip(temps, files, strict=True):
            tmp.write_text(text, encoding="utf-8")


def _figure_json(fig) -> str:
    # Rule and attribute names come from users: keep "</script>" out of the page.
    return _script(pio.to_json(fig, validate=False, remove_uids=True))


def _script(text: str) -> str:
    return text.replace("</", "<\\/")


def _plain(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if not math.isfinite(value) else float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def _pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:.{digits}%}"


def _num(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "–"
    if float(x).is_integer() and (abs(x) >= 1 or x == 0):
        return f"{int(x):,}"
    return f"{x:,.{digits}f}"


def _pts(x: float | None) -> str:
    return "–" if x is None else f"{x:g}"


def _score(x: float | None) -> str:
    """A lead's score as `score` writes it, to one decimal (decay makes long fractions)."""
    return "–" if x is None else f"{x:,.1f}"


def _signed(x: float | None, digits: int = 0) -> str:
    return "–" if x is None else f"{x:+,.{digits}f}"
