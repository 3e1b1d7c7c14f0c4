"""schemathesis over the whole OpenAPI of a running hospital server: 0 server errors, 0 schema
mismatches.

The server runs with API keys; each operation is called with the key of a role its route
allows (the gate's own table, `service/auth.py`), so the authenticated routes are exercised
past the gate. Each operation gets valid (positive) and invalid (negative) cases; every answer
is checked for: no 5xx, a status the OpenAPI documents for the route, its content type, its
body against the documented schema and its documented headers. An operation that cannot be
loaded (an unresolvable reference) counts as a mismatch. The ticket event stream (an endless
response) is left out.

    python -m reliability.openapi [--quick]
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from reliability.common import Figure, Server, count, info, probe_main, share
from routing_engine.service.auth import PERMISSIONS
from routing_engine.service.twilio_auth import TOKEN_ENV

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
SKIPPED = {("GET", "/v1/tickets/events")}  # an endless event stream
PREFERRED = ("telephony", "staff", "admin")  # the narrowest role a route allows, first
# Twilio's routes are on (a token set), so their signature check answers, not a 503
TWILIO = "probe-twilio-auth-token-0123456789"


def role_for(method: str, path: str) -> str | None:
    """The role whose key this route takes (None: a route that needs no key)."""
    for allowed_method, prefix, roles in PERMISSIONS:
        if allowed_method in ("*", method) and path.startswith(prefix):
            if roles is None:  # a route that checks its caller itself (Twilio's, jambonz's)
                return None
            return next(role for role in PREFERRED if role in roles)
    return None


class Tally:
    def __init__(self) -> None:
        self.cases = 0
        self.server_errors = 0
        self.mismatches = 0
        self.statuses: Counter[int] = Counter()
        self.examples: list[str] = []

    def note(self, what: str) -> None:
        """Keep the first finding of each operation and answer status."""
        key = what.split(":", 1)[0]
        if len(self.examples) < 24 and not any(e.split(":", 1)[0] == key for e in self.examples):
            self.examples.append(what)


def unresolved_references(spec: Any) -> list[str]:
    """Every local `$ref` of the OpenAPI that points at nothing."""
    found: list[str] = []

    def resolve(reference: str) -> bool:
        node = spec
        for part in reference.removeprefix("#/").split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            reference = str(node.get("$ref", ""))
            local = reference.startswith("#/")
            if local and not resolve(reference) and reference not in found:
                found.append(reference)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    return found


def error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {' '.join(str(error).split())[:120]}"


def exercise(operation: Any, server: Server, examples: int, stop_at: float, tally: Tally) -> None:
    """Positive and negative cases of one operation, until `examples` each or `stop_at`."""
    method, path = operation.method.upper(), operation.path
    role = role_for(method, path)
    headers = server.headers(role) if role else {}

    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(operation.as_strategy(generation_mode=mode))
        def case(generated: Case[Any]) -> None:
            if time.monotonic() > stop_at:
                return
            try:
                response = generated.call(headers=headers, timeout=15)
            except OSError as error:  # requests' errors are OSErrors: no answer came
                tally.cases += 1
                tally.server_errors += 1
                tally.note(f"{method} {path}: no answer ({type(error).__name__})")
                return
            tally.cases += 1
            tally.statuses[response.status_code] += 1
            try:
                generated.validate_response(response, checks=CHECKS)
            except (Exception, BaseExceptionGroup) as failure:  # the finding: the check it broke
                title = " ".join(str(failure).split())[:160]
                if response.status_code >= 500:
                    tally.server_errors += 1
                else:
                    tally.mismatches += 1
                tally.note(f"{method} {path} -> {response.status_code}: {title}")

        try:
            case()
        except Unsatisfiable as error:
            if mode is GenerationMode.NEGATIVE:  # nothing to get wrong (no parameters, no body)
                continue
            tally.mismatches += 1  # no valid input can be made from what the OpenAPI says
            tally.note(f"{method} {path}: no valid case can be generated ({error_text(error)})")
        except Exception as error:  # generation itself failed: the schema is at fault
            tally.mismatches += 1
            tally.note(f"{method} {path}: cases could not be generated ({error_text(error)})")


def run(quick: bool) -> list[Figure]:
    probe = "schemathesis, whole OpenAPI"
    examples, budget_s = (4, 60.0) if quick else (25, 200.0)
    with tempfile.TemporaryDirectory(prefix="reliability-openapi-") as scratch:
        env = {
            "ROUTING_DATA_DIR": str(Path(scratch) / "data"),
            # Twilio's routes on, so that they are exercised (unsigned cases: 403), not off (503)
            TOKEN_ENV: "reliability-probe-twilio-token",
        }
        server = Server(None, keys=True, env=env)
        try:
            if not server.ready:
                return [info(probe, "server", f"did not start: {server.log_tail()}")]
            unresolved = unresolved_references(server.client.get("/openapi.json").json())
            schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
            tally, operations, broken = Tally(), 0, 0
            stop_at = time.monotonic() + budget_s
            for result in schema.get_all_operations():
                if isinstance(result, Err):  # an operation the schema cannot describe
                    broken += 1
                    tally.note(f"not loadable: {error_text(result.err())}")
                    continue
                operation = result.ok()
                if (operation.method.upper(), operation.path) in SKIPPED:
                    continue
                operations += 1
                exercise(operation, server, examples, stop_at, tally)
            tracebacks = server.log_path.read_text(errors="replace").count("Traceback")
        finally:
            server.stop()
    statuses = ", ".join(f"{code}: {n}" for code, n in sorted(tally.statuses.items()))
    return [
        info(probe, "operations (cases each, positive and negative)", f"{operations} ({examples})"),
        info(probe, "cases run", tally.cases),
        info(probe, "answers by status", statuses),
        count(probe, "server errors (5xx or no answer)", tally.server_errors),
        count(probe, "schema mismatches (status, content type, body, headers)", tally.mismatches),
        count(probe, "operations that cannot be loaded", broken),
        count(probe, "references ($ref) that resolve to nothing", len(unresolved)),
        *[info(probe, "unresolved reference", reference) for reference in unresolved],
        count(probe, "tracebacks in the server's log", tracebacks),
        share(probe, "time budget kept", int(time.monotonic() <= stop_at + 30), 1),
        *[info(probe, "example", example) for example in tally.examples],
    ]


if __name__ == "__main__":
    probe_main(run, __doc__)
