"""Bad input of any shape is a 4xx naming the problem, never a 500: JSON bodies nested too deep
or too large on every route that reads one (refused on their bytes, before parsing), numbers
JSON cannot carry, ids beyond what the store holds; and every status seen here is one the
OpenAPI documents for its route. The in-process app; the real server in test_service.py."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import HOSPITAL, ROOT

from routing_engine import LoadedDeployment
from routing_engine.core.clock import ManualClock
from routing_engine.service.app import create_app
from routing_engine.service.auth import Keys
from routing_engine.service.http import (
    MAX_BODY_BYTES,
    MAX_FILES_BODY_BYTES,
    MAX_ID,
    MAX_JSON_DEPTH,
    nested_deeper,
)
from routing_engine.service.openapi import NEVER_UNAVAILABLE
from routing_engine.store.notify import SECRET_ENV, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

AT = "2026-11-23T10:00:00-05:00"
JSON = {"content-type": "application/json"}
INBOX = "/notifications/inbox"
SECRET = b"hostile-input-webhook-secret-0123456789"
NEW_CALL = {"call_id": "c1", "from": "+12125550123", "to": "+12125550100"}
# Every route that reads a JSON body, with the limit its body has.
BODY_ROUTES = [
    ("POST", "/v1/calls", MAX_BODY_BYTES),
    ("POST", "/v1/calls/{call_id}/events", MAX_BODY_BYTES),
    ("POST", "/v1/route", MAX_BODY_BYTES),
    ("POST", "/v1/flows/validate", MAX_FILES_BODY_BYTES),
    ("POST", "/v1/flows/publish", MAX_FILES_BODY_BYTES),
    ("POST", "/v1/flows/rollback", MAX_BODY_BYTES),
    ("PATCH", "/v1/targets/{name}", MAX_BODY_BYTES),
    ("POST", "/v1/tickets/{ticket_id}/claim", MAX_BODY_BYTES),
    ("POST", "/v1/tickets/{ticket_id}/release", MAX_BODY_BYTES),
    ("POST", "/v1/tickets/{ticket_id}/resolve", MAX_BODY_BYTES),
    ("POST", "/board/session", MAX_BODY_BYTES),
    ("POST", INBOX, MAX_BODY_BYTES),
]
VALUES = {"call_id": "c1", "name": "er-nurse", "ticket_id": "1"}


class App:
    """The hospital served in process (no keys: requests to localhost need none), with a
    client that records each answer's status for its route, to check against the OpenAPI."""

    def __init__(self, hospital: LoadedDeployment, tmp_path: Path):
        clock = ManualClock(datetime.fromisoformat(AT))
        database = f"sqlite+aiosqlite:///{tmp_path / 'hostile.db'}"
        self.app = create_app(hospital, database, 5.0, HOSPITAL, keys=Keys(), clock=clock)
        self.seen: list[tuple[str, str, int]] = []

    def run(self, *requests: tuple[str, str, str, bytes | None]) -> list[httpx.Response]:
        """Send each (method, route, path, body) in turn, on one running app."""

        async def main() -> list[httpx.Response]:
            transport = httpx.ASGITransport(app=self.app)
            async with (
                self.app.router.lifespan_context(self.app),
                httpx.AsyncClient(transport=transport, base_url="http://localhost") as client,
            ):
                answers = []
                for method, route, path, body in requests:
                    headers = dict(JSON)
                    if route == INBOX:  # vouched for, so that its body is read
                        stamp = str(int(datetime.fromisoformat(AT).timestamp()))
                        headers[TIMESTAMP_HEADER] = stamp
                        headers[SIGNATURE_HEADER] = sign(SECRET, stamp, body or b"")
                    answer = await client.request(method, path, content=body, headers=headers)
                    self.seen.append((method, route, answer.status_code))
                    answers.append(answer)
                return answers

        return asyncio.run(main())


