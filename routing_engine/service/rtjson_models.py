"""The answer of `POST /v1/route` as the OpenAPI documents it: Kamailio's rtjson routing
document (the `rtjson` module's `version`, `routing` and `routes`), with the engine's fields
beside it. `sip.rtjson` builds the plain dict; these models only describe it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class RtjsonHeaders(BaseModel):
    extra: str = Field(
        description="headers for the leg, each ending in CRLF: X-Route-Target, X-Routing-Call, "
        "X-Call-Seq, and when they apply X-Route-Fallback, X-Outcomes, X-Disposition-URL, "
        "X-Voicemail-Board, X-Voicemail-Max-Length"
    )


class RtjsonRoute(BaseModel):
    uri: str = Field(
        description="a SIP or SIPS URI the proxy dials: a line's own, or a number through its "
        "trunk (a target it could not dial is never answered)"
    )
    fr_timer: int = Field(description="ms to wait for the leg's first reply")
    fr_inv_timer: int = Field(description="ms the leg rings before it counts as no answer")
    headers: RtjsonHeaders


class RtjsonRoutes(BaseModel):
    version: Literal["1.0"]
    routing: Literal["serial", "parallel"]
    routes: list[RtjsonRoute]


class RouteResponse(RtjsonRoutes):
    """A decision as Kamailio's rtjson routing document, with the engine's fields beside it."""

    call_id: str
    seq: int = Field(description="the decision's seq: send it back with a failure or a report")
    final: bool = Field(description="no routes: the call ends here")
    await_: list[str] = Field(alias="await", description="the events the decision awaits")
    fallback_reason: str | None = Field(
        description="set when this answer is a fallback, not the flow's decision (so is the "
        "X-Routing-Fallback header): the engine's own reason (`deadline`, ...), or "
        "`needs-media` when the flow's decision is a menu or voicemail a proxy cannot play"
    )
    fallback: RtjsonRoutes = Field(
        description="the decision's precomputed fallback (its line's): what to ring if the "
        "engine cannot be reached later in the call"
    )
