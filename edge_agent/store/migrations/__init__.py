"""Versioned migrations of the school database; see `edge_agent.store.school_db` for the naming rule."""