@pytest.fixture
def served(
    hospital: LoadedDeployment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[App]:
    monkeypatch.setenv(SECRET_ENV, SECRET.decode())  # the inbox's: notifications it takes
    app = App(hospital, tmp_path)
    yield app
    documented = app.app.openapi()["paths"]
    for method, route, status in app.seen:  # every status seen is documented for its route
        assert str(status) in documented[route][method.lower()]["responses"], (route, status)


def path_of(route: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: VALUES[m.group(1)], route)


@pytest.mark.parametrize(("method", "route", "limit"), BODY_ROUTES)
def test_a_body_nested_too_deep_or_too_large_is_refused_and_the_server_goes_on(
    served: App, method: str, route: str, limit: int
) -> None:
    nested = b'{"a": ' * (MAX_JSON_DEPTH + 1) + b"1" + b"}" * (MAX_JSON_DEPTH + 1)
    deep, opened, large, healthy, started = served.run(
        (method, route, path_of(route), nested),
        (method, route, path_of(route), b"[" * 30000),  # the probe: never closed
        (method, route, path_of(route), b'{"pad": "' + b"x" * limit + b'"}'),
        ("GET", "/healthz", "/healthz", None),
        ("POST", "/v1/calls", "/v1/calls", json.dumps(NEW_CALL).encode()),
    )
    for refused in (deep, opened):
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "too-deep"
        assert f"more than {MAX_JSON_DEPTH} deep" in refused.json()["message"]
    assert large.status_code == 413, large.text
    assert large.json() == {"error": "body-too-large", "message": f"the body is over {limit} bytes"}
    assert healthy.status_code == 200 and started.status_code == 200, started.text


@pytest.mark.parametrize(
    ("number", "said"),
    [
        (b"NaN", "NaN is not a number JSON carries"),
        (b"-Infinity", "-Infinity is not a number JSON carries"),
        (b"1e999", "1e999 is not a number JSON carries"),
        (b"1" * 5000, "an integer of thousands of digits"),
    ],
)
def test_a_number_json_cannot_carry_is_refused_and_nothing_is_stored(
    served: App, number: bytes, said: str
) -> None:
    body = b'{"call_id": "c1", "from": "+12125550123", "to": "+12125550100", "attributes": '
    refused, stored = served.run(
        ("POST", "/v1/calls", "/v1/calls", body + b'{"x": ' + number + b"}}"),
        ("GET", "/v1/calls/{call_id}", "/v1/calls/c1", None),
    )
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "malformed-json" and said in refused.json()["message"]
    assert stored.status_code == 404  # before: stored, and its state answered a 500


@pytest.mark.parametrize(
    ("method", "route", "path"),
    [
        ("GET", "/v1/tickets/{ticket_id}", f"/v1/tickets/{MAX_ID + 1}"),
        ("POST", "/v1/tickets/{ticket_id}/claim", f"/v1/tickets/{MAX_ID + 1}/claim"),
        ("POST", "/v1/tickets/{ticket_id}/resolve", f"/v1/tickets/{10**40}/resolve"),
        ("GET", "/v1/tickets/{ticket_id}", "/v1/tickets/0"),
        ("GET", "/v1/notifications", f"/v1/notifications?ticket_id={MAX_ID + 1}"),
        ("GET", "/v1/notifications", "/v1/notifications?ticket_id=-1"),
    ],
)
def test_an_id_beyond_what_the_store_holds_is_refused_naming_it(
    served: App, method: str, route: str, path: str
) -> None:
    (refused,) = served.run((method, route, path, b'{"by": "Ana"}'))
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["error"] == "bad-request" and body["message"].startswith("ticket_id: ")
    assert [p["field"] for p in body["problems"]] == ["ticket_id"]


def test_the_largest_id_the_store_holds_is_looked_up(served: App) -> None:
    shown, claimed = served.run(
        ("GET", "/v1/tickets/{ticket_id}", f"/v1/tickets/{MAX_ID}", None),
        ("POST", "/v1/tickets/{ticket_id}/claim", f"/v1/tickets/{MAX_ID}/claim", b'{"by": "A"}'),
    )
    assert shown.status_code == claimed.status_code == 404
    assert shown.json() == {"error": "unknown-ticket", "message": f"no ticket {MAX_ID}"}


def hospital_files() -> dict[str, str]:
    """The hospital's files as a publish sends them, its shared modules among them."""
    files = {p.relative_to(HOSPITAL).as_posix(): p.read_text() for p in HOSPITAL.rglob("*.yaml")}
    modules = (ROOT / "flows").glob("*.yaml")
    return files | {f"modules/{p.name}": p.read_text() for p in modules}


def test_a_real_deployment_is_well_within_the_limits(served: App) -> None:
    files = hospital_files()
    commented = {**files, "flows/er.yaml": "# notes\n" * 20_000 + files["flows/er.yaml"]}
    body = json.dumps({"files": commented}).encode()
    assert MAX_BODY_BYTES < len(body) < MAX_FILES_BODY_BYTES  # checked off the event loop
    published, checked = served.run(
        ("POST", "/v1/flows/publish", "/v1/flows/publish", json.dumps({"files": files}).encode()),
        ("POST", "/v1/flows/validate", "/v1/flows/validate", body),
    )
    assert published.status_code == 200, published.text
    assert published.json()["published"] is True
    assert checked.status_code == 200 and checked.json()["ok"] is True, checked.text


@pytest.mark.parametrize(
    ("text", "deeper"),
    [
        (b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH, False),
        (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), True),
        (b"[{}]" * 10_000, False),  # many brackets, none deep
        (b'{"a": "' + b"[" * 1000 + b'"}', False),  # brackets in a string do not count
        (b'["\\"' + b"[" * 1000 + b'"]', False),  # nor after an escaped quote
        (b'["\\\\", ' + b"[" * 40 + b"]" * 40 + b"]", True),  # an escaped backslash ends none
        (b"]" * 100 + b"[" * 100, True),  # unbalanced: left open
    ],
)
def test_depth_is_read_on_the_bytes(text: bytes, deeper: bool) -> None:
    assert nested_deeper(text) is deeper


