"""Board sessions are rows in the store: signing out ends a session's cookie and CSRF token on
every server sharing the store, and ends its open stream; a server started without the key a
session was issued with revokes it for good; and the data files a server makes (the store with
its -wal and -shm, the session secret, their folders) are private, over a real server start."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from test_board import (
    AT,
    CALLS,
    KEYS,
    STAFF,
    STAFF_API,
    BoardServer,
    Events,
    needs_office,
    sign_in,
    ticket_of,
)
from test_service import Server

from routing_engine.core.clock import ManualClock
from routing_engine.store.board_sessions import (
    add_session,
    live_of,
    live_session,
    revoke_other_keys,
    revoke_session,
)
from routing_engine.store.database import Store
from routing_engine.store.tables import iso

OTHER_STAFF = "stf-other-0123456789abcdef"
COOKIE = "routing_session"


@pytest.fixture(scope="module")
def keyed(
    tmp_path_factory: pytest.TempPathFactory, module_database: Path | str
) -> Iterator[BoardServer]:
    root = tmp_path_factory.mktemp("sessions-keyed")
    server = BoardServer(root, keys=KEYS, database=module_database)
    yield server
    server.stop()


def signed_in(url: str, key: str = STAFF, name: str = "Alice") -> tuple[dict[str, str], str]:
    """A fresh session's cookie and CSRF token."""
    response = sign_in(url, key, name)
    assert response.status_code == 200, response.text
    return {COOKIE: response.cookies[COOKIE]}, response.json()["csrf"]


def test_after_sign_out_the_old_cookie_and_csrf_token_are_refused(keyed: BoardServer) -> None:
    url = keyed.url
    cookies, token = signed_in(url)
    ticket = ticket_of(url, needs_office(url, headers=CALLS), STAFF_API)
    claim = f"{url}/v1/tickets/{ticket['id']}/claim"
    csrf = {"X-CSRF-Token": token}
    assert httpx.get(f"{url}/v1/tickets", cookies=cookies).status_code == 200
    out = httpx.post(f"{url}/board/signout", cookies=cookies, headers=csrf)
    assert out.status_code == 200 and out.json()["signed_in"] is False

    # a copy of the cookie kept from before (a shared computer, a stolen cookie) is dead
    listed = httpx.get(f"{url}/v1/tickets", cookies=cookies)
    assert listed.status_code == 401 and listed.json()["error"] == "unauthorized"
    claimed = httpx.post(claim, json={"by": "Alice"}, cookies=cookies, headers=csrf)
    assert claimed.status_code == 401
    assert ticket_of(url, ticket["call_id"], STAFF_API)["status"] == "open"
    assert httpx.get(f"{url}/board/session", cookies=cookies).json()["signed_in"] is False
    again = httpx.post(f"{url}/board/signout", cookies=cookies, headers=csrf)
    assert again.status_code == 401

    # signing in again gives a new session that works
    fresh, fresh_token = signed_in(url)
    assert fresh != cookies and fresh_token != token
    done = httpx.post(claim, json={"by": "x"}, cookies=fresh, headers={"X-CSRF-Token": fresh_token})
    assert done.status_code == 200 and done.json()["assignee"] == "Alice"


def test_a_session_counts_on_a_second_server_and_signing_out_there_ends_it_here(
    keyed: BoardServer,
) -> None:
    other = BoardServer(keyed.root, keys=KEYS, later=1, database=keyed.database)  # the same
    try:
        cookies, token = signed_in(keyed.url)
        assert httpx.get(f"{other.url}/v1/tickets", cookies=cookies).status_code == 200
        out = httpx.post(
            f"{other.url}/board/signout", cookies=cookies, headers={"X-CSRF-Token": token}
        )
        assert out.status_code == 200
        assert httpx.get(f"{keyed.url}/v1/tickets", cookies=cookies).status_code == 401
        assert httpx.get(f"{other.url}/v1/tickets", cookies=cookies).status_code == 401
    finally:
        other.stop()


def test_the_stream_of_a_session_ends_when_it_signs_out(keyed: BoardServer) -> None:
    cookies, token = signed_in(keyed.url)
    with httpx.Client(base_url=keyed.url, cookies=cookies, timeout=10) as browser:
        with browser.stream("GET", "/v1/tickets/events") as response:
            assert response.status_code == 200
            events = Events(response)
            assert events.read(lambda got: len(got) >= 2)[1]["event"] == "snapshot"
            out = httpx.post(
                f"{keyed.url}/board/signout", cookies=cookies, headers={"X-CSRF-Token": token}
            )
            assert out.status_code == 200
            needs_office(keyed.url, headers=CALLS)  # a change it must not be sent
            rest = list(events.lines)  # ends by itself (a read timeout would fail here)
        assert not any(line.startswith("event: change") for line in rest)
        assert browser.get("/v1/tickets/events").status_code == 401  # reconnecting is refused


