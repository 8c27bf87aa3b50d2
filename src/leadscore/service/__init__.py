"""The real-time scoring service of SPEC section 4: store, scoring, API.

Layers, each knowing only the ones below it:
    api/ (FastAPI routes, schemas, auth, problem details)      -- knows no SQL
    ingest, leads, models, jobs, sweep, importer (the operations) -- know no HTTP
    changes (the one place a lead's stored score changes: score row, lifecycle, ledger)
    online (the one-lead scorer per active model version, events bounded by windows)
    store (tables, the database, migrations)
"""
