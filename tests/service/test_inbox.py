"""The built-in inbox (`POST /notifications/inbox`), in process: it takes only notifications
signed with the deployment's webhook secret (made and kept in the data folder when none is
set) or sent with an admin key, never unsigned ones for coming from this machine; it is
bounded per notification, in count and in bytes; and it is off while no contact uses it."""

from __future__ import annotations

import asyncio
import json
import stat
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from receivers import alarms

from routing_engine.service import notifications
from routing_engine.service.app import create_app
from routing_engine.service.auth import Keys
from routing_engine.store.notify import SECRET_FILE, sign

ADMIN, TELEPHONY = "admin-key-0123456789", "telephony-key-0123456789"
OFFICE = "+12125550100"
Client = httpx.AsyncClient


@pytest.fixture(autouse=True)
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROUTING_WEBHOOK_SECRET", raising=False)
    monkeypatch.setenv("ROUTING_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ROUTING_TIMER_INTERVAL_MS", "100")


def inbox_deployment(tmp_path: Path, hooks: str = "") -> Path:
    """The alarms deployment, its manager told in the engine's own inbox (unless `hooks`)."""
    deployment = alarms(tmp_path, hooks, sla="1s")
    if not hooks:
        text = (deployment / "deployment.yaml").read_text()
        text = text.replace("webhook: /manager", "webhook: /notifications/inbox")
        (deployment / "deployment.yaml").write_text(text)
    return deployment


@asynccontextmanager
async def running(
    deployment: Path, keys: str = "", database: str | None = None
) -> AsyncIterator[Client]:
    """The app started (its workers running), and a client on this machine."""
    app = create_app(deployment, database, keys=Keys.parse(keys, "test"))
    transport = httpx.ASGITransport(app=app)  # from 127.0.0.1
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://localhost") as client,
    ):
        client.headers["Authorization"] = f"Bearer {ADMIN}" if keys else ""
        yield client


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())  # type: ignore[arg-type]


