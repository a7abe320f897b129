"""Ingest: verified, idempotent intake of the schools' MQTT events (see `worker.py`)."""
