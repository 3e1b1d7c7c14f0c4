"""Publishing flow versions: a checked deployment made the one new calls get, answered with the
diff against the version it replaced (`review.diff`, the same JSON as `cli.py diff --format
json`). A dry run answers that diff without publishing, with the new hash and the current one
(`base`); a publish that carries them back (`"confirm"`, `"base"`) is refused when the files
or the current version changed since the review."""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse

from routing_engine.api import CheckResult, check
from routing_engine.core.compiled import CompiledDeployment
from routing_engine.review.diff import DeploymentDiff, diff_deployments
from routing_engine.service.core import Service
from routing_engine.service.http import Refusal, problem

_FULL_HASH = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class PublishOptions:
    """What a publish request asks besides its files: only the diff (`dry_run`), or publish
    only these files (`confirm`, their hash) over this version (`base`, its hash)."""

    dry_run: bool = False
    confirm: str | None = None
    base: str | None = None


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


class Publisher:
    """Publishes for one app: its service, the directory a reload reads again (SIGHUP too),
    and the lock that keeps a publish's checks of the current version and the publish
    together."""

    def __init__(self, service: Service, directory: str | os.PathLike[str] | None):
        self.service = service
        self.directory = directory
        self.publishing = asyncio.Lock()

    def diff(self, old: CompiledDeployment, new: CompiledDeployment) -> DeploymentDiff:
        """What a publish changes, its rewritten conditions read at the service's time."""
        return diff_deployments(old, new, at=self.service.clock())

    def same_deployment(self, compiled: CompiledDeployment) -> None:
        """Refuse (409) a version of another deployment: the store belongs to this one."""
        serving = self.service.current.name
        if compiled.name != serving:
            raise Refusal(
                409,
                "other-deployment",
                f"these files are deployment {compiled.name!r}; this service and its store "
                f"belong to {serving!r}. Serve {compiled.name!r} with its own store",
                [{"field": "files", "problem": f"deployment {compiled.name!r}, not {serving!r}"}],
            )

    async def publish(
        self, result: CheckResult, options: PublishOptions = PublishOptions()
    ) -> JSONResponse:
        """Publish a checked deployment and answer the diff against the version it replaced;
        refuse (422, with its diagnostics) one with errors, and (409) one whose hash is not
        `options.confirm` or that would replace another version than `options.base`."""
        compiled = result.compiled
        if compiled is None:
            return invalid(result)
        self.same_deployment(compiled)
        async with self.publishing:
            replaced = self.service.current.compiled
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
            answer = await self.service.publish(result)
        diff = await asyncio.to_thread(self.diff, replaced, compiled)
        return JSONResponse({**answer, "diff": diff.to_json()})

    async def dry_run(self, result: CheckResult) -> JSONResponse:
        """The diff a publish of these files would answer, and the hashes to confirm it with."""
        compiled = result.compiled
        if compiled is None:
            return invalid(result)
        self.same_deployment(compiled)
        base = self.service.current.compiled
        diff = await asyncio.to_thread(self.diff, base, compiled)
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

    async def reload(self) -> JSONResponse:
        """Check the deployment directory again (off the event loop) and publish it."""
        if self.directory is None:
            return problem(
                409, "no-directory", "this service was not started from a deployment directory"
            )
        return await self.publish(await asyncio.to_thread(check, self.directory))


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