def signed(secret: bytes, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    stamp = str(int(time.time()))
    return body, {
        "X-Routing-Timestamp": stamp,
        "X-Routing-Signature": sign(secret, stamp, body),
        "Authorization": "",
    }


async def listed(client: Client) -> list[dict[str, Any]]:
    response = await client.get("/v1/notifications/inbox", params={"limit": 1000})
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


async def missed_sla(client: Client) -> list[dict[str, Any]]:
    """A call raising an office ticket whose 1 s SLA passes: what the inbox then lists."""
    start = {"call_id": "c1", "from": "+12125550123", "to": OFFICE}
    assert (await client.post("/v1/calls", json=start)).status_code == 200
    for seq, (kind, data) in enumerate(
        [("dial.answered", {}), ("outcome", {"outcome": "needs-office"})], start=1
    ):
        body = {"event_id": f"e{seq}", "seq": seq, "type": kind, "data": data}
        assert (await client.post("/v1/calls/c1/events", json=body)).status_code == 200
    for _ in range(300):
        if await listed(client):
            break
        await asyncio.sleep(0.05)
    return await listed(client)


def test_without_a_secret_one_is_kept_in_the_data_folder_and_signs_every_notification(
    tmp_path: Path,
) -> None:
    deployment = inbox_deployment(tmp_path)
    folder = tmp_path / "data" / "alarms"

    async def scenario() -> None:
        async with running(deployment) as client:
            (entry,) = await missed_sla(client)
            assert (entry["event"], entry["signature"]) == ("sla-missed", "valid")
            # unsigned, from this very machine: refused all the same, and not listed
            forged = await client.post("/notifications/inbox", json={"event": "forged"})
            assert forged.status_code == 401 and forged.json()["error"] == "unsigned"
            assert len(await listed(client)) == 1
        secret = (folder / SECRET_FILE).read_bytes().strip()
        assert len(secret) >= 32
        assert stat.S_IMODE((folder / SECRET_FILE).stat().st_mode) == 0o600
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        async with running(deployment) as client:  # started again: the same secret
            body, headers = signed(secret, {"event": "test"})
            answer = await client.post("/notifications/inbox", content=body, headers=headers)
            assert answer.status_code == 202 and answer.json()["signature"] == "valid"

    run(scenario)


def test_with_keys_the_inbox_takes_an_admin_key_and_refuses_the_rest(tmp_path: Path) -> None:
    deployment = inbox_deployment(tmp_path)
    keys = f"admin {ADMIN}\ntelephony {TELEPHONY}"

    async def scenario() -> None:
        async with running(deployment, keys) as client:
            url = "/notifications/inbox"
            bare = {"Authorization": ""}
            answer = await client.post(url, json={"event": "unsigned"}, headers=bare)
            assert answer.status_code == 401 and answer.json()["error"] == "unsigned"
            by_key = await client.post(url, json={"event": "by-key"})
            assert by_key.status_code == 202 and by_key.json()["signature"] == "key"
            other = {"Authorization": f"Bearer {TELEPHONY}"}
            answer = await client.post(url, json={"event": "telephony"}, headers=other)
            assert answer.status_code == 403
            unknown = {"Authorization": "Bearer not-a-key-0123456789"}
            answer = await client.post(url, json={"event": "unknown"}, headers=unknown)
            assert answer.status_code == 401
            secret = (tmp_path / "data" / "alarms" / SECRET_FILE).read_bytes().strip()
            body, headers = signed(secret, {"event": "tampered"})
            tampered = await client.post(url, content=body + b" ", headers=headers)
            assert tampered.status_code == 401 and tampered.json()["error"] == "bad-signature"
            assert [e["event"] for e in await listed(client)] == ["by-key"]

    run(scenario)


def test_the_inbox_is_bounded_per_notification_in_count_and_in_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = inbox_deployment(tmp_path)
    monkeypatch.setattr(notifications, "MAX_INBOX_ROWS", 5)
    monkeypatch.setattr(notifications, "MAX_INBOX_BYTES", 10_000)

    async def scenario() -> None:
        async with running(deployment) as client:
            secret = (tmp_path / "data" / "alarms" / SECRET_FILE).read_bytes().strip()
            url = "/notifications/inbox"
            body, headers = signed(secret, {"event": "big", "text": "x" * 70_000})
            answer = await client.post(url, content=body, headers=headers)
            assert answer.status_code == 413
            for number in range(8):  # small ones: the newest 5 are kept
                body, headers = signed(secret, {"event": f"n{number}"})
                assert (await client.post(url, content=body, headers=headers)).status_code == 202
            assert [e["event"] for e in await listed(client)] == [f"n{n}" for n in (7, 6, 5, 4, 3)]
            for number in range(4):  # 4 KB each: 10 KB holds the newest 2
                body, headers = signed(secret, {"event": f"k{number}", "text": "y" * 4000})
                assert (await client.post(url, content=body, headers=headers)).status_code == 202
            assert [e["event"] for e in await listed(client)] == ["k3", "k2"]

    run(scenario)


def test_the_inbox_is_off_when_no_contact_uses_it(tmp_path: Path) -> None:
    deployment = inbox_deployment(tmp_path, hooks="https://hooks.example.com")

    async def scenario() -> None:
        async with running(deployment) as client:
            secret = (tmp_path / "data" / "alarms" / SECRET_FILE).read_bytes().strip()
            body, headers = signed(secret, {"event": "test"})
            answer = await client.post("/notifications/inbox", content=body, headers=headers)
            assert answer.status_code == 404
            assert await listed(client) == []

    run(scenario)


def test_a_data_folder_that_cannot_keep_the_secret_does_not_stop_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The folder cannot be made (a file stands where it would be): the server starts all the
    same, signing with a secret of its own, and its inbox takes what it delivers."""
    deployment = inbox_deployment(tmp_path)
    (tmp_path / "data").write_text("not a folder")
    database = f"sqlite+aiosqlite:///{tmp_path / 'n.db'}"

    async def scenario() -> None:
        async with running(deployment, database=database) as client:
            (entry,) = await missed_sla(client)
            assert (entry["event"], entry["signature"]) == ("sla-missed", "valid")

    run(scenario)
