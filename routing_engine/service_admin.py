"""Admin routes: publishing flow versions (reload, SIGHUP, validate, publish, versions,
roll back) and live targets."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from routing_engine.analysis import build_index
from routing_engine.api import CheckResult, check, check_texts
from routing_engine.contract import (
    TargetChange,
    parse_as,
)
from routing_engine.render import build, path_from_trace, render_with_timeout
from routing_engine.service_core import Refusal, Service, json_body, problem, read_body

DIAGRAM_SECONDS = 20.0


def add_admin_routes(
    app: FastAPI, service: Service, path: str | os.PathLike[str] | None
) -> Callable[[], Awaitable[JSONResponse]]:
    """Add the flow and target routes; return the reload action (SIGHUP uses it too)."""
    store = service.store

    async def publish_checked(result: CheckResult) -> JSONResponse:
        """Publish a checked deployment; refuse (422, with its diagnostics) one with errors."""
        if result.compiled is not None:
            return JSONResponse(await service.publish(result))
        problems = [d.to_json() for d in result.diagnostics if d.is_error]
        message = f"the deployment has {len(problems)} error(s); nothing was published"
        return JSONResponse(
            {
                "error": "invalid-deployment",
                "message": message,
                "diagnostics": [d.to_json() for d in result.diagnostics],
            },
            status_code=422,
        )

    async def reload() -> JSONResponse:
        result = await asyncio.to_thread(check, path) if path is not None else None
        if result is None:
            return problem(
                409, "no-directory", "this service was not started from a deployment directory"
            )
        return await publish_checked(result)

    @app.post("/v1/flows/reload", tags=["flows"])
    async def reload_route() -> JSONResponse:
        """Re-read the deployment directory and publish it (as on SIGHUP)."""
        return await reload()

    async def checked_files(request: Request) -> CheckResult:
        """Check the deployment a request sends as file texts (off the event loop)."""
        body = await json_body(request)
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
        return await asyncio.to_thread(check_texts, files)

    @app.post("/v1/flows/validate", tags=["flows"])
    async def validate_route(request: Request) -> JSONResponse:
        """Check a deployment given as file texts, without publishing it."""
        result = await checked_files(request)
        return JSONResponse(
            {
                "ok": result.ok,
                "hash": result.digest,
                "diagnostics": [d.to_json() for d in result.diagnostics],
            }
        )

    @app.post("/v1/flows/publish", tags=["flows"])
    async def publish_route(request: Request) -> JSONResponse:
        """Check a deployment given as file texts and, when it has no errors, publish it."""
        result = await checked_files(request)
        return await publish_checked(result)

    @app.get("/v1/flows/versions", tags=["flows"])
    async def versions_route() -> JSONResponse:
        """Every published version, oldest first; `current` marks the one new calls get."""
        listed = await store.list_versions()
        for item in listed:
            item["current"] = item["hash"] == service.current.digest  # type: ignore[assignment]
        return JSONResponse(listed)

    @app.post("/v1/flows/rollback", tags=["flows"])
    async def rollback_route(request: Request) -> JSONResponse:
        """Make an earlier published version (by hash or version) the current one."""
        body = await json_body(request)
        wanted = str(body.get("hash", "")) if isinstance(body, dict) else ""
        match = [
            v["hash"]
            for v in await store.list_versions()
            if wanted and v["hash"].startswith(wanted)
        ]
        if len(match) != 1:
            return problem(
                404 if not match else 409,
                "unknown-version",
                f"no single published version matches '{wanted}'",
            )
        files = await store.version_sources(match[0])
        result = await asyncio.to_thread(check_texts, files or {}, match[0])
        return await publish_checked(result)

    async def target_view(name: str, live: dict[str, Any]) -> dict[str, Any]:
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

    @app.get("/v1/targets", tags=["targets"])
    async def targets_route() -> JSONResponse:
        """Every target of the current deployment, with its live availability and skills."""
        live = await store.target_states()
        return JSONResponse(
            [await target_view(name, live) for name in service.current.compiled.targets]
        )

    @app.patch("/v1/targets/{name}", tags=["targets"])
    async def patch_target(name: str, request: Request) -> JSONResponse:
        """Change a target's availability and/or skills; the next decisions use it, in every
        process that shares the store."""
        if name not in service.current.compiled.targets:
            return problem(404, "unknown-target", f"no target '{name}'")
        change = await read_body(request, partial(parse_as, TargetChange))
        if change.available is None and change.skills is None:
            return problem(422, "bad-request", "give 'available' and/or 'skills'")
        await store.set_target(name, change.available, change.skills)
        return JSONResponse(await target_view(name, await store.target_states()))

    @app.get("/v1/flows/{name}/diagram.svg", tags=["flows"])
    async def diagram(name: str, call_id: str | None = None) -> Response:
        """The flow's diagram (current version), drawn outside the request's event loop with a
        time limit; `?call_id=` draws that call's path bold (on the version it is pinned to)."""
        compiled = service.current.compiled
        path: list[tuple[str, str]] = []
        if call_id is not None:
            stored = await store.call(call_id)
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

    return reload
