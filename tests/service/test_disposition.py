"""How the offshore agent reports a call's outcome: the ring at the overflow carries its node's
`reports` and a signed disposition link (absent elsewhere); the link opens a page with the
caller and a button per outcome; posting it records the `outcome` event as the events route
does (a ticket for needs-office, the call ended for handled), safely replayed; a tampered,
other call's or expired link is refused with a page, never a 500."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import HOSPITAL, ROOT, in_process, run_cli
from test_service import Server, free_port

from routing_engine.core.clock import ManualClock
from routing_engine.service.app import create_app
from routing_engine.service.auth import Keys
from routing_engine.service.links import TTL_S, Links
from routing_engine.service.sip import rtjson

pytestmark = pytest.mark.telephony

AT = "2037-11-24T10:00:00-05:00"  # a Tuesday morning, years ahead: offices open, no SLA due
CALLER = "+12125550123"
CARDIOLOGY = "+12125550120"
ER = "+12125550100"
PUBLIC = "https://routing.example.org"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("disposition")
    env = {"ROUTING_DATA_DIR": str(folder / "data"), "ROUTING_PUBLIC_URL": PUBLIC}
    running = Server(folder / "d.db", now=AT, env=env)
    try:
        yield running
    finally:
        running.stop()


def start(client: httpx.Client, call_id: str, to: str = CARDIOLOGY) -> dict[str, Any]:
    body = {"call_id": call_id, "from": CALLER, "to": to, "at": AT}
    response = client.post("/v1/calls", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def event(
    client: httpx.Client, call_id: str, seq: int, kind: str, data: dict[str, str] | None = None
) -> dict[str, Any]:
    body = {"event_id": f"e{seq}", "seq": seq, "type": kind, "data": data or {}}
    response = client.post(f"/v1/calls/{call_id}/events", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def at_overflow(client: httpx.Client, call_id: str) -> dict[str, Any]:
    """A cardiology call the office does not answer: the ring at the offshore center."""
    first = start(client, call_id)
    assert "reports" not in first["actions"][0] and "disposition_url" not in first["actions"][0]
    return event(client, call_id, 1, "dial.no-answer")


def link_of(decision: dict[str, Any]) -> tuple[str, str]:
    """The overflow ring's link, as the path to ask this server (the link names the public
    address a proxy in front would serve) and its token."""
    url = decision["actions"][0]["disposition_url"]
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}", parts.query.removeprefix("token=")


def post(
    client: httpx.Client, call_id: str, token: str, outcome: str, **headers: str
) -> httpx.Response:
    return client.post(
        f"/disposition/{call_id}", data={"token": token, "outcome": outcome}, headers=headers
    )


def test_the_overflow_ring_carries_reports_and_a_link_for_that_call(server: Server) -> None:
    decision = at_overflow(server.client, "d-ring")
    ring = decision["actions"][0]
    assert ring["targets"][0]["name"] == "offshore-center"
    assert ring["reports"] == ["handled", "needs-office"]  # as the node declares them
    assert ring["disposition_url"].startswith(f"{PUBLIC}/disposition/d-ring?token=")
    stored = server.client.get("/v1/calls/d-ring").json()["decisions"]
    assert stored[-1]["actions"][0]["disposition_url"] == ring["disposition_url"]  # kept
    # the SIP proxy's route to the overflow carries the link as a header
    extra = rtjson(decision)["routes"][0]["headers"]["extra"]
    assert f"X-Disposition-URL: {ring['disposition_url']}\r\n" in extra


def test_no_link_where_nobody_reports(server: Server) -> None:
    decision = start(server.client, "d-er", ER)
    assert [a["type"] for a in decision["actions"]] == ["ring"]
    assert all("reports" not in a and "disposition_url" not in a for a in decision["actions"])
    assert "X-Disposition-URL" not in rtjson(decision)["routes"][0]["headers"]["extra"]


def test_the_page_shows_the_caller_the_line_and_a_button_per_outcome(server: Server) -> None:
    path, token = link_of(at_overflow(server.client, "d-page"))
    response = server.client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "form-action 'self'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"
    page = response.text
    assert f'<dd id="caller">{CALLER}</dd>' in page and f'<dd id="line">{CARDIOLOGY}</dd>' in page
    assert "Cardiology office" in page
    buttons = re.findall(r'<button type="submit" name="outcome" value="([^"]+)">', page)
    assert buttons == ["handled", "needs-office"]
    assert f'<input type="hidden" name="token" value="{token}">' in page
    assert '<form method="post" action="./d-page">' in page  # this page's own route
    assert "<script" not in page
    assert '<link rel="stylesheet" href="../disposition-assets/disposition.css">' in page
    css = server.client.get("/disposition-assets/disposition.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_needs_office_puts_a_ticket_on_the_office_board(server: Server) -> None:
    decision = at_overflow(server.client, "d-office")
    _, token = link_of(decision)
    event(server.client, "d-office", 2, "dial.answered")  # the platform reported the answer
    response = post(server.client, "d-office", token, "needs-office", origin=PUBLIC)
    assert response.status_code == 200, response.text
    assert "needs-office" in response.text and "cardiology board" in response.text
    tickets = [t for t in server.client.get("/v1/tickets").json() if t["call_id"] == "d-office"]
    assert [(t["board"], t["status"]) for t in tickets] == [("cardiology", "open")]
    call = server.client.get("/v1/calls/d-office").json()
    assert call["status"] == "ended"


def test_handled_ends_the_call_even_when_the_answer_was_not_reported(server: Server) -> None:
    """A SIP proxy may not report the agent's answer: the link records it first."""
    _, token = link_of(at_overflow(server.client, "d-handled"))
    response = post(server.client, "d-handled", token, "handled", origin=server.url)
    assert response.status_code == 200, response.text
    assert "The call has ended" in response.text
    call = server.client.get("/v1/calls/d-handled").json()
    assert call["status"] == "ended"
    trace = " | ".join(call["trace"])
    assert "ring-overflow: answered" in trace and "outcome handled" in trace, trace
    assert not [t for t in server.client.get("/v1/tickets").json() if t["call_id"] == "d-handled"]


