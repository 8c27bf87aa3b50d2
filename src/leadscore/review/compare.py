"""Champion and challenger: what changes if the new model replaces the current one.

Both models score the same leads. The difference of their ROC AUCs comes with a
95% interval from DeLong's method (the two AUCs are measured on the same leads,
so their errors are correlated; DeLong accounts for that). The verdict weighs
what sales would feel: how many more (or fewer) leads reach them as MQLs, and how
many of those convert.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm, rankdata

from leadscore.review.data import ModelScores, top_reasons
from leadscore.review.performance import mql_at, ranking

EXAMPLES = 5
# Precision or recall moving less than this (absolute) counts as unchanged in the verdict.
TOLERANCE = 0.01


def delong(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> dict:
    """AUCs of two scores on the same leads, and their difference b - a with a 95% interval.

    Fast DeLong (Sun and Xu, 2014): the AUC's structural components from midranks.
    """
    pos, neg = y == 1, y == 0
    m, n = int(pos.sum()), int(neg.sum())
    aucs, v10, v01 = [], [], []
    for s in (a, b):
        tx, ty, tz = rankdata(s[pos]), rankdata(s[neg]), rankdata(s)
        aucs.append((tz[pos].sum() - m * (m + 1) / 2) / (m * n))
        v10.append((tz[pos] - tx) / n)  # per converted lead: share of the others below it
        v01.append(1 - (tz[neg] - ty) / m)  # per other lead: share of converted above it
    cov = np.cov(np.vstack(v10)) / m + np.cov(np.vstack(v01)) / n
    diff = aucs[1] - aucs[0]
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    se = np.sqrt(max(var, 0.0))
    z = diff / se if se > 0 else 0.0
    return {
        "champion_auc": float(aucs[0]),
        "challenger_auc": float(aucs[1]),
        "difference": float(diff),
        "low": float(diff - 1.96 * se),
        "high": float(diff + 1.96 * se),
        "p_value": float(2 * norm.sf(abs(z))) if se > 0 else 1.0,
    }


def _side(y: np.ndarray, scores: ModelScores, role: str) -> dict:
    return {
        "role": role,
        "model": scores.model.model,
        "version": scores.model.version,
        "file": scores.source,
        "mql_threshold": None
        if scores.model.thresholds.mql is None
        else float(scores.model.thresholds.mql.score),
        **ranking(y, scores.score),
        "mql": mql_at(y, scores.mql),
    }


def _examples(
    ids: np.ndarray,
    y: np.ndarray,
    champion: ModelScores,
    challenger: ModelScores,
    rows: np.ndarray,
    by: ModelScores,
) -> list[dict]:
    """The highest-scored leads of `rows`, by the model that makes them MQL."""
    order = rows[np.lexsort((ids[rows], -by.score[rows]))][:EXAMPLES]
    return [
        {
            "lead_id": ids[i],
            "converted": bool(y[i]),
            "champion": {
                "score": float(champion.score[i]),
                "grade": champion.grade[i],
                "reasons": top_reasons(champion.reasons[int(i)].as_py()),
            },
            "challenger": {
                "score": float(challenger.score[i]),
                "grade": challenger.grade[i],
                "reasons": top_reasons(challenger.reasons[int(i)].as_py()),
            },
        }
        for i in order
    ]


def compare(ids: np.ndarray, y: np.ndarray, champion: ModelScores, challenger: ModelScores) -> dict:
    became = np.flatnonzero(~champion.mql & challenger.mql)
    stopped = np.flatnonzero(champion.mql & ~challenger.mql)
    a, b = _side(y, champion, "champion"), _side(y, challenger, "challenger")
    auc = delong(y, champion.score, challenger.score)
    out = {
        "champion": a,
        "challenger": b,
        "auc_difference": auc,
        "mql_volume_change": b["mql"]["volume"] - a["mql"]["volume"],
        "become_mql": {
            "leads": int(became.size),
            "converted": int(y[became].sum()),
            "examples": _examples(ids, y, champion, challenger, became, challenger),
        },
        "stop_being_mql": {
            "leads": int(stopped.size),
            "converted": int(y[stopped].sum()),
            "examples": _examples(ids, y, champion, challenger, stopped, champion),
        },
    }
    out["verdict"] = verdict(out)
    return out


def verdict(c: dict) -> str:
    """One line: roll out, keep the champion, or a trade-off to decide on capacity."""
    a, b = c["champion"]["mql"], c["challenger"]["mql"]
    came, went = c["become_mql"], c["stop_being_mql"]
    auc = c["auc_difference"]
    significant = auc["low"] > 0 or auc["high"] < 0
    same = auc["difference"] == 0 and auc["low"] == auc["high"]
    ranks = (
        "ranks the leads in the same order"
        if same
        else f"ranks {'better' if auc['difference'] > 0 else 'worse'} "
        f"(AUC {auc['challenger_auc']:.3f} against {auc['champion_auc']:.3f})"
        if significant
        else f"ranks as well (AUC {auc['challenger_auc']:.3f} against "
        f"{auc['champion_auc']:.3f}, a difference within noise)"
    )
    if came["leads"] == 0 and went["leads"] == 0:
        return f"Same MQLs: no lead crosses the threshold; the challenger {ranks}."
    dp = _delta(b["precision"], a["precision"])
    dr = _delta(b["recall"], a["recall"])
    volume = f"{b['volume'] - a['volume']:+,} MQLs ({a['volume']:,} to {b['volume']:,})"
    caught = f"{b['converted'] - a['converted']:+,} converted"
    rates = f"MQL conversion {_pct(a['precision'])} to {_pct(b['precision'])}"
    moves = []
    if came["leads"]:
        moves.append(
            f"the {came['leads']:,} new MQLs convert at {_pct(came['converted'] / came['leads'])}"
        )
    if went["leads"]:
        moves.append(
            f"the {went['leads']:,} dropped ones at {_pct(went['converted'] / went['leads'])}"
        )
    facts = f"{volume}, {caught}, {rates}" + (f" ({', '.join(moves)})" if moves else "")
    facts += f"; the challenger {ranks}"
    if dr >= -TOLERANCE and dp >= -TOLERANCE and (dr > TOLERANCE or dp > TOLERANCE):
        return f"Roll out the challenger: {facts}."
    if dr <= TOLERANCE and dp <= TOLERANCE and (dr < -TOLERANCE or dp < -TOLERANCE):
        return f"Keep the champion: {facts}."
    if abs(dr) <= TOLERANCE and abs(dp) <= TOLERANCE:
        return f"No material change: {facts}."
    return f"A trade-off to decide on sales capacity: {facts}."


def _delta(new: float | None, old: float | None) -> float:
    return (new or 0.0) - (old or 0.0)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"
