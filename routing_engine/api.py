"""The public Python API: load a deployment, start calls, apply events.

    from routing_engine import load_deployment
    hospital = load_deployment("examples/hospital")
    state, decision = hospital.start_call({"call_id": "c1", "from": "+12125550123",
                                           "to": "+12125550111", "at": "2026-11-23T10:00:00-05:00"})
    state, decision = hospital.apply_event(state, {"event_id": "e1", "seq": 1, "type": "digits",
                                                   "data": {"digits": "3"}})

States and decisions are plain JSON-able dicts, the same structures the HTTP API returns.
The pipeline is four calls: read, build, validate, compile (see `check`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from routing_engine.contract import BadRequest, parse_event, parse_new_call
from routing_engine.core import ir
from routing_engine.core.compile import CompiledDeployment, compile_deployment
from routing_engine.core.context import Context
from routing_engine.core.diagnostics import Diagnostic, DiagnosticError, capped
from routing_engine.core.runtime import CallState, TargetStates, start, step
from routing_engine.sources.build import build_deployment
from routing_engine.sources.loader import Sources, load_sources, texts_to_sources
from routing_engine.validate import validate


@dataclass(slots=True)
class CheckResult:
    """Everything known about a deployment after reading, validating and compiling it."""

    diagnostics: list[Diagnostic]
    sources: dict[str, str]
    digest: str
    deployment: ir.Deployment | None = None
    compiled: CompiledDeployment | None = None
    context: Context | None = None  # the validation's analysis (index, graph), when built

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


def check(path: str | os.PathLike[str]) -> CheckResult:
    """Read, build, validate and (when there are no errors) compile a deployment."""
    return _check(load_sources(path))


def check_texts(files: Mapping[str, str], digest: str | None = None) -> CheckResult:
    """The same for a deployment given as file texts ({name: text}; modules included, as the
    `modules:` folders are not read). `digest` keeps a stored version's identity."""
    sources = texts_to_sources(files)
    if digest is not None:
        sources.digest = digest
    return _check(sources)


def _check(sources: Sources) -> CheckResult:
    deployment, problems = build_deployment(sources.documents, unreadable=bool(sources.diagnostics))
    diagnostics = sources.diagnostics + problems
    result = CheckResult(diagnostics, sources.texts, sources.digest, deployment)
    if deployment is not None:
        context, findings = validate(deployment)
        result.context = context
        diagnostics.extend(findings)
        if result.ok:
            result.compiled = compile_deployment(context, sources.digest)
    result.diagnostics = capped(diagnostics)  # in order; at most MAX_PER_FILE a file
    return result


@dataclass(slots=True)
class LoadedDeployment:
    """A validated, compiled deployment, ready to route calls."""

    compiled: CompiledDeployment
    warnings: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.compiled.name

    @property
    def digest(self) -> str:
        return self.compiled.digest

    def start_call(
        self, call: Mapping[str, Any], targets: TargetStates | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start a call from a request body ({"call_id", "from", "to", "at"?, "attributes"?}).
        Raises `contract.BadRequest` for input that does not fit the contract."""
        request = parse_new_call(call)
        state, decision = start(self.compiled, request.to_runtime(), targets)
        return state.to_json(), decision.to_json()

    def apply_event(
        self,
        state: Mapping[str, Any],
        event: Mapping[str, Any],
        targets: TargetStates | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Apply an event body ({"event_id", "seq", "type", "data"?, "at"?}) to a call state.
        Raises `runtime.EventRejected` when the event does not fit the call (stale seq, ended
        call, an event not awaited) and `contract.BadRequest` for malformed input."""
        request = parse_event(event)
        try:
            current = CallState.from_json(state)
        except (KeyError, ValueError, TypeError, AttributeError) as error:
            problem = f"not a call state of this engine ({error!r})"
            raise BadRequest([{"field": "state", "problem": problem}]) from None
        new, decision = step(self.compiled, current, request.to_runtime(), targets)
        return new.to_json(), decision.to_json()


def load_deployment(path: str | os.PathLike[str]) -> LoadedDeployment:
    """Load a deployment directory; raises DiagnosticError carrying every diagnostic when it has
    errors. Warnings are kept on the result."""
    result = check(path)
    if result.compiled is None:
        raise DiagnosticError(result.diagnostics, result.sources)
    return LoadedDeployment(result.compiled, result.diagnostics, result.sources)
