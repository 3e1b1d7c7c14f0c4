"""Admin routes: flow versions (reload, validate, publish, versions, roll back, diagrams) and
live targets. What a publish answers, and how a dry run is confirmed, is `publishing.py`'s."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from routing_engine.api import CheckResult, check_texts
from routing_engine.contract import TargetChange, parse_as
from routing_engine.core.analysis import build_index
from routing_engine.review.render import build, path_from_trace, render_with_timeout
from routing_engine.service.core import Service
from routing_engine.service.deps import PublisherDep, ServiceDep
from routing_engine.service.http import (
    JSON_BODY,
    MAX_FILES_BODY_BYTES,
    Refusal,
    body_of,
    json_body,
    problem,
    read_body,
    refusals,
)
from routing_engine.service.publishing import publish_options

DIAGRAM_SECONDS = 20.0
# The bodies the flow routes read themselves (`checked_files`, `publish_options`), as documented.
_FILES = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": {"type": "string"},
    "description": "each file of the deployment: its name (e.g. flows/er.yaml) and its text",
}
_HASH = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
FILES_BODY = {"type": "object", "required": ["files"], "properties": {"files": _FILES}}
PUBLISH_BODY = {
    **FILES_BODY,
    "additionalProperties": False,
    "properties": {
        "files": _FILES,
        "dry_run": {"type": "boolean", "description": "answer the diff; publish nothing"},
        "confirm": {**_HASH, "description": "the files' hash, as a dry run gave it"},
        "base": {**_HASH, "description": "the current version's hash, as a dry run gave it"},
    },
}
ROLLBACK_BODY = {
    "type": "object",
    "properties": {
        "hash": {"type": "string", "description": "a published version's hash or the start of it"}
    },
}

router = APIRouter()


@router.post("/v1/flows/reload", tags=["flows"], responses=refusals(409, 422))
async def reload_route(publisher: PublisherDep) -> JSONResponse:
    """Re-read the deployment directory and publish it (as on SIGHUP)."""
    return await publisher.reload()


async def checked_files(request: Request) -> tuple[dict[str, Any], CheckResult]:
    """The request's body, and the check of the deployment it sends as file texts (off the
    event loop)."""
    body = await json_body(request, MAX_FILES_BODY_BYTES)
    files = body.get("files") if isinstance(body, dict) else None
    if (
        not isinstance(files, dict)
        or not files
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())
    ):
        raise Refusal(
            422,
            "bad-request",
            'send {"files": {"NAME.yaml": "TEXT", ...}}',
            [{"field": "files", "problem": "a mapping of file names to their text"}],
        )
    return body, await asyncio.to_thread(check_texts, files)


@router.post(
    "/v1/flows/validate",
    tags=["flows"],
    responses=refusals(*JSON_BODY),
    openapi_extra=body_of(FILES_BODY),
)
async def validate_route(request: Request) -> JSONResponse:
    """Check a deployment given as file texts, without publishing it."""
    _, result = await checked_files(request)
    return JSONResponse(
        {
            "ok": result.ok,
            "hash": result.digest,
            "diagnostics": [d.to_json() for d in result.diagnostics],
        }
    )


@router.post(
    "/v1/flows/publish",
    tags=["flows"],
    responses=refusals(*JSON_BODY, 409),
    openapi_extra=body_of(PUBLISH_BODY),
)
async def publish_route(request: Request, publisher: PublisherDep) -> JSONResponse:
    """Check a deployment given as file texts and, when it has no errors, publish it; the
    answer holds the diff against the version it replaced. `"dry_run": true` publishes
    nothing and answers that diff, the files' `hash` and the current version's (`base`);
    sent back as `"confirm"` and `"base"`, they make the publish refused (409) when the
    files or the current version changed since."""
    body, result = await checked_files(request)
    options = publish_options(body)
    if options.dry_run:
        return await publisher.dry_run(result)
    return await publisher.publish(result, options)


@router.get("/v1/flows/versions", tags=["flows"])
async def versions_route(service: ServiceDep) -> JSONResponse:
    """Every published version, oldest first; `current` marks the one new calls get."""
    listed = await service.store.list_versions()
    for item in listed:
        item["current"] = item["hash"] == service.current.digest  # type: ignore[assignment]
    return JSONResponse(listed)


@router.post(
    "/v1/flows/rollback",
    tags=["flows"],
    responses=refusals(*JSON_BODY, 404, 409),
    openapi_extra=body_of(ROLLBACK_BODY),
)
async def rollback_route(
    request: Request, service: ServiceDep, publisher: PublisherDep
) -> JSONResponse:
    """Make an earlier published version (by hash or version) the current one."""
    body = await json_body(request)
    wanted = str(body.get("hash", "")) if isinstance(body, dict) else ""
    match = [
        v["hash"]
        for v in await service.store.list_versions()
        if wanted and v["hash"].startswith(wanted)
    ]
    if len(match) != 1:
        return problem(
            404 if not match else 409,
            "unknown-version",
            f"no single published version matches '{wanted}'",
        )
    files = await service.store.version_sources(match[0])
    result = await asyncio.to_thread(check_texts, files or {}, match[0])
    return await publisher.publish(result)


def target_view(service: Service, name: str, live: dict[str, Any]) -> dict[str, Any]:
    """A target as declared in the current deployment, with its live availability and skills."""
    target = service.current.compiled.targets[name]
    state = live.get(name, {})
    return {
        "name": name,
        "kind": target.kind,
        "uri": target.uri,
        "site": target.site,
        "region": target.region,
        "capacity": target.capacity,
        "available": state.get("available", target.available),
        "skills": state.get("skills", list(target.skills)),
        "declared": {"available": target.available, "skills": list(target.skills)},
    }


@router.get("/v1/targets", tags=["targets"])
async def targets_route(service: ServiceDep) -> JSONResponse:
    """Every target of the current deployment, with its live availability and skills."""
    live = await service.store.target_states()
    return JSONResponse(
        [target_view(service, name, live) for name in service.current.compiled.targets]
    )


@router.patch(
    "/v1/targets/{name}",
    tags=["targets"],
    responses=refusals(*JSON_BODY, 404),
    openapi_extra=body_of(TargetChange),
)
async def patch_target(name: str, request: Request, service: ServiceDep) -> JSONResponse:
    """Change a target's availability and/or skills; the next decisions use it, in every
    process that shares the store."""
    if name not in service.current.compiled.targets:
        return problem(404, "unknown-target", f"no target '{name}'")
    change = await read_body(request, partial(parse_as, TargetChange))
    if change.available is None and change.skills is None:
        return problem(422, "bad-request", "give 'available' and/or 'skills'")
    await service.store.set_target(name, change.available, change.skills)
    return JSONResponse(target_view(service, name, await service.store.target_states()))


@router.get("/v1/flows/{name}/diagram.svg", tags=["flows"], responses=refusals(404, 503))
async def diagram(name: str, service: ServiceDep, call_id: str | None = None) -> Response:
    """The flow's diagram (current version), drawn outside the request's event loop with a
    time limit; `?call_id=` draws that call's path bold (on the version it is pinned to)."""
    compiled = service.current.compiled
    path: list[tuple[str, str]] = []
    if call_id is not None:
        stored = await service.store.call(call_id)
        if stored is None:
            return problem(404, "unknown-call", f"no call '{call_id}'")
        compiled = await service.version(stored.digest) or compiled
    index = build_index(compiled.deployment)
    if name not in index.flows:
        return problem(
            404, "unknown-flow", f"no flow '{name}'; flows: {', '.join(sorted(index.flows))}"
        )
    if call_id is not None and stored is not None:
        path = path_from_trace(index, stored.state.get("trace", []))
    graph = build(index, [name], path)
    try:
        svg = await asyncio.to_thread(render_with_timeout, graph, "svg", DIAGRAM_SECONDS)
    except TimeoutError as error:
        return problem(503, "diagram-too-slow", str(error))
    return Response(svg, media_type="image/svg+xml")
