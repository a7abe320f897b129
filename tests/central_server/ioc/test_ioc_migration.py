"""The IOC migration creates exactly the tables the models describe."""

from __future__ import annotations

from central_server.core.migrate import upgrade

TABLES = {"ioc_watermarks", "ioc_school_daily", "ioc_student_state", "ioc_tiles", "ioc_tile_weekly",
          "ioc_alert_rules", "ioc_alerts", "ioc_webhook_deliveries", "ioc_api_consumers"}


def test_migration_matches_models(db_url, schema_diff):
    upgrade(db_url)
    assert schema_diff(db_url, TABLES) == []