def test_a_server_started_without_a_sessions_key_revokes_it_for_good(tmp_path: Path) -> None:
    both = f"{KEYS},staff:{OTHER_STAFF}"
    server = BoardServer(tmp_path, keys=both)
    try:
        kept, _ = signed_in(server.url, STAFF, "Alice")
        removed, _ = signed_in(server.url, OTHER_STAFF, "Bob")
        assert httpx.get(f"{server.url}/v1/tickets", cookies=removed).status_code == 200
        server.stop()
        server = BoardServer(tmp_path, port=server.port, keys=KEYS, later=1)  # key removed
        assert httpx.get(f"{server.url}/v1/tickets", cookies=removed).status_code == 401
        assert httpx.get(f"{server.url}/v1/tickets", cookies=kept).status_code == 200
        server.stop()
        server = BoardServer(tmp_path, port=server.port, keys=both, later=2)  # and put back
        assert httpx.get(f"{server.url}/v1/tickets", cookies=removed).status_code == 401
        assert httpx.get(f"{server.url}/v1/tickets", cookies=kept).status_code == 200
    finally:
        server.stop()


# ---- the rows, on the injected clock ----


def test_session_rows_expire_on_the_clock_are_cleaned_up_and_revoke(database_url: str) -> None:
    clock = ManualClock(datetime.fromisoformat(AT))

    async def scenario() -> None:
        store = Store(database_url, clock)
        await store.open("hospital")
        try:
            start = clock()
            ends = iso(clock.advance(3600))
            clock.set(start)
            await store.transaction(add_session, "s1", ("Alice", "staff", "k1"), iso(start), ends)
            await store.transaction(add_session, "s2", ("Bob", "staff", "k2"), iso(start), ends)
            found = await store.read(live_session, "s1", iso(clock()))
            assert found is not None and (found.name, found.key_id) == ("Alice", "k1")
            assert await store.read(live_of, ["s1", "s2", "s9"], iso(clock())) == {"s1", "s2"}
            assert await store.transaction(revoke_session, "s1", iso(clock()), "signed-out")
            assert not await store.transaction(revoke_session, "s1", iso(clock()), "again")
            assert await store.read(live_session, "s1", iso(clock())) is None

            ended = await store.transaction(revoke_other_keys, {("k1", "staff")}, iso(clock()))
            assert ended == 1  # Bob's: k2 is gone (Alice's was revoked already)
            assert await store.read(live_of, ["s2"], iso(clock())) == set()

            await store.transaction(add_session, "s3", ("Carol", "admin", "k1"), iso(start), ends)
            clock.advance(3599)
            assert await store.read(live_of, ["s3"], iso(clock())) == {"s3"}
            later = iso(clock.advance(1))
            assert await store.read(live_of, ["s3"], later) == set()  # expired, on the clock
            # the next sign-in clears every expired row away
            await store.transaction(add_session, "s4", ("Dan", "staff", "k1"), later, "9999")
            async with store.engine.connect() as connection:
                rows = await connection.exec_driver_sql("SELECT id FROM board_sessions")
                assert len(rows.all()) == 1
        finally:
            await store.close()

    asyncio.run(scenario())


# ---- data files are private ----


@contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_fresh_data_folder_is_private_after_a_real_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"ROUTING_DATA_DIR": str(data), "ROUTING_API_KEYS": KEYS, "ROUTING_SESSION_SECRET": None}
    with umask(0o022):  # the usual one, which would leave them 0644 and 0755
        server = Server(None, env=env)
    try:
        needs_office(server.url, headers=CALLS)  # written: the WAL has something in it
        signed_in(server.url)
        folder = data / "hospital"
        files = [
            "routing.db",
            "routing.db-wal",
            "routing.db-shm",
            "routing.db-writers.lock",  # the store's writers take turns by it
            "session-secret",
            "webhook-secret",  # the key deliveries are signed with
            "disposition-secret",  # the key the overflow's disposition links are signed with
        ]
        assert {name: oct(mode(folder / name)) for name in files} == dict.fromkeys(files, "0o600")
        assert sorted(p.name for p in folder.iterdir()) == sorted(files)  # nothing else
        assert (oct(mode(data)), oct(mode(folder))) == ("0o700", "0o700")
    finally:
        server.stop()


def test_existing_data_files_keep_their_mode_and_a_warning_names_them(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "hospital"
    folder.mkdir(parents=True)
    store = folder / "routing.db"
    store.touch()
    store.chmod(0o644)  # made by an earlier version
    env = {"ROUTING_DATA_DIR": str(tmp_path / "data")}
    server = Server(None, env=env)
    server.stop()
    assert mode(store) == 0o644  # never chmod-ed behind its owner's back
    assert f"{store} has mode 644: others than its owner may read it" in server.stderr_text
    assert f"chmod 600 {store}" in server.stderr_text
