"""Activating a version rescores every lead in the background, by the batch engine, with
progress; reads keep answering (the old version) until it is done; rolling back restores
the scores."""

from __future__ import annotations

import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from leadscore.service.importer import import_files
from leadscore.service.store.database import Database
from leadscore.service.store.tables import Score
from tests.service_support import EXAMPLE_MODEL, api, fresh_postgres

MODEL = EXAMPLE_MODEL.read_text()
TITLES = ["VP Sales", "Engineer", "CEO", "Manager", "Student", "unknown"]
INDUSTRIES = ["software", "fintech", "retail", "media", None]


def leads_file(path, n: int) -> None:
    pq.write_table(
        pa.table(
            {
                "lead_id": [f"L{i}" for i in range(n)],
                "title": [TITLES[i % 6] for i in range(n)],
                "industry": [INDUSTRIES[i % 5] for i in range(n)],
                "employees": [str((i * 37) % 9000) for i in range(n)],
                "country": ["US" if i % 3 else "BR" for i in range(n)],
            }
        ),
        path,
    )


def stored(url: str) -> dict[str, tuple[float, float, str, str]]:
    db = Database(url)
    with db.read() as conn:
        query = select(Score.lead_id, Score.score, Score.fit_score, Score.grade, Score.version)
        out = {r.lead_id: (r.score, r.fit_score, r.grade, r.version) for r in conn.execute(query)}
    db.dispose()
    return out


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "n"), [("sqlite", 100_000), ("postgres", 20_000)])
def test_activation_in_the_background_and_rollback(backend, n, tmp_path, request):
    url = (
        f"sqlite:///{tmp_path}/service.db"
        if backend == "sqlite"
        else fresh_postgres(request.getfixturevalue("postgres_url"))
    )
    with api(url) as service:
        service.add_model(MODEL)
        leads_file(tmp_path / "leads.parquet", n)
        import_files(Database(url), tmp_path / "leads.parquet", None)
        before = stored(url)
        assert len(before) == n and {v for *_, v in before.values()} == {"1"}
        v2 = MODEL.replace("version: 1", "version: 2").replace("points: 20\n", "points: 35\n", 1)
        service.add_model(v2, activate=False)
        job = service.post("/api/v1/models/b2b-saas/versions/2/activate").json()["job"]
        seen, reads = [], 0
        while True:
            state = service.get(f"/api/v1/jobs/{job}").json()
            seen.append((state["state"], state["done"], state["total"]))
            if state["state"] in ("done", "failed"):
                break
            r = service.get("/api/v1/leads/L0")  # reads answer meanwhile, with the old version
            page = service.get("/api/v1/leads", params={"limit": 5})
            assert r.status_code == 200 and page.status_code == 200
            versions = {r.json()["scores"]["b2b-saas"]["version"]}
            versions |= {x["version"] for x in page.json()["data"]}
            if versions != {"1"}:  # the switch happened since the state was read
                assert service.get(f"/api/v1/jobs/{job}").json()["state"] == "done"
            reads += 1
            time.sleep(0.2)
        assert seen[-1] == ("done", n, n), seen[-1]
        assert reads > 3
        assert any(s == "running" and 0 < d < t == n for s, d, t in seen), seen  # progress
        after = stored(url)
        assert {v for *_, v in after.values()} == {"2"}
        senior = [k for k in after if int(k[1:]) % 6 in (0, 2)]  # VP Sales, CEO: +15 points
        assert all(after[k][1] == before[k][1] + 15 for k in senior)
        assert service.get("/api/v1/leads/L0").json()["scores"]["b2b-saas"]["version"] == "2"
        service.activate("b2b-saas", "1")  # rollback
        restored = stored(url)
    assert restored.keys() == before.keys()
    assert all(
        restored[k][0] == pytest.approx(before[k][0]) and restored[k][1:] == before[k][1:]
        for k in before
    )
