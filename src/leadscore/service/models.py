"""Model versions in the service: added as YAML (and a predictive file), listed, activated.

A version, once stored, never changes (a new one is added instead), so every process can
compile it once and keep it."""

from __future__ import annotations

import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, func, insert, select

from leadscore.errors import ModelError
from leadscore.model.load import _predictive_file_problem, parse_model
from leadscore.model.schema import ScoringModel
from leadscore.service.errors import Conflict, Invalid, NotFound, Problem
from leadscore.service.store.tables import ActiveModel, Job, ModelReview, ModelVersion


@dataclass(frozen=True)
class VersionInfo:
    name: str
    version: str
    created_at: float
    active: bool
    description: str
    predictive: bool


def parse_version(yaml: str, predictive: bytes | None, source: str = "model") -> ScoringModel:
    """The model of an upload, or Invalid with the model's own errors (line, field)."""
    try:
        model = parse_model(yaml, source)
    except ModelError as exc:
        raise Invalid(
            f"the model has {len(exc.issues)} problem(s)",
            [
                Problem(
                    None,
                    i.field if i.loc else "(model)",
                    (f"line {i.line}: " if i.line else "") + i.message,
                )
                for i in exc.issues
            ],
        ) from None
    if model.predictive is not None:
        if predictive is None:
            raise Invalid(
                f"the model has a predictive component ({model.predictive.file}): send it "
                "as multipart/form-data with parts `model` and `predictive`",
                [Problem(None, "predictive", "required by predictive.file")],
            )
        with tempfile.TemporaryDirectory() as tmp:
            file = Path(tmp) / "predictive.txt"
            file.write_bytes(predictive)
            problem = _predictive_file_problem(file, model)
        if problem is not None:
            raise Invalid(f"predictive: {problem}", [Problem(None, "predictive", problem)])
    return model


def add_version(conn: Connection, yaml: str, predictive: bytes | None) -> VersionInfo:
    model = parse_version(yaml, predictive)
    name, version = model.model, str(model.version)
    exists = conn.execute(
        select(ModelVersion.id).where(ModelVersion.name == name, ModelVersion.version == version)
    ).first()
    if exists is not None:
        raise Conflict(
            f"model {name!r} version {version!r} exists; versions never change: "
            "raise `version` in the YAML to add a new one"
        )
    now = time.time()
    conn.execute(
        insert(ModelVersion).values(
            name=name,
            version=version,
            yaml=yaml,
            predictive=predictive if model.predictive is not None else None,
            created_at=now,
        )
    )
    return VersionInfo(name, version, now, False, model.description, model.predictive is not None)


def list_versions(conn: Connection, name: str | None = None) -> list[VersionInfo]:
    active = {r[0]: r[1] for r in conn.execute(select(ActiveModel.name, ActiveModel.version))}
    query = select(
        ModelVersion.name,
        ModelVersion.version,
        ModelVersion.created_at,
        ModelVersion.yaml,
        ModelVersion.predictive.is_not(None).label("has_file"),
    )
    if name is not None:
        query = query.where(ModelVersion.name == name)
    out = []
    for r in conn.execute(query.order_by(ModelVersion.name, ModelVersion.id)):
        description = parse_model(r.yaml, r.name).description
        out.append(
            VersionInfo(
                r.name,
                r.version,
                r.created_at,
                active.get(r.name) == r.version,
                description,
                bool(r.has_file),
            )
        )
    if name is not None and not out:
        raise NotFound(f"no model {name!r}")
    return out


def version_yaml(conn: Connection, name: str, version: str) -> str:
    row = conn.execute(
        select(ModelVersion.yaml).where(ModelVersion.name == name, ModelVersion.version == version)
    ).first()
    if row is None:
        raise NotFound(f"no version {version!r} of model {name!r}")
    return row.yaml


def active_version(conn: Connection, name: str) -> str | None:
    return conn.execute(select(ActiveModel.version).where(ActiveModel.name == name)).scalar()


def request_activation(conn: Connection, name: str, version: str) -> str:
    """Queue a job that rescores every lead under the version, then makes it active."""
    version_yaml(conn, name, version)  # NotFound when there is no such version
    busy = conn.execute(
        select(Job.id).where(
            Job.model == name, Job.kind == "activate", Job.state.in_(("queued", "running"))
        )
    ).first()
    if busy is not None:
        raise Conflict(f"model {name!r} is being activated already (job {busy.id}); wait for it")
    job = str(uuid.uuid4())
    now = time.time()
    conn.execute(
        insert(Job).values(
            id=job,
            kind="activate",
            model=name,
            version=version,
            state="queued",
            done=0,
            total=0,
            created_at=now,
            updated_at=now,
        )
    )
    return job


def set_active(conn: Connection, name: str, version: str, now: float) -> None:
    make = _insert_for(conn)
    stmt = make(ActiveModel).values(name=name, version=version, activated_at=now)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["name"], set_={"version": version, "activated_at": now}
        )
    )


def _insert_for(conn: Connection):
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as make
    else:
        from sqlalchemy.dialects.sqlite import insert as make
    return make


def add_review(conn: Connection, name: str, version: str, html: str, by: str, now: float) -> None:
    """A `leadscore review` report uploaded for a version (the latest one is shown)."""
    version_yaml(conn, name, version)  # NotFound when there is no such version
    conn.execute(
        insert(ModelReview).values(
            model=name, version=version, html=html, uploaded_at=now, uploaded_by=by
        )
    )


def latest_reviews(conn: Connection) -> dict[tuple[str, str], dict]:
    """(model, version) -> when and by whom its latest report was uploaded."""
    r = ModelReview.__table__.c
    latest = select(func.max(r.id)).group_by(r.model, r.version)
    rows = conn.execute(
        select(r.id, r.model, r.version, r.uploaded_at, r.uploaded_by).where(r.id.in_(latest))
    ).mappings()
    return {(x["model"], x["version"]): dict(x) for x in rows}


def review_html(conn: Connection, name: str, version: str) -> str:
    r = ModelReview.__table__.c
    html = conn.execute(
        select(r.html).where(r.model == name, r.version == version).order_by(r.id.desc()).limit(1)
    ).scalar()
    if html is None:
        raise NotFound(f"no review uploaded for version {version!r} of model {name!r}")
    return html