def test_a_second_post_changes_nothing_and_another_outcome_is_refused(server: Server) -> None:
    _, token = link_of(at_overflow(server.client, "d-again"))
    assert post(server.client, "d-again", token, "needs-office").status_code == 200
    before = server.client.get("/v1/calls/d-again").json()
    again = post(server.client, "d-again", token, "needs-office")
    assert again.status_code == 200 and "is recorded" in again.text
    other = post(server.client, "d-again", token, "handled")
    assert other.status_code == 409 and "needs-office" in other.text
    assert server.client.get("/v1/calls/d-again").json() == before  # nothing changed
    tickets = [t for t in server.client.get("/v1/tickets").json() if t["call_id"] == "d-again"]
    assert len(tickets) == 1
    shown = server.client.get(f"/disposition/d-again?token={token}")
    assert shown.status_code == 200 and "<form" not in shown.text and "needs-office" in shown.text


def test_tampered_other_call_and_unknown_links_are_refused(server: Server) -> None:
    _, token = link_of(at_overflow(server.client, "d-bad"))
    _, others = link_of(at_overflow(server.client, "d-other"))
    payload, _, signature = token.partition(".")
    forged = f"{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{signature}"
    for bad in (forged, f"{payload}.{signature[:-3]}", "not-a-token", ""):
        page = server.client.get(f"/disposition/d-bad?token={bad}")
        assert page.status_code == 403 and "not valid" in page.text, bad
        assert post(server.client, "d-bad", bad, "handled").status_code in (403, 422)
    for response in (
        server.client.get(f"/disposition/d-bad?token={others}"),
        post(server.client, "d-bad", others, "handled"),
    ):
        assert response.status_code == 403 and "another call" in response.text
    cross = post(server.client, "d-bad", token, "handled", origin="https://evil.example")
    assert cross.status_code == 403
    site = post(server.client, "d-bad", token, "handled", **{"sec-fetch-site": "cross-site"})
    assert site.status_code == 403
    assert server.client.post("/disposition/d-bad", json={"token": token}).status_code == 415
    missing = server.client.post("/disposition/d-bad", data={"token": token})
    assert missing.status_code == 422
    wrong = post(server.client, "d-bad", token, "maybe")
    assert wrong.status_code == 422 and "handled, needs-office" in wrong.text
    assert server.client.get("/v1/calls/d-bad").json()["seq"] == 2  # nothing recorded


def test_a_link_counts_only_while_the_call_waits_at_its_node(server: Server) -> None:
    _, token = link_of(at_overflow(server.client, "d-gone"))
    event(server.client, "d-gone", 2, "dial.no-answer")  # nobody at the overflow: voicemail
    page = server.client.get(f"/disposition/d-gone?token={token}")
    assert page.status_code == 409 and "no longer waits" in page.text
    assert post(server.client, "d-gone", token, "handled").status_code == 409


