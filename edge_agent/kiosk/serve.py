"""The kiosk's HTTP server: uvicorn on the configured interface, with TLS when a certificate is configured, and
X-Forwarded-For honoured only from the configured trusted proxies."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from edge_agent.config import KioskConfig


def kiosk_server(app: FastAPI, cfg: KioskConfig) -> uvicorn.Server:
    config = uvicorn.Config(app, host=cfg.host, port=cfg.port, log_level="warning", lifespan="off",
                            ssl_certfile=str(cfg.ssl_certfile) if cfg.ssl_certfile else None,
                            ssl_keyfile=str(cfg.ssl_keyfile) if cfg.ssl_keyfile else None,
                            proxy_headers=bool(cfg.trusted_proxies),
                            forwarded_allow_ips=",".join(cfg.trusted_proxies) or "127.0.0.1")
    return uvicorn.Server(config)
