"""Versioned migrations of the school database; see `edge_agent.school_db` for the naming rule."""
