"""Admin routes: publishing flow versions (reload, SIGHUP, validate, publish, versions,
roll back) and live targets.

A publish answers the diff against the version it replaced (`diff.py`, the same JSON as
`cli.py diff --format json`). `"dry_run": true` answers that diff without publishing, with the
new hash and the current one (`base`); a publish that carries them back (`"confirm"`,
`"base"`) is refused when the files or the current version changed since the review."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from routing_engine.api import CheckResult, check, check_texts
from routing_engine.contract import (
    TargetChange,
    parse_as,
)
from routing_engine.core.analysis import build_index
from routing_engine.review.diff import diff_deployments
from routing_engine.review.render import build, path_from_trace, render_with_timeout
from routing_engine.service.core import Service
from routing_engine.service.http import Refusal, json_body, problem, read_body

DIAGRAM_SECONDS = 20.0


@dataclass(frozen=True, slots=True)
class PublishOptions:
    """What a publish request asks besides its files: only the diff (`dry_run`), or publish
    only these files (`confirm`, their hash) over this version (`base`, its hash)."""

    dry_run: bool = False
    confirm: str | None = None
    base: str | None = None


_FULL_HASH = re.compile(r"^[0-9a-f]{64}$")


def publish_options(body: dict[str, Any]) -> PublishOptions:
    """The options of a publish request's body; a Refusal (422) naming the fields that do not
    fit."""
    problems: list[dict[str, Any]] = [
        {"field": name, "problem": "not a publish option: files, dry_run, confirm, base"}
        for name in body
        if name not in ("files", "dry_run", "confirm", "base")
    ]  # a misspelt `dry_run` must not publish for real
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        problems.append({"field": "dry_run", "problem": "true or false"})
    hashes: dict[str, str | None] = {}
    for name in ("confirm", "base"):
        value = body.get(name)
        if value is not None and not (isinstance(value, str) and _FULL_HASH.match(value)):
            problems.append(
                {
                    "field": name,
                    "problem": "a version's full hash (64 hex digits), as a dry run gives it",
                }
            )
        hashes[name] = value if isinstance(value, str) and _FULL_HASH.match(value) else None
    if problems:
        raise Refusal(422, "bad-request", "publish options that do not fit", problems)
    return PublishOptions(dry_run is True, hashes["confirm"], hashes["base"])


def add_admin_routes(
    app: FastAPI, service: Service, path: str | os.PathLike[str] | None
) -> Callable[[], Awaitable[JSONResponse]]:
    """Add the flow and target routes; return the reload action (SIGHUP uses it too)."""
    store = service.store
    publishing = asyncio.Lock()  # a publish's checks of the current version and the publish

    async def publish_checked(
        result: CheckResult, options: PublishOptions = PublishOptions()
    ) -> JSONResponse:
        """Publish a checked deployment and answer the diff against the version it replaced;
        refuse (422, with its diagnostics) one with errors, and (409) one whose hash is not
        `options.confirm` or that would replace another version than `options.base`."""
        compiled = result.compiled
        if compiled is None:
            return invalid(result)
        async with publishing:
            replaced = service.current.compiled
            if options.confirm is not None and options.confirm != compiled.digest:
                raise Refusal(
                    409,
                    "confirm-mismatch",
                    f"these files have hash {compiled.digest}, not the confirmed "
                    f"{options.confirm}; review them again with a dry run",
                )
            if options.base is not None and options.base != replaced.digest:
                raise Refusal(
                    409,
                    "base-changed",
                    f"version {replaced.version} was published since the review against "
                    f"{options.base[:12]}; review the new diff with a dry run",
                )
            answer = await service.publish(result)
        diff = await asyncio.to_thread(diff_deployments, replaced, compiled)
        return JSONResponse({**answer, "diff": diff.to_json()})

    async def dry_run(result: CheckResult) -> JSONResponse:
        """The diff a publish of these files would answer, and the hashes to confirm it with."""
        compiled = result.compiled
        if compiled is None:
            return invalid(result)
        base = service.current.compiled
        diff = await asyncio.to_thread(diff_deployments, base, compiled)
        return JSONResponse(
            {
                "dry_run": True,
                "published": False,
                "name": compiled.name,
                "version": compiled.version,
                "hash": compiled.digest,
                "base": base.digest,
                "warnings": [d.to_json() for d in result.diagnostics],
                "diff": diff.to_json(),
            }
        )

    def invalid(result: CheckResult) -> JSONResponse:
        """The refusal of a deployment with errors (422), with every diagnostic."""
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

    async def checked_files(request: Request) -> tuple[dict[str, Any], CheckResult]:
        """The request's body, and the check of the deployment it sends as file texts (off the
        event loop)."""
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
        return body, await asyncio.to_thread(check_texts, files)

    @app.post("/v1/flows/validate", tags=["flows"])
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

    @app.post("/v1/flows/publish", tags=["flows"])
    async def publish_route(request: Request) -> JSONResponse:
        """Check a deployment given as file texts and, when it has no errors, publish it; the
        answer holds the diff against the version it replaced. `"dry_run": true` publishes
        nothing and answers that diff, the files' `hash` and the current version's (`base`);
        sent back as `"confirm"` and `"base"`, they make the publish refused (409) when the
        files or the current version changed since."""
        body, result = await checked_files(request)
        options = publish_options(body)
        if options.dry_run:
            return await dry_run(result)
        return await publish_checked(result, options)

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
