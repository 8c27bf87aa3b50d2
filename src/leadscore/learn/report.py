"""What `learn` writes (the model, its analysis, the predictive file) and prints."""

from __future__ import annotations

import csv
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from leadscore.learn import Learned
from leadscore.learn.analysis import analysis_rows
from leadscore.learn.model_file import model_yaml
from leadscore.learn.predictive import save
from leadscore.outputs import atomic_files

TOP_ATTRIBUTES = 12


def output_paths(model: Path) -> tuple[Path, Path]:
    """model.yaml -> model.analysis.csv and model.lgb.txt, beside it."""
    stem = model.name.rsplit(".", 1)[0]
    return model.with_name(f"{stem}.analysis.csv"), model.with_name(f"{stem}.lgb.txt")


def write_outputs(learned: Learned, model: Path, *, source: str) -> list[Path]:
    """Write every file to a temporary name, check the model loads, then move them in place."""
    from leadscore.model import parse_model

    analysis, booster = output_paths(model)
    # The model names its predictive file: it is moved into place last.
    targets = ([booster] if learned.predictive is not None else []) + [analysis, model]
    with atomic_files(targets) as temps:
        tmp = dict(zip(targets, temps, strict=True))
        if learned.predictive is not None:
            save(learned.predictive, tmp[booster])
        text = model_yaml(
            learned,
            name=model.name.rsplit(".", 1)[0],
            source=source,
            predictive_file=booster.name if learned.predictive is not None else None,
        )
        tmp[model].write_text(text, encoding="utf-8")
        with tmp[analysis].open("w", newline="", encoding="utf-8") as fh:
            rows = analysis_rows(learned.card.analysis)
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        parse_model(text, str(model))  # what validate and score will read
    return [model, analysis] + ([booster] if learned.predictive is not None else [])


def print_summary(out: Console, learned: Learned) -> None:
    data, card = learned.data, learned.card
    table = Table(title=f"Attributes by information value ({data.n:,} leads, "
                  f"{data.converters / data.n:.1%} converted)")  # fmt: skip
    for column in ("attribute", "IV", "strength", "bins", "best bin", "rate", "lift", "points"):
        table.add_column(column, justify="right" if column in ("IV", "rate", "lift") else "left")
    terms = {t.stats.name: t for t in card.attributes}
    events = {t.stats.name: t for t in card.events}
    ranked = sorted(card.analysis, key=lambda a: -a.iv)
    for stats in ranked[:TOP_ATTRIBUTES]:
        best = max(stats.bins, key=lambda b: (b.lift, b.leads))
        if stats.name in terms:
            points = terms[stats.name].points
            used = f"{int(points.min()):+d} to {int(points.max()):+d}"
        elif stats.name in events:
            used = f"{events[stats.name].points:+.1f} per event"
        else:
            used = "not used"
        table.add_row(
            stats.name,
            f"{stats.iv:.3f}",
            stats.strength,
            str(len(stats.bins)),
            _short(best.bin),
            f"{best.rate:.1%}",
            f"{best.lift:.2f}",
            used,
        )
    out.print(table)
    if len(ranked) > TOP_ATTRIBUTES:
        out.print(f"... and {len(ranked) - TOP_ATTRIBUTES} more in the analysis file")
    trade = Table(title=f"MQL threshold: {learned.objective.describe()}")
    for column in ("score at least", "leads", "share", "precision", "recall", ""):
        trade.add_column(column, justify="right")
    for row in learned.trade_off:
        trade.add_row(
            f"{row.threshold:g}",
            f"{row.leads:,}",
            f"{row.share:.1%}",
            f"{row.precision:.1%}",
            f"{row.recall:.1%}",
            "<- MQL" if row.threshold == learned.mql else "",
        )
    out.print(trade)
    for name, why in card.left_out.items():
        out.print(Text(f"no rules for {name}: {why}", style="dim"), highlight=False)
    reasons: dict[str, list[str]] = {}
    for column, why in data.skipped.items():
        reasons.setdefault(why, []).append(column)
    for why, columns in reasons.items():
        out.print(Text(f"not used ({why}): {', '.join(columns)}", style="dim"), highlight=False)
    if any(a.iv > 0.5 for a in card.analysis):
        out.print(
            Text.assemble(
                ("note:", "yellow"),
                " an information value above 0.5 is suspicious: check that those columns "
                "are known before the outcome, or leave them out with --exclude",
            ),
            highlight=False,
        )


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
