"""The HTTP service (FastAPI). Thin: it translates HTTP to the library and back."""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI

from routing_engine import __version__
from routing_engine.api import LoadedDeployment, load_deployment


def create_app(deployment: str | os.PathLike[str] | LoadedDeployment) -> FastAPI:
    """An app serving one deployment; a deployment with errors fails here, before binding."""
    loaded = deployment if isinstance(deployment, LoadedDeployment) else load_deployment(deployment)
    app = FastAPI(
        title="routing-engine",
        version=__version__,
        summary="Call-routing decisions for telephony systems",
    )
    app.state.deployment = loaded

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, Any]:
        """Liveness: the process is up and has a compiled deployment."""
        return {"status": "ok", "deployment": loaded.name, "version": loaded.compiled.version}

    return app
