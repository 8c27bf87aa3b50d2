"""Write what `learn` found as an ordinary model file, with comments on every number."""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from leadscore.learn import Learned
from leadscore.learn.scorecard import PDO
from leadscore.timeutil import format_epoch


def model_yaml(
    learned: Learned, *, name: str, source: str, predictive_file: str | None = None
) -> str:
    data, card = learned.data, learned.card
    doc = CommentedMap()
    doc["model"] = name
    doc["version"] = 1
    doc["description"] = (
        f"Learned by leadscore learn from {source}: {data.n:,} leads, "
        f"{data.converters / data.n:.1%} converted ({data.target} = {data.positive})."
    )
    doc["id"] = data.id_column or "lead_id"
    doc["missing_values"] = _flow(CommentedSeq(data.missing_values))
    doc.yaml_set_start_comment(_header(learned, source))
    if data.id_column is None:
        doc.yaml_add_eol_comment("the leads had no id column: add one to score them", "id")

    rules = CommentedSeq()
    for term in sorted(card.attributes, key=lambda t: -t.stats.iv):
        stats = term.stats
        feature = stats.binned.feature
        first = len(rules)
        for b, bs, points in zip(term.bins, stats.bins, term.points, strict=True):
            if points == 0:
                continue
            rule = CommentedMap()
            rule["name"] = f"{stats.name}: {bs.bin}"
            rule["if"] = _flow(CommentedMap({stats.name: b.condition(feature.spelling)}))
            rule["points"] = int(points)
            rule.yaml_add_eol_comment(
                f"{bs.leads:,} leads, {bs.rate:.1%} converted (lift {bs.lift:.2f}), "
                f"WoE {bs.woe:+.2f}",
                "points",
            )
            rules.append(rule)
        if len(rules) > first:
            reversed_note = (
                "; its points run against its own conversion rates because they correct "
                "correlated attributes"
                if term.coefficient < 0
                else ""
            )
            rules.yaml_set_comment_before_after_key(
                first,
                before=f"{stats.name}: information value {stats.iv:.3f} ({stats.strength}), "
                f"weight {term.coefficient:.2f}; points = round({PDO / math.log(2):.2f} x weight "
                f"x WoE){reversed_note}",
                indent=4,
            )
    fit = CommentedMap()
    fit["rules"] = rules
    fit["grades"] = _flow(CommentedMap({k: _num(v) for k, v in learned.grades.items()}))
    fit.yaml_add_eol_comment(
        "minimum fit score: top 10% A, next 20% B, next 30% C, next 20% D, the rest F",
        "grades",
    )
    doc["fit"] = fit

    if card.events:
        engagement = CommentedMap()
        ev_rules = CommentedSeq()
        for term in sorted(card.events, key=lambda t: -abs(t.points)):
            rule = CommentedMap()
            rule["name"] = f"{term.event} events"
            rule["event"] = term.event
            rule["points"] = term.points
            if term.cap == 1:
                rule["first_only"] = True
            else:
                rule["max_total"] = term.cap
            had = int((term.stats.binned.feature.values > 0).sum())
            rule.yaml_add_eol_comment(
                f"information value {term.stats.iv:.3f}; {had:,} leads had some; "
                f"counted up to {term.cap}, more add nothing",
                "first_only" if term.cap == 1 else "max_total",
            )
            ev_rules.append(rule)
        engagement["rules"] = ev_rules
        doc["engagement"] = engagement
        doc.yaml_set_comment_before_after_key(
            "engagement",
            before=f"Points per event, learned from event counts up to "
            f"{format_epoch(data.as_of or 0)} without decay; add half_life_days to favour "
            "recent activity, then check the change with leadscore review.",
        )

    thresholds = CommentedMap()
    thresholds["mql"] = _flow(CommentedMap({"score": _num(learned.mql)}))
    chosen = next(r for r in learned.trade_off if r.threshold == learned.mql)
    thresholds.yaml_add_eol_comment(
        f"{learned.objective.describe()}: {chosen.share:.1%} of leads, "
        f"precision {chosen.precision:.1%}, recall {chosen.recall:.1%} on the learning data",
        "mql",
    )
    labels = CommentedMap({k: _num(v) for k, v in learned.labels.items()})
    labels["cold"] = None
    thresholds["labels"] = _flow(labels)
    thresholds.yaml_add_eol_comment("hot: top 10% of scores, warm: the next 30%", "labels")
    doc["thresholds"] = thresholds

    cal = learned.calibration
    doc["calibration"] = _flow(
        CommentedMap({"slope": round(cal.slope, 6), "intercept": round(cal.intercept, 6)})
    )
    doc.yaml_add_eol_comment(
        "logistic, fitted on scores of held-out leads (5-fold cross-fitting)", "calibration"
    )

    if learned.predictive is not None and predictive_file is not None:
        trained = learned.predictive
        pred = CommentedMap()
        pred["file"] = predictive_file
        feats = CommentedSeq()
        for f in trained.features:
            item = CommentedMap({"event": f.event} if f.kind == "count" else {"column": f.name})
            item["type"] = f.kind
            feats.append(_flow(item))
        pred["features"] = feats
        pred["calibration"] = _flow(
            CommentedMap(
                {
                    "slope": round(trained.calibration.slope, 6),
                    "intercept": round(trained.calibration.intercept, 6),
                }
            )
        )
        pred["factors"] = 3
        doc["predictive"] = pred
        doc.yaml_set_comment_before_after_key(
            "predictive",
            before=f"LightGBM, {trained.rounds} trees chosen by 5-fold cross-validation, "
            "calibrated on out-of-fold predictions. Its probability replaces the calibration's; "
            "the score stays the scorecard's.",
        )
    return _dump(doc)


def _header(learned: Learned, source: str) -> str:
    data, card = learned.data, learned.card
    lines = [
        f"Learned by leadscore learn on {datetime.now(UTC):%Y-%m-%d} from {source}.",
        f"{data.n:,} leads, {data.converters:,} converted "
        f"({data.target} = {data.positive!r}, {data.converters / data.n:.1%}).",
        f"Points: {PDO} points double the odds of converting; 0 is an average lead.",
        "Each fit rule is one bin of an attribute (optbinning); its comment gives the leads in",
        "it, their conversion rate, the lift over the average and the weight of evidence",
        "ln(share of converters / share of non-converters). The full attribute analysis is in",
        "the .analysis.csv file beside this one.",
        "A value that no rule names (one never seen in learning) gets no points from its",
        "attribute: 0, an average lead; rare values seen in learning are listed in their rule.",
        "Only an attribute with over 50 rare values has an 'other values' rule for the rest.",
    ]
    if card.left_out:
        lines.append("Attributes without rules (in the analysis all the same):")
        lines += [f"  {k}: {v}" for k, v in card.left_out.items()]
    reasons: dict[str, list[str]] = {}
    for column, why in data.skipped.items():
        reasons.setdefault(why, []).append(column)
    if reasons:
        lines.append("Columns not used:")
        lines += [f"  {why}: {', '.join(columns)}" for why, columns in reasons.items()]
    return "\n".join(lines)


def _flow(node):
    node.fa.set_flow_style()
    return node


def _num(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(float(value), 4)


def _dump(doc: CommentedMap) -> str:
    yaml = YAML()
    yaml.width = 100
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()
