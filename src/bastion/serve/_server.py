"""Putting a server together (registry, admission, router, authentication) and running it under uvicorn."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from bastion.core import BastionError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from bastion.registry import Registry
    from bastion.serve.app import ServerState
    from bastion.serve.config import ServeConfig
    from bastion.serve.interface import CaptureSink

CONFIG_VARIABLE = "BASTION_SERVE_CONFIG"
"""How ``--workers N`` hands the configuration to each worker process (uvicorn starts them by import string)."""


class AdmissionFailed(BastionError):
    """The server refuses to start: some model did not pass admission (one line per refused model)."""


def build_state(config: ServeConfig, *, registry: Registry | None = None, capture: CaptureSink | None = None) -> ServerState:
    """Open the registry, admit every model (``AdmissionFailed`` listing each refusal) and set up the routes' state;
    ``capture`` defaults to the sink the configuration asks for (none unless ``capture_sample``)."""
    from bastion.registry import Registry
    from bastion.serve.app import ServerState
    from bastion.serve.auth import Authenticator
    from bastion.serve.capture import open_capture
    from bastion.serve.catalog import Catalog
    from bastion.serve.metrics import ServerMetrics
    from bastion.serve.routing import RolloutRouter
    from bastion.serve.stable import StableRouter

    registry = registry or Registry.open()
    metrics = ServerMetrics()
    stable = StableRouter()
    router = RolloutRouter(registry.engine, stable)
    catalog = Catalog(registry, config, router, stable, metrics)
    refusals = catalog.load()
    if refusals:
        raise AdmissionFailed("refusing to start:\n" + "\n".join(f"refused {line}" for line in refusals))
    if capture is None:
        schemas = {name: served.primary.schema for name, served in catalog.models.items()}
        capture = open_capture(config.capture_sample, config.capture_policy, root=config.capture_dir, schemas=schemas)
    authenticator = Authenticator(registry, config.oidc, cache_seconds=config.token_cache_seconds)
    return ServerState(config, registry, catalog, router, metrics, authenticator, capture)


def run(config: ServeConfig) -> None:
    """Serve until interrupted. With several workers each process admits the models itself; the parent admits them
    first, so a refusal stops everything before any worker starts."""
    import uvicorn

    from bastion.serve.app import create_app

    state = build_state(config)
    tls = {"ssl_certfile": str(config.tls_cert), "ssl_keyfile": str(config.tls_key)} if config.tls_cert and config.tls_key else {}
    common = {"host": config.host, "port": config.port, "access_log": False, "server_header": False, **tls}
    if config.workers == 1:
        uvicorn.run(create_app(state), **common)  # type: ignore[arg-type]
        return
    state.registry.close()
    os.environ[CONFIG_VARIABLE] = config.to_json()
    uvicorn.run("bastion.serve._server:worker_app", factory=True, workers=config.workers, **common)  # type: ignore[arg-type]


def worker_app() -> FastAPI:
    """One worker's app, from the configuration the parent left in ``BASTION_SERVE_CONFIG``."""
    from bastion.serve.app import create_app
    from bastion.serve.config import ServeConfig

    return create_app(build_state(ServeConfig.from_json(os.environ[CONFIG_VARIABLE])))
