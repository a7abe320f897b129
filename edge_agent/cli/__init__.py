"""The `edge-agent` commands (console script `edge-agent = edge_agent.cli:app`)."""

from edge_agent.cli.main import app

__all__ = ["app"]
