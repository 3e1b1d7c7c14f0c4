"""Health and metrics routes, for orchestrators and Prometheus: liveness, readiness (the store
answers), and the metrics of every worker. They need no key."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from routing_engine.service.deps import ServiceDep
from routing_engine.service.http import problem, refusals
from routing_engine.service.observability import metrics_payload
from routing_engine.service.store_health import PROBE_S, why

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(service: ServiceDep) -> dict[str, Any]:
    """Liveness: the process is up and has a compiled deployment."""
    return {
        "status": "ok",
        "deployment": service.current.name,
        "version": service.current.compiled.version,
    }


@router.get("/readyz", responses=refusals(503))
async def readyz(service: ServiceDep) -> JSONResponse:
    """Readiness: a deployment is loaded and the store commits. 503 with the reason when the
    store cannot be opened for writing (the server answers every call its fallback), does not
    answer, or does not commit a probe write within PROBE_S (locked, read-only, full)."""
    shown = service.store.shown
    if service.health.down is not None:
        message = f"the store {shown} cannot be opened for writing ({service.health.down}): "
        return problem(503, "store-unwritable", message + "every call gets its fallback")
    try:
        await asyncio.wait_for(service.store.ping(), timeout=2)
    except Exception as error:  # the store is down: not ready, say why
        return problem(
            503, "store-unavailable", f"the store does not answer: {type(error).__name__}"
        )
    try:
        await asyncio.wait_for(service.store.probe(), timeout=PROBE_S)
    except Exception as error:  # answered reads, cannot commit: decisions fall back
        reason = "no commit within the time" if isinstance(error, TimeoutError) else why(error)
        message = f"the store {shown} cannot commit ({reason}): decisions fall back"
        return problem(503, "store-cannot-commit", message)
    return JSONResponse(
        {
            "status": "ready",
            "deployment": service.current.name,
            "version": service.current.compiled.version,
        }
    )


METRICS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Prometheus' text exposition format",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}


@router.get("/metrics", response_class=Response, responses=METRICS_RESPONSES)
async def metrics(service: ServiceDep) -> Response:
    """Prometheus metrics: decisions by result and node kind, fallbacks by reason, decision
    latency, open calls (every worker's, with $PROMETHEUS_MULTIPROC_DIR)."""
    body, content_type = metrics_payload(await service.store.open_calls())
    return Response(body, media_type=content_type)
