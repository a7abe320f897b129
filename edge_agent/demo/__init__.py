"""Demo material (`python -m edge_agent.demo.matches`, `-m edge_agent.demo.e2e`); the service never imports it."""