def test_the_openapi_documents_the_page_and_the_link(server: Server) -> None:
    spec = server.client.get("/openapi.json").json()
    page = spec["paths"]["/disposition/{call_id}"]
    for method, statuses in (("get", {"200", "403", "404", "409"}), ("post", {"200", "403"})):
        responses = page[method]["responses"]
        assert statuses <= set(responses), method
        assert "text/html" in responses["200"]["content"]
        assert "security" not in page[method]
    form = page["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
    assert form["schema"]["required"] == ["token", "outcome"]
    ring = spec["components"]["schemas"]["RingAction"]["properties"]
    assert {"reports", "disposition_url"} <= set(ring)


def serve(
    tmp_path: Path, clock: ManualClock, scenario: Any, **options: Any
) -> None:  # in process: the test moves the clock
    app = create_app(
        HOSPITAL, f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", 5.0, clock=clock, **options
    )

    in_process(app, scenario)


async def overflow_link(client: httpx.AsyncClient, call_id: str) -> str:
    body = {"call_id": call_id, "from": CALLER, "to": CARDIOLOGY, "at": AT}
    assert (await client.post("/v1/calls", json=body)).status_code == 200
    event = {"event_id": "e1", "seq": 1, "type": "dial.no-answer"}
    decision = (await client.post(f"/v1/calls/{call_id}/events", json=event)).json()
    return str(decision["actions"][0]["disposition_url"])


def test_a_link_expires(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTING_DATA_DIR", str(tmp_path / "data"))
    clock = ManualClock(datetime.fromisoformat(AT))

    async def scenario(client: httpx.AsyncClient) -> None:
        link = await overflow_link(client, "d-late")
        assert link.startswith("/disposition/d-late?token=")  # no public URL: a path
        clock.advance(TTL_S - 60)
        assert (await client.get(link)).status_code == 200
        clock.advance(60)
        late = await client.get(link)
        assert late.status_code == 403 and "expired" in late.text
        token = link.partition("token=")[2]
        data = {"token": token, "outcome": "handled"}
        assert (await client.post("/disposition/d-late", data=data)).status_code == 403

    serve(tmp_path, clock, scenario)
    assert (tmp_path / "data" / "hospital" / "disposition-secret").stat().st_mode & 0o777 == 0o600


def test_the_page_needs_no_key_but_the_api_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTING_DATA_DIR", str(tmp_path / "data"))
    key = "telephony-key-0123456789"
    keys = Keys.parse(f"telephony {key}", "test")
    clock = ManualClock(datetime.fromisoformat(AT))

    async def scenario(client: httpx.AsyncClient) -> None:
        client.headers["authorization"] = f"Bearer {key}"
        link = await overflow_link(client, "d-keys")
        del client.headers["authorization"]
        assert link.startswith(f"{PUBLIC}/disposition/")
        path = link.removeprefix(PUBLIC)
        assert (await client.get(path)).status_code == 200
        token = path.partition("token=")[2]
        data = {"token": token, "outcome": "handled"}
        recorded = await client.post("/disposition/d-keys", data=data)
        assert recorded.status_code == 200, recorded.text
        assert (await client.get("/v1/calls/d-keys")).status_code == 401

    serve(tmp_path, clock, scenario, keys=keys, public_url=PUBLIC)


def test_a_token_is_signed_for_its_call_node_and_seq(tmp_path: Path) -> None:
    clock = ManualClock(datetime.fromisoformat(AT))
    links = Links(b"s" * 32, clock=clock)
    claim = links.read(links.token("c1", "cardiology", "office.ring-overflow", 2))
    assert claim is not None
    assert (claim.call_id, claim.flow, claim.node, claim.seq) == (
        "c1",
        "cardiology",
        "office.ring-overflow",
        2,
    )
    assert Links(b"t" * 32, clock=clock).read(links.token("c1", "f", "n", 2)) is None


def test_serve_public_url_makes_links_absolute(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, str(ROOT / "cli.py"), "serve", "examples/hospital"]
    options = ["--port", str(port), "--now", AT, "--public-url", "https://agents.example.org/"]
    options += ["--database", f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"]
    env = {**os.environ, "ROUTING_DATA_DIR": str(tmp_path / "data")}
    env.pop("ROUTING_PUBLIC_URL", None)
    process = subprocess.Popen(
        [*command, *options], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None and time.monotonic() < deadline, "not started"
                time.sleep(0.1)
            link = at_overflow(client, "d-public")["actions"][0]["disposition_url"]
            assert link.startswith("https://agents.example.org/disposition/d-public?token=")
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_serve_refuses_a_public_url_that_is_not_one() -> None:
    done = run_cli("serve", "examples/hospital", "--port", "1", "--public-url", "ftp://x/?a=1")
    assert done.returncode == 2
    assert "error: --public-url: public URL 'ftp://x/?a=1'" in done.stderr


def test_a_folder_that_cannot_keep_the_secret_costs_no_call_its_ring(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Links are signed inside the decision's transaction: a data folder that cannot be made
    (here a file stands in its way) signs with a secret of this process, logged."""
    blocked = tmp_path / "data"
    blocked.write_text("not a folder")
    links = Links(folder=blocked / "hospital", clock=ManualClock(datetime.fromisoformat(AT)))
    decision = {
        "call_id": "c1",
        "seq": 2,
        "flow": {"name": "cardiology"},
        "node": "office.ring-overflow",
        "actions": [{"type": "ring", "targets": [], "reports": ["handled"]}],
    }
    links.add(decision)
    token = decision["actions"][0]["disposition_url"].partition("token=")[2]
    claim = links.read(token)
    assert claim is not None and (claim.call_id, claim.seq) == ("c1", 2)
    assert "cannot keep a disposition secret" in caplog.text
