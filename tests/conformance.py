"""Engine cases: small inputs that pin one piece of SPEC 1 "Exact semantics" each.

Every case runs on every engine (tests/test_conformance.py), the one-lead scorer
included; outputs are compared row by row. Some cases also carry values computed by
hand, which checks the one-lead scorer itself.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from leadscore.model import ScoringModel
from leadscore.model.load import parse_model

AS_OF = "2024-03-10T00:00:00Z"
T = datetime(2024, 3, 10, tzinfo=UTC).timestamp()
DAY = 86400.0


@dataclass
class Case:
    name: str
    model_yaml: str
    leads: pa.Table
    events: pa.Table | None = None
    # Hand-computed: lead id -> {column: value} (reasons as {rule: points}).
    expect: dict[Any, dict[str, Any]] = field(default_factory=dict)
    as_of: str = AS_OF

    @property
    def model(self) -> ScoringModel:
        return parse_model(textwrap.dedent(self.model_yaml), f"{self.name}.yaml")


def _leads(rows: list[dict], types: dict[str, pa.DataType] | None = None) -> pa.Table:
    columns = list(rows[0])
    types = types or {}
    return pa.table({c: pa.array([r.get(c) for r in rows], types.get(c)) for c in columns})


def _events(rows: list[tuple], **props: list) -> pa.Table:
    """Rows of (lead_id, event, timestamp); properties as keyword columns."""
    data = {
        "lead_id": pa.array([r[0] for r in rows], pa.string()),
        "event": pa.array([r[1] for r in rows], pa.string()),
        "timestamp": pa.array([r[2] for r in rows], pa.string()),
    }
    for name, values in props.items():
        data[name] = pa.array(values, pa.string())
    return pa.table(data)


def iso(seconds_before: float) -> str:
    return datetime.fromtimestamp(T - seconds_before, UTC).isoformat().replace("+00:00", "Z")


CASES = [
    Case(
        "decay and window edges",
        """
        model: decay
        engagement:
          half_life_days: 10
          window_days: 30
          rules:
            - {name: visit, event: view, points: 8}
        """,
        _leads([{"lead_id": "a"}, {"lead_id": "b"}]),
        _events(
            [
                ("a", "view", iso(10 * DAY)),  # half-life ago: 4
                ("a", "view", iso(0)),  # at T: 8
                ("a", "view", iso(30 * DAY)),  # on the window's edge: out (t > T - W)
                ("a", "view", iso(-60)),  # after T: out
                ("b", "view", iso(20 * DAY)),  # two half-lives: 2
            ]
        ),
        expect={"a": {"score": 12.0}, "b": {"score": 2.0}},
    ),
    Case(
        "per-day limits on UTC days, offsets in the input",
        """
        model: per-day
        engagement:
          rules:
            - {name: open, event: open, points: 1, max_per_day: 2}
        """,
        _leads([{"lead_id": "a"}]),
        _events(
            [
                # 2024-03-08 23:30 UTC, written in +02:00: still the 8th in UTC.
                ("a", "open", "2024-03-09T01:30:00+02:00"),
                ("a", "open", "2024-03-08T23:59:59Z"),  # the 8th's third, in time: dropped
                ("a", "open", "2024-03-08T10:00:00Z"),
                ("a", "open", "2024-03-09T00:00:00Z"),  # the 9th
                ("a", "open", "2024-03-09 00:00:00"),  # no zone: UTC, the 9th
                ("a", "open", "1709942400"),  # epoch seconds, 2024-03-09 00:00: dropped
            ]
        ),
        expect={"a": {"score": 4.0}},
    ),
    Case(
        "max_total after max_per_day, first_only, decay off",
        """
        model: totals
        engagement:
          half_life_days: 7
          rules:
            - name: webinar
              event: webinar
              points: 10
              max_per_day: 1
              max_total: 2
              decay: false
            - {name: demo, event: demo, points: 50, first_only: true, half_life_days: null}
        """,
        _leads([{"lead_id": "a"}, {"lead_id": "b"}]),
        _events(
            [
                ("a", "webinar", iso(5 * DAY)),
                ("a", "webinar", iso(5 * DAY - 60)),  # same day: dropped by max_per_day
                ("a", "webinar", iso(3 * DAY)),
                ("a", "webinar", iso(1 * DAY)),  # third kept day: over max_total
                ("a", "demo", iso(2 * DAY)),
                ("a", "demo", iso(1 * DAY)),
                ("b", "demo", iso(400 * DAY)),
            ]
        ),
        expect={"a": {"score": 70.0}, "b": {"score": 50.0}},
    ),
    Case(
        "nulls, placeholders and numbers as text",
        """
        model: missing
        missing_values: [unknown, "Select"]
        fit:
          rules:
            - {name: no industry, if: {industry: {missing: true}}, points: -5}
            - {name: not retail, if: {industry: {not_equals: retail}}, points: 3}
            - {name: mid, if: {employees: {between: [200, 5000]}}, points: 10}
            - {name: tiny, if: {employees: {lt: 20}}, points: -10}
        """,
        _leads(
            [
                {"lead_id": "a", "industry": None, "employees": " 250 "},
                {"lead_id": "b", "industry": " SELECT ", "employees": "1,000"},
                {"lead_id": "c", "industry": "Retail ", "employees": "1e1"},
                {"lead_id": "d", "industry": "", "employees": "abc"},
                {"lead_id": "e", "industry": "software", "employees": "-3.5"},
            ]
        ),
        expect={
            "a": {"score": 5.0},
            "b": {"score": -5.0},
            "c": {"score": -10.0},
            "d": {"score": -5.0},
            "e": {"score": -7.0},
        },
    ),
    Case(
        "surrounding white space, and letters at the edges",
        """
        model: spaces
        fit:
          rules:
            - {name: listed, if: {industry: {in: [fintech, voip, software]}}, points: 1}
            - {name: equal, if: {industry: Software}, points: 10}
        """,
        _leads(
            [
                {"lead_id": "a", "industry": "fintech"},
                {"lead_id": "b", "industry": "\x0bvoip\x0c"},
                {"lead_id": "c", "industry": "\t Software \r\n"},
                {"lead_id": "d", "industry": "fintec"},
            ]
        ),
        expect={"a": {"score": 1.0}, "b": {"score": 1.0}, "c": {"score": 11.0}, "d": {"score": 0}},
    ),
    Case(
        "category caps and the score range scale the reasons",
        """
        model: caps
        score_range: [0, 50]
        fit:
          rules:
            - {name: good fit, if: {tier: a}, points: 30}
        engagement:
          categories:
            behaviour: {max: 10}
            negative: {min: -5}
          rules:
            - {name: read, event: view, points: 8, category: behaviour}
            - {name: click, event: click, points: 4, category: behaviour}
            - {name: bounce, event: bounce, points: -20, category: negative}
        """,
        _leads([{"lead_id": "a", "tier": "a"}, {"lead_id": "b", "tier": "b"}]),
        _events(
            [
                ("a", "view", iso(0)),
                ("a", "view", iso(0)),
                ("a", "click", iso(0)),
                ("a", "click", iso(0)),
                ("a", "click", iso(0)),
                ("b", "bounce", iso(0)),
            ]
        ),
        expect={
            # behaviour: 16 + 12 = 28 -> 10; fit 30; total 40 (inside the range)
            "a": {
                "score": 40.0,
                "engagement_score": 10.0,
                "reasons": {"good fit": 30.0, "read": 10 * 16 / 28, "click": 10 * 12 / 28},
            },
            # negative: -20 -> -5; total -5 -> 0: reasons scaled to nothing
            "b": {"score": 0.0, "fit_score": 0.0, "engagement_score": -5.0, "reasons": {}},
        },
    ),
    Case(
        "inactivity: no events, and the edge",
        """
        model: idle
        engagement:
          rules:
            - {name: visit, event: view, points: 1}
          inactivity:
            - {name: quiet, after_days: 30, points: -10}
        """,
        _leads([{"lead_id": "a"}, {"lead_id": "b"}, {"lead_id": "c"}]),
        _events(
            [
                ("b", "view", iso(30 * DAY)),  # exactly 30 days: not more than 30
                ("c", "view", iso(30 * DAY + 1)),
                ("c", "other", iso(-DAY)),  # after T: does not count as activity
            ]
        ),
        expect={"a": {"score": -10.0}, "b": {"score": 1.0}, "c": {"score": -9.0}},
    ),
    Case(
        "grades, labels, MQL with min_grade, calibration by points",
        """
        model: thresholds
        fit:
          rules:
            - {name: fit, if: {tier: a}, points: 30}
          grades: {A: 30, B: 10}
        engagement:
          rules:
            - {name: demo, event: demo, points: 60}
        thresholds:
          mql: {score: 50, min_grade: A}
          labels: {hot: 80, warm: 40}
        calibration: {points: [[0, 0.1], [50, 0.3], [100, 0.9]]}
        """,
        _leads([{"lead_id": "a", "tier": "a"}, {"lead_id": "b", "tier": "b"}]),
        _events([("a", "demo", iso(0)), ("b", "demo", iso(0))]),
        expect={
            "a": {"grade": "A", "label": "hot", "mql": True, "probability": 0.78},
            "b": {"grade": "F", "label": "warm", "mql": False, "probability": 0.42},
        },
    ),
    Case(
        "regular expressions and text tests",
        r"""
        model: text
        lists:
          senior: [vp, director]
        fit:
          rules:
            - {name: vp, if: {title: {matches: '(?i)\bvp\b'}}, points: 20}
            - {name: ends in ing, if: {title: {matches: 'ing$'}}, points: 2}
            - {name: two words, if: {title: {matches: '^\w+ \w+$'}}, points: 1}
            - {name: in list, if: {seniority: {in: senior}}, points: 5}
            - {name: not in list, if: {seniority: {not_in: senior}}, points: -1}
            - {name: contains, if: {title: {contains: ENG}}, points: 3}
        """,
        _leads(
            [
                {"lead_id": "a", "title": "VP Marketing", "seniority": " VP"},
                {"lead_id": "b", "title": "vpn engineering", "seniority": "staff"},
                {"lead_id": "c", "title": "Head, VP-level", "seniority": None},
            ]
        ),
        expect={"a": {"score": 28.0}, "b": {"score": 5.0}, "c": {"score": 20.0}},
    ),
    Case(
        "typed inputs: zoned timestamps, integer ids, numbers",
        """
        model: typed
        fit:
          rules:
            - {name: big, if: {employees: {gte: 1000}}, points: 5}
            - {name: exact, if: {employees: 250}, points: 1}
        engagement:
          rules:
            - {name: open, event: open, points: 1, max_per_day: 1}
        """,
        _leads(
            [{"lead_id": 1, "employees": 250.0}, {"lead_id": 2, "employees": 1000.0}],
            {"lead_id": pa.int64(), "employees": pa.float64()},
        ),
        pa.table(
            {
                "lead_id": pa.array([1, 1, 2, 3], pa.int64()),
                # Both on 2024-03-08 in New York, but on two UTC days: both count.
                "timestamp": pa.array(
                    [
                        datetime(2024, 3, 8, 23, tzinfo=UTC),
                        datetime(2024, 3, 9, 1, tzinfo=UTC),
                        datetime(2024, 3, 9, 1, tzinfo=UTC),
                        datetime(2024, 3, 9, 1, tzinfo=UTC),  # lead 3 is unknown: ignored
                    ],
                    pa.timestamp("us", tz="America/New_York"),
                ),
                "event": pa.array(["open"] * 4),
            }
        ),
        expect={1: {"score": 3.0, "fit_score": 1.0}, 2: {"score": 6.0}},
    ),
    Case(
        "accounts: top-k mean without free mail",
        """
        model: accounts
        lists:
          free: [gmail.com]
        fit:
          rules:
            - {name: a, if: {tier: a}, points: 30}
            - {name: b, if: {tier: b}, points: 20}
            - {name: c, if: {tier: c}, points: 10}
          grades: {A: 30}
        thresholds:
          mql: {score: 25}
        accounts: {key: domain, aggregate: top_k_mean, k: 2, exclude: free}
        """,
        _leads(
            [
                {"lead_id": "1", "tier": "a", "domain": "Acme.com"},
                {"lead_id": "2", "tier": "b", "domain": "acme.com "},
                {"lead_id": "3", "tier": "c", "domain": "acme.com"},
                {"lead_id": "4", "tier": "a", "domain": "gmail.com"},
                {"lead_id": "5", "tier": "b", "domain": None},
                {"lead_id": "6", "tier": "c", "domain": "beta.io"},
            ]
        ),
        expect={"1": {"score": 30.0}},
    ),
]

CASES += [
    Case(
        "ignore case: Unicode's simple lowercase, one letter at a time",
        """
        model: unicode
        fit:
          rules:
            - {name: greek, if: {city: {equals: ΟΔΟΣ}}, points: 1}
            - {name: turkish, if: {city: {in: [istanbul]}}, points: 2}
            - {name: french, if: {title: {contains: général}}, points: 4}
            - {name: sharp s, if: {title: {equals: ẞ}}, points: 8}
            - {name: kelvin, if: {title: {equals: K}}, points: 16}
        """,
        _leads(
            [
                {"lead_id": "a", "city": "ΟΔΟΣ", "title": "DIRECTEUR GÉNÉRAL"},
                # A final ς is its own letter: simple lowercase keeps it apart from σ.
                {"lead_id": "b", "city": "οδος", "title": "Directeur Général"},
                # İ lowers to i (no combining dot), so İSTANBUL is istanbul.
                {"lead_id": "c", "city": "İSTANBUL", "title": "ß"},
                {"lead_id": "d", "city": "ISTANBUL", "title": "k"},  # the Kelvin sign lowers to k
                {"lead_id": "e", "city": "ıstanbul", "title": "SS"},  # dotless ı is not i
            ]
        ),
        expect={
            "a": {"score": 5.0},
            "b": {"score": 4.0},
            "c": {"score": 10.0},
            "d": {"score": 18.0},
            "e": {"score": 0.0},
        },
    ),
    Case(
        "patterns mean what RE2 says on every engine",
        r"""
        model: patterns
        fit:
          rules:
            - {name: accents, if: {title: {matches: '(?i)général'}}, points: 1}
            - {name: ascii boundary, if: {title: {matches: '\bvp\b'}}, points: 2}
            - {name: ascii word, if: {title: {matches: '^\w+$'}}, points: 4}
            - {name: ascii space, if: {title: {matches: 'a\sb'}}, points: 8}
            - {name: end of text, if: {title: {matches: 'ing$'}}, points: 16}
            - {name: any but newline, if: {title: {matches: 'x.y'}}, points: 32}
            - {name: literal bracket, if: {title: {matches: '[&[]z'}}, points: 64}
            - {name: digits, if: {title: {matches: '^\d+$'}}, points: 128}
        """,
        _leads(
            [
                {"lead_id": "a", "title": "DIRECTEUR GÉNÉRAL"},
                {"lead_id": "b", "title": "vpé"},  # é is not a word letter in RE2: \b after vp
                {"lead_id": "c", "title": "café"},  # é is not \w
                {"lead_id": "d", "title": "a\x0bb"},  # \v is not \s in RE2
                {"lead_id": "e", "title": "Marketing\n"},  # $ is the end of the text only
                {"lead_id": "f", "title": "x\ry"},  # . takes \r
                {"lead_id": "g", "title": "x\ny"},  # . does not take \n
                {"lead_id": "h", "title": "&z"},
                {"lead_id": "i", "title": "٣٤"},  # Arabic-Indic digits are not \d
                {"lead_id": "j", "title": "cafe"},
            ]
        ),
        expect={
            "a": {"score": 1.0},
            "b": {"score": 2.0},
            "c": {"score": 0.0},
            "d": {"score": 0.0},
            "e": {"score": 0.0},
            "f": {"score": 32.0},
            "g": {"score": 0.0},
            "h": {"score": 64.0},
            "i": {"score": 0.0},
            "j": {"score": 4.0},
        },
    ),
    Case(
        "text times: one grammar, read alike by every engine",
        """
        model: times
        engagement:
          half_life_days: 1
          rules:
            - {name: seen, event: view, points: 1024}
        """,
        _leads([{"lead_id": k} for k in "abcdefghijk"]),
        _events(
            [
                ("a", "view", "2024-03-09"),  # a date: midnight UTC
                ("b", "view", "2024-03-09T12:00Z"),  # minutes, Z
                ("c", "view", "2024-03-09t12:00:00z"),  # letters in either case
                ("d", "view", "2024-03-09 13:30:00 +01:30"),  # a space, then the offset
                ("e", "view", "2024-03-09T12:00:00.5-0000"),  # a fraction; +hhmm
                ("f", "view", "2024-03-09T07:00:00-05"),  # +hh
                ("g", "view", " 1709985600 "),  # epoch seconds, spaces around
                ("h", "view", "1709985600.25"),
                ("i", "view", "2024-02-29T00:00:00Z"),  # a leap day
                ("j", "view", "2024-03-09T23:59:59.999999999+23:59"),
                ("k", "view", "0001-01-01T00:00:00Z"),  # the first year there is
            ]
        ),
        expect={
            "a": {"score": 1024 * 2**-1.0},
            "b": {"score": 1024 * 2**-0.5},
            "c": {"score": 1024 * 2**-0.5},
            "d": {"score": 1024 * 2**-0.5},
            "e": {"score": 1024 * 2 ** -(0.5 - 0.5 / DAY)},
            "f": {"score": 1024 * 2**-0.5},
            "g": {"score": 1024 * 2**-0.5},
            "h": {"score": 1024 * 2 ** -(0.5 - 0.25 / DAY)},
            "i": {"score": 1024 * 2**-10.0},
        },
    ),
]

ACCOUNT_EXPECT = {
    "accounts: top-k mean without free mail": [
        {"account": "acme.com", "score": 25.0, "leads": 3, "mql_leads": 1},
        {"account": "beta.io", "score": 10.0, "leads": 1, "mql_leads": 0},
    ]
}

for _aggregate, _expected in (("sum", 60.0), ("max", 30.0)):
    CASES.append(
        Case(
            f"accounts: {_aggregate}",
            f"""
            model: accounts-{_aggregate}
            fit:
              rules:
                - {{name: a, if: {{tier: a}}, points: 30}}
                - {{name: b, if: {{tier: b}}, points: 20}}
                - {{name: c, if: {{tier: c}}, points: 10}}
            accounts: {{key: domain, aggregate: {_aggregate}}}
            """,
            _leads(
                [
                    {"lead_id": "1", "tier": "a", "domain": "acme.com"},
                    {"lead_id": "2", "tier": "b", "domain": "ACME.com"},
                    {"lead_id": "3", "tier": "c", "domain": "acme.com"},
                ]
            ),
        )
    )
    ACCOUNT_EXPECT[f"accounts: {_aggregate}"] = [
        {"account": "acme.com", "score": _expected, "leads": 3, "mql_leads": 0}
    ]


# -- a predictive part, written by hand --------------------------------------------------
#
# A LightGBM file of stumps (one split per tree) whose leaf values are chosen here, so
# that the probability and the factors are known by hand: a lead's raw output is the
# sum of its leaves, and a stump's SHAP contribution is its leaf minus the mean of its
# two leaves (each leaf covers one training row).


@dataclass(frozen=True)
class Stump:
    feature: int
    left: float  # numbers <= threshold, missing numbers, or the categories listed
    right: float
    threshold: float = 0.0
    categories: tuple[int, ...] = ()  # for a categorical feature: the codes going left


def booster_text(features: list[str], categories: list[list[str]], stumps: list[Stump]) -> str:
    """A LightGBM model file (format v4) of these stumps; `categories` are the known
    values of each categorical feature, in order (LightGBM's pandas_categorical)."""
    trees = []
    for k, s in enumerate(stumps):
        if s.categories:
            split = (
                "num_cat=1\n"
                f"split_feature={s.feature}\nsplit_gain=1\nthreshold=0\ndecision_type=1\n"
            )
            bits = sum(1 << c for c in s.categories)
            extra = f"cat_boundaries=0 1\ncat_threshold={bits}\n"
        else:
            # decision_type 10: missing values are NaN, and go left.
            split = (
                "num_cat=0\n"
                f"split_feature={s.feature}\nsplit_gain=1\nthreshold={s.threshold!r}\n"
                "decision_type=10\n"
            )
            extra = ""
        trees.append(
            f"Tree={k}\nnum_leaves=2\n{split}left_child=-1\nright_child=-2\n"
            f"leaf_value={s.left!r} {s.right!r}\nleaf_weight=1 1\nleaf_count=1 1\n"
            f"internal_value={(s.left + s.right) / 2!r}\ninternal_weight=2\ninternal_count=2\n"
            f"{extra}is_linear=0\nshrinkage=1\n\n\n"
        )
    header = (
        "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\n"
        f"max_feature_idx={len(features) - 1}\nobjective=binary sigmoid:1\n"
        f"feature_names={' '.join(features)}\n"
        f"feature_infos={' '.join('none' for _ in features)}\n"
        f"tree_sizes={' '.join(str(len(t.encode())) for t in trees)}\n\n"
    )
    import json

    tail = (
        "end of trees\n\nparameters:\n[objective: binary]\nend of parameters\n\n"
        f"pandas_categorical:{json.dumps(categories) if categories else 'null'}\n"
    )
    return header + "".join(trees) + tail


def _sigmoid(x: float) -> float:
    import math

    return 1 / (1 + math.exp(-x))


# employees (numeric), industry (text), demo events (count); calibration 2x - 1.
PREDICTIVE_STUMPS = [
    Stump(0, left=-0.5, right=0.5, threshold=100.0),  # employees <= 100 (or missing)
    Stump(1, left=0.75, right=-0.25, categories=(1,)),  # industry saas
    Stump(2, left=-0.1, right=0.3, threshold=1.5),  # demo events <= 1.5
]


@dataclass
class PredictiveCase(Case):
    booster: str = ""  # the LightGBM file's text
    # Hand-computed: lead id -> (probability, factors as (feature, value, contribution)).
    expect_predictive: dict[Any, tuple[float, list[tuple]]] = field(default_factory=dict)


PREDICTIVE_CASES = [
    PredictiveCase(
        "predictive: numbers, text and counts, missing and unknown values",
        """
        model: predictive
        missing_values: ["n/a"]
        fit:
          rules:
            - {name: big, if: {employees: {gt: 100}}, points: 10}
        engagement:
          rules:
            - {name: demo, event: demo, points: 5}
        calibration: {slope: 0.1, intercept: -1}
        predictive:
          file: p.lgb.txt
          features:
            - {column: employees, type: numeric}
            - {column: industry, type: categorical}
            - {event: demo, type: count}
          calibration: {slope: 2.0, intercept: -1.0}
          factors: 2
        """,
        _leads(
            [
                {"lead_id": "a", "employees": "500", "industry": " SaaS"},
                {"lead_id": "b", "employees": "n/a", "industry": "retail"},
                {"lead_id": "c", "employees": "80", "industry": "mining"},  # not in training
                {"lead_id": "d", "employees": None, "industry": None},
            ]
        ),
        _events(
            [
                ("a", "demo", iso(DAY)),
                ("a", "demo", iso(2 * DAY)),
                ("b", "demo", iso(DAY)),
                ("b", "demo", iso(-DAY)),  # after T: not counted
                ("c", "view", iso(DAY)),
            ]
        ),
        expect={
            "a": {"score": 20.0, "grade": None},
            "b": {"score": 5.0},
            "c": {"score": 0.0},
        },
        booster=booster_text(
            ["employees", "industry", "demo_events"], [["retail", "saas"]], PREDICTIVE_STUMPS
        ),
        expect_predictive={
            # raw = 0.5 + 0.75 + 0.3; factors: industry +0.5, employees +0.5 (ties keep
            # the feature order), demo +0.2.
            "a": (
                _sigmoid(2 * 1.55 - 1),
                [("employees", 500.0, 0.5), ("industry", "saas", 0.5)],
            ),
            # raw = -0.5 (missing: left) - 0.25 (retail: right) - 0.1 (one demo)
            "b": (
                _sigmoid(2 * -0.85 - 1),
                [("employees", None, -0.5), ("industry", "retail", -0.5)],
            ),
            # an unknown category goes right, as a missing one does
            "c": (
                _sigmoid(2 * -0.85 - 1),
                [("employees", 80.0, -0.5), ("industry", "mining", -0.5)],
            ),
            "d": (
                _sigmoid(2 * -0.85 - 1),
                [("employees", None, -0.5), ("industry", None, -0.5)],
            ),
        },
    ),
]
