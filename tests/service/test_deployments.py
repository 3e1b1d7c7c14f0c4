"""A store belongs to one deployment: two deployments served from one folder each get their own
store (and board session secret) and never see each other, through any route or the board's
stream; a deployment started on another's store is refused at start; the same deployment
restarted on its store goes on. Through real HTTP, with a second deployment (a dental group,
`tests/fixtures/dental`) beside the hospital."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import FIXTURES, ROOT
from test_board import has_ticket, needs_office, stream, ticket_of
from test_service import Server, free_port, new_call

DENTAL = FIXTURES / "dental"
DENTAL_LINE = "+13105550100"
DENTAL_AT = "2026-11-23T10:00:00-08:00"  # Monday morning in Los Angeles


def dental_message(server: Server, call_id: str) -> dict[str, Any]:
    """A dental call nobody answers that leaves a message: a ticket on the front desk's board."""
    start = {"call_id": call_id, "from": "+13105550123", "to": DENTAL_LINE, "at": DENTAL_AT}
    assert server.client.post("/v1/calls", json=start).status_code == 200
    for seq, (kind, data) in enumerate(
        [("dial.no-answer", {}), ("recording.done", {"recording": f"rec-{call_id}"})], start=1
    ):
        body = {"event_id": f"e{seq}", "seq": seq, "type": kind, "data": data, "at": DENTAL_AT}
        answer = server.client.post(f"/v1/calls/{call_id}/events", json=body)
        assert answer.status_code == 200, answer.text
    return ticket_of(server.url, call_id)


