"""`leadscore keys`: a key is printed once, stored only as its hash, and revoked for good."""

from __future__ import annotations

import subprocess
import sys

from tests.service_support import api, auth


def keys(*args: str, db: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "leadscore", "keys", *args, "--db", db],
        capture_output=True,
        text=True,
    )


def test_create_list_revoke(tmp_path):
    db = f"sqlite:///{tmp_path}/service.db"
    made = keys("create", "--scope", "read", "--name", "sales", db=db)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("lsk_") and len(key) > 40 and "shown only this once" in made.stderr
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("service.db*"))
    assert key.encode() not in raw and key[10:].encode() not in raw  # only its hash is stored
    listed = keys("list", db=db)
    assert "sales" in listed.stdout and "read" in listed.stdout and key[:10] in listed.stdout
    assert key[12:] not in listed.stdout
    with api(db) as service:
        assert service.client.get("/api/v1/models", headers=auth(key)).status_code == 200
        assert keys("revoke", "sales", db=db).returncode == 0
        assert service.client.get("/api/v1/models", headers=auth(key)).status_code == 401
    again = keys("revoke", "sales", db=db)
    assert again.returncode == 2 and "already revoked" in again.stderr
    bad = keys("create", "--scope", "owner", db=db)
    assert bad.returncode == 2 and "expected one of ingest, read, admin" in bad.stderr
