"""The two ways a route asks the service for a decision: a new call's first one, and the next
one after an event. Every route that decides goes through them (the routing contract's,
`/v1/route`, the platforms' adapters, the disposition page), so the deadline, the fallbacks,
retries and the seq checks are the same everywhere (`Service.decision`)."""

from __future__ import annotations

from typing import Any

from routing_engine.contract import EventRequest, NewCallRequest
from routing_engine.core.compiled import CompiledDeployment
from routing_engine.service.core import Service
from routing_engine.service.fallbacks import Asked


async def first_decision(
    service: Service,
    call: NewCallRequest,
    arrived: float | None,
    compiled: CompiledDeployment | None = None,
) -> dict[str, Any]:
    """`call`'s first decision (seq 1), on `compiled` (the serving version by default); its
    fallback is its dialed number's line's."""
    version = compiled or service.current.compiled
    return await service.decision(
        lambda: service.start_call(call, version),
        call.call_id,
        1,
        version,
        call.dialed,
        asked=Asked(call=call),
        arrived=arrived,
    )


async def next_decision(
    service: Service,
    call_id: str,
    event: EventRequest,
    arrived: float | None,
    compiled: CompiledDeployment | None = None,
) -> dict[str, Any]:
    """The decision after `event` (seq + 1); its fallback is the call's as stored."""
    version = compiled or service.current.compiled
    return await service.decision(
        lambda: service.apply_event(call_id, event),
        call_id,
        event.seq + 1,
        version,
        asked=Asked(event=event),
        arrived=arrived,
    )
