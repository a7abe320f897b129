"""Demo material (`python -m edge_agent.demo.matches`, `python -m edge_agent.demo.e2e`); never imported by the service."""
