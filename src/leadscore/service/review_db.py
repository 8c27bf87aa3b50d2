"""`leadscore review MODEL --db URL`: the model reviewed where its data live.

The leads, their events and their outcomes are read out of the service's database (the
columns and events the versions read, as an activation reads them) and reviewed by the
same code as files are (`review.review_data`): the champion (the active version, or
the one named) rescored as of `as_of` (default now) on the stored leads, a challenger
version backtested on the same leads. The labelled leads are those whose latest outcome
(since `since`) is won or lost; `absent_not_converted` counts the others as not won.

The sales section is measured as the reps saw it: the score snapshots taken when leads
became MQL, the verdicts reps gave on them, and their outcomes (`loop_review`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pyarrow as pa
from sqlalchemy import select

from leadscore.errors import UsageError
from leadscore.review import review_data
from leadscore.review.data import ModelInput
from leadscore.service import loop_review, models
from leadscore.service.batch_rescore import read_tables
from leadscore.service.errors import NotFound
from leadscore.service.online import ID_COLUMN, VersionCache
from leadscore.service.store.database import Database
from leadscore.service.store.tables import Outcome

TARGET = "outcome"


@dataclass(frozen=True)
class ServiceReview:
    model: str  # NAME, or NAME:VERSION for a stored version other than the active one
    since: float | None = None
    compare: str | None = None  # a version of the same model
    as_of: float | None = None
    absent_not_converted: bool = False


def split_model(given: str) -> tuple[str, str | None]:
    name, _, version = given.partition(":")
    return name, (version or None)


def review_service(db: Database, req: ServiceReview, progress=None, step=None) -> dict:
    """The review's JSON (as `leadscore review` writes it), with its `sales` section."""
    name, version = split_model(req.model)
    now = req.as_of if req.as_of is not None else time.time()
    cache = VersionCache()
    with db.read() as conn:
        try:
            version = version or models.active_version(conn, name)
            if version is None:
                known = ", ".join(sorted({i.name for i in models.list_versions(conn)})) or "none"
                raise UsageError(
                    f"MODEL {name!r}: no active version in the service (models: {known}); "
                    "name one as NAME:VERSION"
                )
            for wanted in (version, req.compare):
                if wanted is not None:
                    models.version_yaml(conn, name, wanted)  # NotFound names what is missing
            champion = cache.get(conn, name, version)
            challenger = cache.get(conn, name, req.compare) if req.compare else None
        except NotFound as exc:
            raise UsageError(f"{exc.detail} (see leadscore serve's GET /api/v1/models)") from None
        versions = [champion] + ([challenger] if challenger else [])
        tables = read_tables(conn, versions, now)
        labels = _outcomes(conn, req.since)
        moments = loop_review.moments(conn, name, version=version, since=req.since)
    if not labels and not req.absent_not_converted:
        raise UsageError(
            f"no lead has a won or lost outcome{' since then' if req.since else ''}: send "
            "them (POST /api/v1/outcomes, leadscore import --outcomes FILE) before a review"
        )
    outcomes = pa.table(
        {ID_COLUMN: pa.array(list(labels), pa.string()), TARGET: pa.array(list(labels.values()))}
    )
    result = review_data(
        _input(champion),
        tables.leads,
        target=TARGET,
        events=tables.events,
        outcomes=outcomes,
        positive="won",
        id_column=ID_COLUMN,
        as_of=now,
        challenger=_input(challenger) if challenger else None,
        absent_not_converted=req.absent_not_converted,
        progress=progress,
        step=step,
    )
    result.sales = loop_review.summary(moments)
    result.data["leads_file"] = f"{db.name} (leads)"
    result.data["events_file"] = f"{db.name} (events)"
    result.data["outcomes_file"] = f"{db.name} (outcomes)"
    return result.as_json()


def _input(version) -> ModelInput:
    source = f"{version.name} v{version.version} (stored)"
    return ModelInput(version.model, source, version.predictive_file)


def _outcomes(conn, since: float | None) -> dict[str, str]:
    """Each lead's latest outcome (since `since`), when it is won or lost (a deal opened
    again is not an outcome yet)."""
    o = Outcome.__table__.c
    query = select(o.lead_id, o.outcome)
    if since is not None:
        query = query.where(o.at >= since)
    latest: dict[str, str] = {}
    for r in conn.execute(query.order_by(o.at, o.id)):
        latest[r.lead_id] = r.outcome
    return {k: v for k, v in latest.items() if v in ("won", "lost")}
