"""Rule health: does each rule's effect on the outcome agree with its points?

A rule fires for a lead when it contributed points to the lead's score (its reasons).
Its observed lift is the conversion rate of those leads over the conversion rate
of all. A lift on the wrong side of 1 is judged only when the 95% (Wilson) interval
of the rule's conversion rate is on the wrong side of the average too: on a few
leads, a lift of 0.9 is noise. The points the data suggest come from one logistic regression of the
outcome on every rule at once (so that rules which fire together share the
credit), put on the model's own scale: the log-odds one point of score is worth
on these leads.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from leadscore.logistic import fit_logistic
from leadscore.review.data import ModelScores

Z95 = 1.959964
# A rule that fires for (nearly) every lead shifts every score alike and ranks nothing.
NEARLY_ALL = 0.99


def rule_kinds(scores: ModelScores) -> list[dict]:
    """Name, kind, points and category of every rule, in the order of contributions."""
    plan = scores.plan
    out = [{"rule": t.name, "kind": "fit", "points": t.points, "category": None} for t in plan.fit]
    out += [
        {"rule": t.name, "kind": "engagement", "points": t.points, "category": t.category}
        for t in plan.events
    ]
    out += [
        {"rule": t.name, "kind": "inactivity", "points": t.points, "category": t.category}
        for t in plan.inactivity
    ]
    return out


def rule_health(y: np.ndarray, scores: ModelScores, events_given: bool = True) -> dict:
    """Each rule's firing, lift and suggested points, and the rules to revisit. Without
    events, engagement and inactivity rules cannot fire: they are not judged."""
    rules = rule_kinds(scores)
    contrib = scores.contributions.tocsc()
    fired = (contrib != 0).astype(np.int64).tocsc()  # int8 would overflow in the sums
    n_fired = np.asarray(fired.sum(axis=0)).ravel()
    hits = np.asarray(fired.T @ y.astype(np.int64)).ravel()
    rate = float(y.mean())
    scale = fit_logistic(scores.score, y).slope
    suggested = _suggested_points(y, contrib, rules, n_fired, scale)
    together = _always_together(fired, n_fired)
    rows = []
    for j, rule in enumerate(rules):
        n = int(n_fired[j])
        conv = float(hits[j] / n) if n else None
        lift = conv / rate if conv is not None and rate else None
        mean_points = float(contrib[:, j].sum() / n) if n else None
        low, high = wilson(int(hits[j]), n)
        wrong_side = (rule["points"] > 0 and high < rate) or (rule["points"] < 0 and low > rate)
        flags = _flags(
            rule["points"],
            n,
            lift if wrong_side else None,
            suggested[j],
            [rules[k]["rule"] for k in together.get(j, [])],
            n / y.size,
        )
        judged = events_given or rule["kind"] == "fit"
        rows.append(
            {
                **rule,
                "judged": judged,
                "fired": n,
                "share": n / y.size,
                "converted": int(hits[j]),
                "conversion_rate": conv,
                "conversion_rate_low": low if n else None,
                "conversion_rate_high": high if n else None,
                "lift": lift,
                "mean_points": mean_points,
                "suggested_points": suggested[j],
                "flags": flags if judged else [],
            }
        )
    return {
        "points_per_log_odds": None if scale <= 0 else 1 / scale,
        "confidence": 0.95,
        "rules": rows,
        "to_revisit": [r["rule"] for r in rows if r["flags"]],
        "not_judged": [r["rule"] for r in rows if not r["judged"]],
    }


def wilson(hits: int, n: int) -> tuple[float, float]:
    """95% interval of a conversion rate (Wilson's score interval; sound on few leads)."""
    if n == 0:
        return 0.0, 1.0
    p = hits / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * np.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    return float(centre - half), float(centre + half)


def _flags(
    points: float,
    n: int,
    wrong_lift: float | None,
    suggested: float | None,
    together: list[str],
    share: float,
) -> list[str]:
    flags = []
    if points == 0:
        flags.append("gives no points: drop it, or give it the suggested points")
    elif n == 0:
        flags.append("never fires: check its condition against the data, or drop it")
    elif share >= NEARLY_ALL:
        flags.append(
            f"fires for {share:.1%} of the leads: it moves every score alike and ranks none; "
            "check its condition against the data (values the model never saw?)"
        )
    elif wrong_lift is not None:
        side = "less" if points > 0 else "more"
        flag = (
            f"{'positive' if points > 0 else 'negative'} points, but its leads convert "
            f"{side} than average (lift {wrong_lift:.2f})"
        )
        if suggested is not None and suggested * points > 0:
            weaker = "weaker" if points > 0 else "stronger"
            flag += (
                f"; with the other rules counted, the data still suggest {suggested:+g} "
                f"(its leads are {weaker} on other rules)"
            )
        flags.append(flag)
    for other in together:
        flags.append(f"always fires together with {other!r}: merge the two, or drop one")
    return flags


def _always_together(fired: sparse.csc_matrix, n_fired: np.ndarray) -> dict[int, list[int]]:
    """Pairs of rules that fire for exactly the same leads (and for some)."""
    both = (fired.T @ fired).tocoo()
    out: dict[int, list[int]] = {}
    for i, j, count in zip(both.row, both.col, both.data, strict=True):
        if i != j and count > 0 and count == n_fired[i] == n_fired[j]:
            out.setdefault(int(i), []).append(int(j))
    return out


def _suggested_points(
    y: np.ndarray,
    contrib: sparse.csc_matrix,
    rules: list[dict],
    n_fired: np.ndarray,
    scale: float,
) -> list[float | None]:
    """Points per occurrence that one regression on all the rules gives, on the model's scale.

    A fit or inactivity rule occurs once; an engagement rule counts its events as the
    model weighs them (decayed, capped): contribution / points.
    """
    out: list[float | None] = [None] * len(rules)
    usable = [j for j, r in enumerate(rules) if n_fired[j] > 0 and r["points"] != 0]
    if scale <= 0 or not usable or y.min() == y.max():
        return out  # the score does not rank these leads: no scale to put points on
    occurrences = contrib[:, usable] @ sparse.diags([1 / rules[j]["points"] for j in usable])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = LogisticRegression(C=1.0, max_iter=2000).fit(occurrences.tocsr(), y)
    for j, coef in zip(usable, fit.coef_[0], strict=True):
        points = coef / scale
        whole = rules[j]["kind"] != "engagement" or abs(points) >= 10
        out[j] = float(round(points)) if whole else float(f"{points:.2g}")
    return out
