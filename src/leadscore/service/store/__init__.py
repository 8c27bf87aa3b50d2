"""The service's database: tables, connections, migrations."""
