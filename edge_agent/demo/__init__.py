"""Demo material (`python -m edge_agent.demo.matches`, `-m edge_agent.demo.chain`); the service never imports it."""
