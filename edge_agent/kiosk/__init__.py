"""The teacher kiosk: a small FastAPI app on the edge agent (Vietnamese, tablet-friendly), local database only."""