def references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def test_every_reference_in_the_openapi_resolves(served: App) -> None:
    spec = served.app.openapi()
    for reference in set(references(spec)):
        assert reference.startswith("#/"), reference
        node: Any = spec
        for part in reference[2:].split("/"):
            assert isinstance(node, dict) and part in node, f"{reference} does not resolve"
            node = node[part]
    event = spec["paths"]["/v1/calls/{call_id}/events"]["post"]["requestBody"]
    assert "digits" in str(event)  # EventData's fields, written in place


def test_every_refusal_is_documented_with_the_problem_body(served: App) -> None:
    spec = served.app.openapi()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    if list(response["content"]) == ["text/html"]:  # a page's, for a person
                        assert path.startswith("/disposition/"), (path, status)
                        continue
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (path, status)
            if path.startswith("/v1/twilio/"):  # signed by Twilio instead of keys
                assert {"403", "421"} <= set(operation["responses"]), (path, method)
            elif path.startswith("/v1/"):  # guarded by keys
                assert {"401", "403", "421"} <= set(operation["responses"]), (path, method)
            deciding = (method, path) in NEVER_UNAVAILABLE
            assert ("503" in operation["responses"]) is not deciding, (path, method)
    assert len(NEVER_UNAVAILABLE) == 4  # liveness and the three routes that decide
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_the_metrics_route_documents_the_text_it_answers(served: App) -> None:
    """/metrics answers Prometheus' text format; the OpenAPI said JSON (schemathesis ST105)."""
    (answer,) = served.run(("GET", "/metrics", "/metrics", None))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    documented = served.app.openapi()["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(documented) == ["text/plain"]
