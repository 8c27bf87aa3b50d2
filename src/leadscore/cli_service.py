"""`leadscore serve`, `keys` and `import`: the service's commands (SPEC sections 3 and 4)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from leadscore.cli_console import err, out, progress_bars
from leadscore.errors import UsageError
from leadscore.service.settings import DEFAULT_DB

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db", help=f"SQLAlchemy URL (or SQLite file); default $LEADSCORE_DB or {DEFAULT_DB}."
    ),
]
keys_app = typer.Typer(
    help="Create, list and revoke API keys (shown once, stored hashed).", no_args_is_help=True
)


def _db(db: str | None) -> str:
    return db or os.environ.get("LEADSCORE_DB") or DEFAULT_DB


def _database(db: str | None):
    from leadscore.service.store.database import Database

    database = Database(_db(db))
    database.migrate()
    return database


def serve(
    db: DbOpt = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8000,
    model: Annotated[
        list[Path] | None,
        typer.Option("--model", help="A model file to add and activate at start (repeatable)."),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Processes.")] = 1,
) -> None:
    """Run the REST API over the database (SPEC section 4); add models with --model."""
    import uvicorn

    from leadscore.service.api.logs import log_config
    from leadscore.service.core import prepare_database
    from leadscore.service.settings import Settings

    url = _db(db)
    os.environ["LEADSCORE_DB"] = url  # the workers read their settings from the environment
    settings = Settings.from_env(db=url)
    files = list(model or [])
    for f in files:
        if not f.is_file():
            raise UsageError(f"--model {f}: no such file")
    _check_port(host, port)
    service = prepare_database(settings, files)
    name = service.db.name
    service.close()
    err.print(
        f"leadscore serving {name} on http://{host}:{port} (API: /api/v1, /openapi.json)",
        highlight=False,
    )
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker counts in files here, and /metrics adds them up, whichever answers.
        import tempfile

        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="leadscore-metrics-")
    uvicorn.run(
        "leadscore.service.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=log_config(),
        timeout_graceful_shutdown=10,
    )


def _check_port(host: str, port: int) -> None:
    """A port another program holds: said plainly, before the database is touched."""
    import socket

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise UsageError(
            f"--host {host} --port {port}: cannot listen there ({exc.strerror}); "
            "choose another --port"
        ) from None


@keys_app.command("create")
def keys_create(
    scope: Annotated[str, typer.Option("--scope", help="ingest, read or admin.")],
    name: Annotated[
        str | None, typer.Option("--name", help="A name to list and revoke it by.")
    ] = None,
    db: DbOpt = None,
) -> None:
    """Make a key and print it once (it is stored hashed: it cannot be shown again)."""
    from leadscore.service import keys

    database = _database(db)
    try:
        with database.write() as conn:
            key, info = keys.create_key(conn, scope, name)
    finally:
        database.dispose()
    out.print(key, highlight=False)
    err.print(
        f"key {info.name!r} ({info.scope}) created; it is shown only this once", highlight=False
    )


@keys_app.command("list")
def keys_list(db: DbOpt = None) -> None:
    """The keys: name, scope, prefix, when made, and whether revoked."""
    from rich.table import Table

    from leadscore.service import keys
    from leadscore.service.times import iso

    database = _database(db)
    try:
        with database.read() as conn:
            found = keys.list_keys(conn)
    finally:
        database.dispose()
    table = Table()
    for column in ("name", "scope", "prefix", "created", "revoked"):
        table.add_column(column)
    for k in found:
        table.add_row(
            k.name, k.scope, k.prefix + "...", iso(k.created_at) or "", iso(k.revoked_at) or ""
        )
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(
    name: Annotated[
        str, typer.Argument(help="The key's name (see keys list).", show_default=False)
    ],
    db: DbOpt = None,
) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    from leadscore.service import keys

    database = _database(db)
    try:
        with database.write() as conn:
            keys.revoke_key(conn, name)
    finally:
        database.dispose()
    err.print(f"key {name!r} revoked", highlight=False)


def import_(
    leads: Annotated[
        Path | None,
        typer.Argument(help="Leads file (.csv, .parquet, .jsonl).", show_default=False),
    ] = None,
    events: Annotated[Path | None, typer.Option("--events", help="Events file.")] = None,
    outcomes: Annotated[
        Path | None,
        typer.Option(
            "--outcomes", help="Outcomes file: lead_id, outcome (won/lost/open), at, amount."
        ),
    ] = None,
    id_column: Annotated[str, typer.Option("--id", help="The lead id column.")] = "lead_id",
    db: DbOpt = None,
) -> None:
    """Bulk-load leads and events into the service's database; score them (batch engine).

    Every active model scores the leads; events without event_id get one from their
    content, so that importing a file twice adds nothing. --outcomes loads a CRM's closed
    deals (after the leads, when both are given); LEADS may then be left out."""
    from leadscore.service.importer import import_files
    from leadscore.service.outcomes_import import import_outcomes

    if leads is None and outcomes is None:
        raise UsageError("give a LEADS file, or --outcomes FILE (or both)")
    if leads is None and events is not None:
        raise UsageError("--events needs the LEADS file they belong to")
    database = _database(db)
    try:
        if leads is not None:
            with progress_bars() as progress:
                result = import_files(
                    database, leads, events, id_column=id_column, progress=progress
                )
            _said_import(result, database.name)
        if outcomes is not None:
            done = import_outcomes(database, outcomes, id_column)
            for warning in done.warnings:
                err.print(f"warning: {warning}", highlight=False)
            out.print(
                f"imported {done.accepted:,} outcomes ({done.duplicates:,} stored before, "
                f"{done.skipped:,} skipped) into {database.name}",
                highlight=False,
            )
    finally:
        database.dispose()


def _said_import(result, name: str) -> None:
    for warning in result.warnings:
        err.print(f"warning: {warning}", highlight=False)
    out.print(
        f"imported {result.leads:,} leads and {result.events:,} events "
        f"({result.duplicates:,} events already stored) into {name}; "
        f"scored under {result.models or 'no active model'}",
        highlight=False,
    )


def serve_demo(folder: Path, n_leads: int, host: str, port: int) -> None:
    """`leadscore demo`: generated leads and events ending now, imported into a fresh
    SQLite service with the example model (and a second version to roll out), two keys
    printed, and the service (API and dashboard) started."""
    import time
    from importlib import resources

    import pyarrow.parquet as pq

    from leadscore.generate import OUTPUT_FILES, generate
    from leadscore.outputs import check_folder_output, record_folder_output
    from leadscore.service import keys, models
    from leadscore.service.core import prepare_database
    from leadscore.service.importer import import_files
    from leadscore.service.settings import Settings
    from leadscore.service.store.database import Database

    db_files = ["leadscore.db", "leadscore.db-wal", "leadscore.db-shm"]
    written = [*OUTPUT_FILES, "b2b-saas.yaml", "b2b-saas-v2.yaml", "crm-leads.parquet", *db_files]
    check_folder_output("--dir", folder, written)
    _check_port(host, port)
    folder.mkdir(parents=True, exist_ok=True)
    record_folder_output(folder, written)
    for name in db_files:  # a fresh service each run
        (folder / name).unlink(missing_ok=True)
    packaged = (resources.files("leadscore") / "examples" / "b2b-saas.yaml").read_text("utf-8")
    model_file = folder / "b2b-saas.yaml"
    model_file.write_text(packaged, encoding="utf-8")
    # A second version to roll out from the models page: a lower MQL bar, more MQLs.
    v2 = packaged.replace("version: 1", "version: 2", 1).replace(
        "mql: {score: 80, min_grade: B}", "mql: {score: 70, min_grade: B}", 1
    )
    (folder / "b2b-saas-v2.yaml").write_text(v2, encoding="utf-8")
    err.print(f"generating {n_leads:,} leads with their events, up to now, into {folder}/ ...")
    generate(folder, n_leads, seed=7, end=float(int(time.time())))
    # `converted` is the outcome the generator knows: a CRM would not send it.
    crm = folder / "crm-leads.parquet"
    leads = pq.read_table(folder / "leads.parquet")
    pq.write_table(leads.drop_columns(["converted"]), crm)
    url = f"sqlite:///{(folder / 'leadscore.db').resolve()}"
    prepare_database(Settings(db=url), [model_file]).close()
    database = Database(url)
    try:
        with database.write() as conn:
            models.add_version(conn, v2, None)
        with progress_bars() as progress:
            result = import_files(database, crm, folder / "events.parquet", progress=progress)
        with database.write() as conn:
            read_key, _ = keys.create_key(conn, "read", "demo-read")
            admin_key, _ = keys.create_key(conn, "admin", "demo-admin")
    finally:
        database.dispose()
    lines = [
        "",
        f"imported {result.leads:,} leads and {result.events:,} events, scored with "
        f"{result.models}.",
        f"Open http://{host}:{port}/ and sign in with a key:",
        f"  read key (sees everything):                     {read_key}",
        f"  admin key (also activates, recycles, redelivers): {admin_key}",
        f"The API answers at http://{host}:{port}/api/v1 (see /docs); Ctrl-C stops.",
        "",
    ]
    for line in lines:
        out.print(line, highlight=False, soft_wrap=True)
    serve(db=url, host=host, port=port, model=None, workers=1)