def stream_calls(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(kind, the ticket's call id) of each change a board's stream sent."""
    return [
        (e["data"]["kind"], e["data"]["ticket"]["call_id"])
        for e in events
        if e.get("event") == "change"
    ]


@pytest.fixture
def both(tmp_path: Path) -> Iterator[tuple[Server, Server, Path]]:
    """The hospital and the dental group served at once from one folder, default paths only;
    an earlier version's shared store lies at the data directory's top."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "routing.db").write_bytes(b"")  # left by an earlier version: no longer the default
    env: dict[str, str | None] = {"ROUTING_DATA_DIR": str(data), "ROUTING_SESSION_SECRET": None}
    hospital = Server(None, env=env)
    try:
        dental = Server(None, deployment=str(DENTAL), env=env)
    except BaseException:
        hospital.stop()
        raise
    yield hospital, dental, data
    for server in (dental, hospital):
        if server.process.returncode is None:  # the test may have stopped it to read its log
            server.stop()


def test_two_deployments_served_from_one_folder_never_see_each_other(
    both: tuple[Server, Server, Path],
) -> None:
    hospital, dental, data = both
    with (
        httpx.Client(base_url=dental.url, timeout=10) as dental_client,
        httpx.Client(base_url=hospital.url, timeout=10) as hospital_client,
        stream(dental_client) as dental_events,
        stream(hospital_client) as hospital_events,
    ):
        for events in (dental_events, hospital_events):
            snapshot = events.read(lambda got: len(got) >= 2)
            assert snapshot[1]["event"] == "snapshot" and snapshot[1]["data"]["tickets"] == []
        theirs = ticket_of(hospital.url, needs_office(hospital.url))  # the hospital's ticket
        ours = dental_message(dental, "dental-1")
        assert theirs["id"] == ours["id"] == 1  # each store numbers its own
        claimed = dental_client.post(f"/v1/tickets/{ours['id']}/claim", json={"by": "Dana"})
        assert claimed.status_code == 200
        # each board's stream shows its own changes only, in order, up to its last one
        dental_seen = dental_events.read(has_ticket(ours["id"], "claimed"))
        hospital_client.post(f"/v1/tickets/{theirs['id']}/claim", json={"by": "Alice"})
        hospital_seen = hospital_events.read(has_ticket(theirs["id"], "claimed"))
    assert stream_calls(dental_seen) == [("created", "dental-1"), ("claimed", "dental-1")]
    assert stream_calls(hospital_seen) == [
        ("created", theirs["call_id"]),
        ("claimed", theirs["call_id"]),
    ]
    assert dental.client.get(f"/v1/tickets/{ours['id']}").json()["assignee"] == "Dana"
    assert hospital.client.get(f"/v1/tickets/{theirs['id']}").json()["assignee"] == "Alice"
    assert [t["call_id"] for t in dental.client.get("/v1/tickets").json()] == ["dental-1"]
    assert [t["call_id"] for t in hospital.client.get("/v1/tickets").json()] == [theirs["call_id"]]
    assert dental.client.get(f"/v1/tickets/{ours['id']}").json()["call_id"] == "dental-1"
    for board in ("cardiology", "front-desk"):
        found = dental.client.get("/v1/tickets", params={"board": board}).json()
        assert all(t["call_id"] == "dental-1" for t in found)

    # the other's call: unknown, to read and to answer
    assert dental.client.get(f"/v1/calls/{theirs['call_id']}").status_code == 404
    answered = dental.client.post(
        f"/v1/calls/{theirs['call_id']}/events",
        json={"event_id": "e9", "seq": 4, "type": "hangup", "at": DENTAL_AT},
    )
    assert answered.status_code == 404
    assert answered.json()["error"] == "unknown-call"
    assert hospital.client.get("/v1/calls/dental-1").status_code == 404
    resolved = hospital.client.post("/v1/tickets/1/resolve", json={"by": "Alice", "note": "ok"})
    assert resolved.json()["call_id"] == theirs["call_id"]  # the hospital's own ticket 1
    assert dental.client.get("/v1/tickets/1").json()["status"] == "claimed"  # not resolved

    # each lists its own versions only
    assert {v["name"] for v in dental.client.get("/v1/flows/versions").json()} == {"dental"}
    assert {v["name"] for v in hospital.client.get("/v1/flows/versions").json()} == {"hospital"}

    # default data paths are per deployment: the stores, the board's session secrets and the
    # webhook secrets
    for server in (hospital, dental):
        signed = httpx.post(f"{server.url}/board/session", json={"name": "Alice"})
        assert signed.status_code == 200, signed.text
    stored = {
        path.relative_to(data).as_posix()
        for path in data.rglob("*")
        if path.is_file() and not path.name.startswith("routing.db-")  # SQLite's, beside each
    }
    assert stored == {
        "hospital/disposition-secret",  # its overflow ring's disposition links are signed
        "dental/routing.db",
        "dental/session-secret",
        "dental/webhook-secret",
        "hospital/routing.db",
        "hospital/session-secret",
        "hospital/webhook-secret",
        "routing.db",  # the earlier version's, untouched
    }
    assert (data / "routing.db").read_bytes() == b""
    hospital.stop()
    assert "is not the default store any more" in hospital.stderr_text
    assert f"--database sqlite:///{data / 'routing.db'}" in hospital.stderr_text


def serve_refused(deployment: Path | str, database: str) -> subprocess.CompletedProcess[str]:
    """`cli.py serve` expected not to start."""
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "serve", str(deployment),
         "--port", str(free_port()), "--database", database],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_a_deployment_started_on_another_deployments_store_is_refused(tmp_path: Path) -> None:
    database = tmp_path / "hospital.db"
    hospital = Server(database)
    try:
        assert new_call(hospital, "kept").status_code == 200
        refused = serve_refused(DENTAL, f"sqlite:///{database}")  # while the hospital serves
    finally:
        hospital.stop()
    assert refused.returncode == 2
    message = refused.stderr.strip().splitlines()
    assert message[-1:] == [
        f"error: cannot start: the store {database} belongs to deployment 'hospital', not "
        "'dental': a store holds one deployment's calls, tickets and versions. Serve 'dental' "
        "with its own store: another --database, or the default one (each deployment has its "
        "own folder in the data directory, $ROUTING_DATA_DIR)"
    ]
    again = Server(database)  # the same deployment, restarted on its store, goes on
    try:
        assert again.client.get("/v1/calls/kept").status_code == 200
        assert {v["name"] for v in again.client.get("/v1/flows/versions").json()} == {"hospital"}
    finally:
        again.stop()


def test_another_deployments_files_are_not_published(tmp_path: Path) -> None:
    hospital = Server(tmp_path / "p.db")
    try:
        files = {
            path.relative_to(DENTAL).as_posix(): path.read_text(encoding="utf-8")
            for path in DENTAL.rglob("*.yaml")
        }
        for body in ({"files": files}, {"files": files, "dry_run": True}):
            refused = hospital.client.post("/v1/flows/publish", json=body)
            assert refused.status_code == 409, refused.text
            assert refused.json()["error"] == "other-deployment"
            assert "deployment 'dental'" in refused.json()["message"]
        assert {v["name"] for v in hospital.client.get("/v1/flows/versions").json()} == {"hospital"}
    finally:
        hospital.stop()


def test_plain_sqlite_url_is_served(tmp_path: Path) -> None:
    """`--database sqlite:///PATH`, as people type it, gets the store's async driver."""
    server = Server(f"sqlite:///{tmp_path / 'plain.db'}")
    try:
        assert new_call(server, "plain").status_code == 200
    finally:
        server.stop()
    assert (tmp_path / "plain.db").stat().st_size > 0


def test_plain_postgresql_url_gets_the_async_driver() -> None:
    """`--database postgresql://...` is taken to asyncpg (a dependency): with no PostgreSQL
    listening there, the server starts anyway and answers fallbacks until the store can be
    written (as for any store it cannot open); its warning names that URL without the password,
    and never 'requires an async driver'."""
    port = free_port()  # nothing listens there
    server = Server(f"postgresql://ops:s3cret@127.0.0.1:{port}/r", up="/healthz")
    try:
        ready = server.client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["error"] == "store-unwritable"
        call = new_call(server, "pg-down")
        assert call.status_code == 200 and call.json()["fallback_reason"] == "store-unavailable"
    finally:
        server.stop()
    assert "requires an async driver" not in server.stderr_text
    assert "s3cret" not in server.stderr_text
    assert f"warning: the store postgresql://ops:***@127.0.0.1:{port}/r cannot be opened" in (
        server.stderr_text
    )
