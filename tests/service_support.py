"""The service under test: in process (FastAPI's TestClient over a real database) or as a
real `leadscore serve` process on 127.0.0.1; databases are real SQLite files and real
PostgreSQL databases made fresh for each test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from leadscore.service import keys
from leadscore.service.api.app import create_app
from leadscore.service.settings import Settings
from leadscore.service.store.database import Database
from tests.services import free_port

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_MODEL = ROOT / "examples" / "b2b-saas.yaml"


def fresh_postgres(server_url: str) -> str:
    """A new, empty database on the test's PostgreSQL server; its URL."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def make_keys(db_url: str) -> dict[str, str]:
    """One key of each scope, by scope."""
    db = Database(db_url)
    db.migrate()
    out = {}
    with db.write() as conn:
        for scope in keys.SCOPES:
            out[scope], _ = keys.create_key(conn, scope, f"{scope}-{uuid.uuid4().hex[:6]}")
    db.dispose()
    return out


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class Api:
    """An in-process service with a key of each scope."""

    client: TestClient
    keys: dict[str, str]
    db_url: str

    def as_(self, scope: str) -> dict[str, str]:
        return auth(self.keys[scope])

    def post(self, path: str, scope: str = "admin", **kw):
        return self.client.post(path, headers={**self.as_(scope), **kw.pop("headers", {})}, **kw)

    def get(self, path: str, scope: str = "read", **kw):
        return self.client.get(path, headers=self.as_(scope), **kw)

    def add_model(self, yaml: str, activate: bool = True) -> tuple[str, str]:
        r = self.post("/api/v1/models", content=yaml, headers={"content-type": "application/yaml"})
        assert r.status_code == 201, r.text
        name, version = r.json()["name"], r.json()["version"]
        if activate:
            self.activate(name, version)
        return name, version

    def activate(self, name: str, version: str, timeout: float = 120) -> dict:
        r = self.post(f"/api/v1/models/{name}/versions/{version}/activate")
        assert r.status_code == 202, r.text
        return self.wait(r.json()["job"], timeout)

    def wait(self, job: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.get(f"/api/v1/jobs/{job}").json()
            if state["state"] in ("done", "failed"):
                assert state["state"] == "done", state
                return state
            time.sleep(0.05)
        raise AssertionError(f"job {job} did not finish in {timeout} s")


@contextmanager
def api(db_url: str, **settings: object) -> Iterator[Api]:
    options: dict[str, object] = {"sweep_seconds": 0, "job_poll_seconds": 0.05, **settings}
    app = create_app(Settings(db=db_url, **options))  # type: ignore[arg-type]
    made = make_keys(db_url)
    with TestClient(app) as client:
        yield Api(client, made, db_url)


@dataclass
class Server:
    """A `leadscore serve` process."""

    db_url: str
    port: int
    env: dict[str, str]
    log: Path
    workers: int = 1
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        command = [
            sys.executable,
            "-m",
            "leadscore",
            "serve",
            "--db",
            self.db_url,
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"serve did not answer in {timeout} s: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush; what was committed must survive."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def server(db_url: str, tmp: Path, workers: int = 1, **env: str) -> Iterator[Server]:
    environment = {
        **os.environ,
        "LEADSCORE_SWEEP_SECONDS": "0",
        "LEADSCORE_JOB_POLL_SECONDS": "0.1",
        **env,
    }
    s = Server(db_url, free_port(), environment, tmp / "serve.log", workers)
    s.start()
    try:
        yield s
    finally:
        s.stop()
