"""The province's FastAPI application: ingest, database, roles, the five modules, web UI."""
