"""examples/b2b-saas.yaml in plain pandas, as a data scientist would write it: the
benchmark's second baseline. Usage: pandas_score.py LEADS EVENTS AS_OF_EPOCH OUT.parquet"""

import json
import sys

import numpy as np
import pandas as pd

MISSING = {"", "unknown", "n/a", "select", "-"}
DAY = 86400.0


def norm(s: pd.Series) -> pd.Series:
    return s.str.strip().str.lower()


def present(s: pd.Series) -> pd.Series:
    return s.notna() & ~norm(s).isin(MISSING)


def main() -> None:
    leads_path, events_path, as_of, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    leads = pd.read_parquet(leads_path)
    ev = pd.read_parquet(events_path, columns=["lead_id", "event", "timestamp", "url"])
    ev["ts"] = ev["timestamp"].astype("int64") / 1e6  # microseconds since the epoch, UTC
    ev = ev[ev["ts"] <= as_of]
    last_ts = ev.groupby("lead_id")["ts"].max()
    recent = ev[ev["ts"] > as_of - 180 * DAY]
    url = norm(recent["url"].astype("string"))
    page = (recent["event"] == "page_view") & recent["url"].notna() & ~url.isin(MISSING)

    def points(mask, p, half_life=30.0, per_day=None, total=None, frame=recent):
        hits = frame.loc[mask, ["lead_id", "ts"]].sort_values(["lead_id", "ts"])
        if per_day is not None:
            day = (hits["ts"] // DAY).astype("int64")
            hits = hits[hits.groupby([hits["lead_id"], day]).cumcount() < per_day]
        if total is not None:
            hits = hits[hits.groupby("lead_id").cumcount() < total]
        value = p * np.power(2.0, -(as_of - hits["ts"]) / DAY / half_life) if half_life else p
        return pd.Series(value, index=hits.index).groupby(hits["lead_id"]).sum()

    e = {
        "pricing page": points(page & url.str.contains("/pricing", regex=False), 10, per_day=1),
        "docs page": points(page & url.str.contains("/docs", regex=False), 3, per_day=2),
        "careers page": points(page & url.str.contains("/careers", regex=False), -5, total=2),
        "email open": points(recent["event"] == "email_open", 1, per_day=3),
        "email click": points(recent["event"] == "email_click", 3, per_day=3),
        "form submit": points(recent["event"] == "form_submit", 8, per_day=1),
        "webinar": points(recent["event"] == "webinar_attended", 15, 60, total=2),
        "demo request": points(recent["event"] == "demo_request", 50, 90, total=1),
        "email bounced": points(recent["event"] == "email_bounce", -15, None, total=1),
        "unsubscribed": points(ev["event"] == "unsubscribe", -25, None, frame=ev),
    }
    df = leads.set_index("lead_id")
    for name, s in e.items():
        df[name] = s.reindex(df.index).fillna(0.0)
    idle = df.index.map(last_ts).to_series(index=df.index)
    df["inactive 60 days"] = np.where(idle.isna() | (as_of - idle > 60 * DAY), -10.0, 0.0)
    df["inactive 120 days"] = np.where(idle.isna() | (as_of - idle > 120 * DAY), -10.0, 0.0)

    industry, title, domain = norm(df["industry"]), df["title"], norm(df["email_domain"])
    has_title, has_country = present(df["title"]), present(df["country"])
    emp = df["employees"]
    fit = {
        "target industry": industry.isin(["software", "fintech"]) * 15.0,
        "adjacent industry": industry.isin(
            ["healthcare", "consulting", "media", "logistics", "manufacturing"]
        )
        * 5.0,
        "mid-market": emp.between(200, 5000) * 15.0,
        "enterprise": (emp > 5000) * 8.0,
        "very small company": (emp < 20) * -10.0,
        "senior title": (
            has_title
            & title.str.contains(
                r"(?i)\b(?:vp|vice president|head|director|chief|ceo|cfo|cto)\b",
                regex=True,
                na=False,
            )
        )
        * 20.0,
        "manager title": (has_title & title.str.contains(r"(?i)\bmanager\b", na=False)) * 8.0,
        "core market": norm(df["country"]).isin(["us", "gb", "de", "fr", "ca", "nl", "au"]) * 5.0,
        "free email": domain.isin(["gmail.com", "yahoo.com", "hotmail.com", "outlook.com"]) * -10.0,
        "student": (
            (has_title & title.str.contains(r"(?i)\b(?:student|intern)\b", na=False))
            | (present(df["email_domain"]) & df["email_domain"].str.contains(r"\.edu$", na=False))
        )
        * -30.0,
        "competitor": domain.isin(["rivalscore.io", "leadrank.com"]) * -50.0,
        "no country": (~has_country) * -5.0,
    }
    for name, s in fit.items():
        df[name] = s.astype("float64")
    categories = {
        "behavioural": (
            ["docs page", "email open", "email click", "form submit", "webinar"],
            None,
            40,
        ),
        "intent": (["pricing page", "demo request"], None, 80),
        "negative": (
            [
                "careers page",
                "unsubscribed",
                "email bounced",
                "inactive 60 days",
                "inactive 120 days",
            ],
            -50,
            None,
        ),
    }
    engagement = 0.0
    for names, low, high in categories.values():
        raw = df[names].sum(axis=1)
        clipped = raw.clip(lower=low, upper=high)
        scale = np.where(raw != 0, clipped / raw.where(raw != 0, 1), 1.0)
        df[names] = df[names].mul(scale, axis=0)
        engagement = engagement + clipped
    fit_score = df[list(fit)].sum(axis=1)
    raw_total = fit_score + engagement
    score = raw_total.clip(-50, 150)
    scale = np.where(raw_total != 0, score / raw_total.where(raw_total != 0, 1), 1.0)
    rules = list(fit) + [n for names, _, _ in categories.values() for n in names]
    contributions = df[rules].mul(scale, axis=0)

    grade = np.select(
        [fit_score >= 40, fit_score >= 25, fit_score >= 10, fit_score >= 0],
        ["A", "B", "C", "D"],
        "F",
    )
    values = contributions.to_numpy()
    names = np.array(rules)
    reasons = []
    for row in values:
        nz = np.flatnonzero(row)
        order = sorted(nz, key=lambda i: (-round(abs(row[i]) * 1e6), names[i]))
        reasons.append(json.dumps([{"rule": names[i], "points": row[i]} for i in order]))
    result = pd.DataFrame(
        {
            "lead_id": df.index,
            "score": score.to_numpy(),
            "fit_score": fit_score.to_numpy(),
            "engagement_score": np.asarray(engagement),
            "grade": grade,
            "label": np.select([score >= 100, score >= 60], ["hot", "warm"], "cold"),
            "mql": ((score >= 80) & (fit_score >= 25)).to_numpy(),
            "probability": (1 / (1 + np.exp(-(0.04 * score - 4.6)))).to_numpy(),
            "reasons": reasons,
        }
    ).sort_values(["score", "lead_id"], ascending=[False, True])
    result.to_parquet(out, index=False)


if __name__ == "__main__":
    main()
