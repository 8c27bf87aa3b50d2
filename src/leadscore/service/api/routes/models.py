"""Model versions: add, list, read; activate (a background job) and roll back."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from python_multipart.exceptions import MultipartParseError
from starlette.formparsers import MultiPartException

from leadscore.service import models
from leadscore.service.api import schemas as s
from leadscore.service.api.auth import scope
from leadscore.service.background import job_status
from leadscore.service.errors import Invalid, NotFound, Problem, TooLarge
from leadscore.service.times import iso

router = APIRouter(prefix="/api/v1", tags=["models"])
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")
MAX_MODEL_BYTES = 50 * 1024 * 1024  # a predictive file can be tens of megabytes


_UPLOAD = {
    "requestBody": {
        "required": True,
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["model"],
                    "properties": {
                        "model": {"type": "string", "format": "binary"},
                        "predictive": {"type": "string", "format": "binary"},
                    },
                }
            },
        },
    }
}


@router.post(
    "/models",
    status_code=201,
    response_model=s.ModelVersionOut,
    **scope("admin", openapi_extra=_UPLOAD),
)
async def add_model(request: Request) -> s.ModelVersionOut:
    """Add a version: its YAML (application/yaml), or multipart with `model` and its
    `predictive` file. A version that exists: 409."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    predictive = None
    if kind == "multipart/form-data":
        try:
            form = await request.form(max_part_size=MAX_MODEL_BYTES)
        except (MultiPartException, MultipartParseError) as exc:
            raise Invalid(
                f"multipart: the body cannot be read ({exc})",
                [Problem(None, "(body)", "malformed multipart")],
            ) from None
        part = form.get("model")
        if part is None:
            raise Invalid(
                "multipart: the part `model` (the YAML) is missing",
                [Problem(None, "model", "required")],
            )
        yaml_bytes = await part.read() if hasattr(part, "read") else str(part).encode()
        extra = form.get("predictive")
        if extra is not None:
            predictive = await extra.read() if hasattr(extra, "read") else str(extra).encode()
    elif kind in YAML_TYPES or kind == "":
        yaml_bytes = await request.body()
    else:
        raise Invalid(
            f"content type {kind!r}: send the YAML as application/yaml, or multipart",
            [Problem(None, "(body)", "unsupported content type")],
        )
    if len(yaml_bytes) > MAX_MODEL_BYTES:
        raise TooLarge(f"the model is over {MAX_MODEL_BYTES // 2**20} MB")
    try:
        yaml = yaml_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid(
            "the model is not UTF-8 text", [Problem(None, "(body)", "not text")]
        ) from None
    service = request.app.state.service
    from starlette.concurrency import run_in_threadpool

    info = await run_in_threadpool(
        service.write, lambda conn: models.add_version(conn, yaml, predictive)
    )
    return _version(info)


@router.get("/models", response_model=s.ModelsOut, **scope("read"))
def list_models(request: Request) -> s.ModelsOut:
    service = request.app.state.service
    with service.db.read() as conn:
        infos = models.list_versions(conn)
    by_name: dict[str, s.ModelOut] = {}
    for i in infos:
        m = by_name.setdefault(i.name, s.ModelOut(name=i.name, active_version=None, versions=[]))
        m.versions.append(i.version)
        if i.active:
            m.active_version = i.version
    return s.ModelsOut(data=list(by_name.values()))


@router.get("/models/{name}/versions", response_model=s.VersionsOut, **scope("read"))
def list_model_versions(name: str, request: Request) -> s.VersionsOut:
    service = request.app.state.service
    with service.db.read() as conn:
        infos = models.list_versions(conn, name)
    return s.VersionsOut(data=[_version(i) for i in infos])


@router.get(
    "/models/{name}/versions/{version}",
    response_class=PlainTextResponse,
    **scope("read", responses={200: {"content": {"application/yaml": {}}}}),
)
def get_model_version(name: str, version: str, request: Request) -> PlainTextResponse:
    """The version's YAML, as it was added."""
    service = request.app.state.service
    with service.db.read() as conn:
        yaml = models.version_yaml(conn, name, version)
    return PlainTextResponse(yaml, media_type="application/yaml")


@router.post(
    "/models/{name}/versions/{version}/activate",
    status_code=202,
    response_model=s.JobStarted,
    **scope("admin"),
)
def activate(name: str, version: str, request: Request) -> s.JobStarted:
    """Rescore every lead under the version in the background (the batch engine), then
    make it the active one; reads serve the old version until then. Rolling back is
    activating an earlier version."""
    service = request.app.state.service
    job = service.write(lambda conn: models.request_activation(conn, name, version))
    return s.JobStarted(job=job)


@router.get("/jobs/{job_id}", response_model=s.JobOut, **scope("read"))
def get_job(job_id: str, request: Request) -> s.JobOut:
    service = request.app.state.service
    with service.db.read() as conn:
        row = job_status(conn, job_id)
    if row is None:
        raise NotFound(f"no job {job_id!r}")
    return s.JobOut(
        id=row["id"],
        kind=row["kind"],
        model=row["model"],
        version=row["version"],
        state=row["state"],
        done=row["done"],
        total=row["total"],
        error=row["error"],
        created_at=iso(row["created_at"]) or "",
        updated_at=iso(row["updated_at"]) or "",
    )


def _version(i: models.VersionInfo) -> s.ModelVersionOut:
    return s.ModelVersionOut(
        name=i.name,
        version=i.version,
        created_at=iso(i.created_at) or "",
        active=i.active,
        description=i.description,
        predictive=i.predictive,
    )
