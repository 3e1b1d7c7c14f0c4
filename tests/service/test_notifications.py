"""SLA timers and notifications end to end: real `cli.py serve` processes, a local webhook
receiver, tickets whose SLA is a few seconds. Waits are bounded; nothing is timed."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from conftest import StoreAt, sql_rows
from receivers import SmtpReceiver, WebhookReceiver, alarms, free_port
from test_service import Server

from routing_engine.store.notify import NotifySettings, verify
from routing_engine.store.senders import Senders

SECRET = "a-test-secret-of-enough-length"
OFFICE, LIMITED = "+12125550100", "+12125550101"


@pytest.fixture(autouse=True)
def fast_timers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Servers started by these tests look for due timers every 0.2 s and retry after 0.3 s."""
    monkeypatch.setenv("ROUTING_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("ROUTING_TIMER_INTERVAL_MS", "200")
    monkeypatch.setenv("ROUTING_NOTIFY_BACKOFF_S", "0.3")


@pytest.fixture
def hooks() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


def office_ticket(server: Server, call_id: str) -> dict:  # type: ignore[type-arg]
    """A call the offshore center passes to the office: a ticket, due after the flow's SLA."""
    client = server.client
    start = {"call_id": call_id, "from": "+12125550123", "to": OFFICE}
    assert client.post("/v1/calls", json=start).status_code == 200
    for seq, (kind, data) in enumerate(
        [("dial.answered", {}), ("outcome", {"outcome": "needs-office"})], start=1
    ):
        body = {"event_id": f"e{seq}", "seq": seq, "type": kind, "data": data}
        assert client.post(f"/v1/calls/{call_id}/events", json=body).status_code == 200
    (ticket,) = [t for t in client.get("/v1/tickets").json() if t["call_id"] == call_id]
    return ticket  # type: ignore[no-any-return]


def history(server: Server, ticket_id: int) -> list[dict]:  # type: ignore[type-arg]
    return server.client.get(f"/v1/tickets/{ticket_id}").json()["history"]  # type: ignore[no-any-return]


def timer_states(database: Path | str, **where: int | str) -> list[tuple[str, int, str]]:
    clause = " AND ".join(f"{key} = {value!r}" for key, value in where.items())
    rows = sql_rows(
        database, f"SELECT kind, level, state FROM timers WHERE {clause} ORDER BY level"
    )
    return [(kind, level, state) for kind, level, state in rows]


def wait_until(check, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_a_missed_sla_notifies_the_manager_signed_and_recorded(
    tmp_path: Path, hooks: WebhookReceiver, store_at: StoreAt
) -> None:
    server = Server(
        store_at("n.db"), deployment=str(alarms(tmp_path, hooks.url, sla="2s")), now=None
    )
    try:
        ticket = office_ticket(server, "sla-1")
        (got,) = hooks.wait_for("/manager", 1)
        assert got.at >= datetime.fromisoformat(ticket["due"]).timestamp()  # not before it
        signature, stamp = got.headers["X-Routing-Signature"], got.headers["X-Routing-Timestamp"]
        assert signature.startswith("sha256=")
        assert verify(SECRET.encode(), stamp, got.body, signature, time.time(), 300)
        assert not verify(b"another secret", stamp, got.body, signature, time.time(), 300)
        payload = got.json
        assert (payload["event"], payload["level"], payload["notify"]) == (
            "sla-missed",
            0,
            ["manager"],
        )
        assert payload["contact"] == {"name": "manager", "display_name": "Office manager"}
        assert payload["ticket"]["id"] == ticket["id"] and payload["ticket"]["board"] == "office"
        assert payload["ticket"]["story"][0].startswith("Called ")  # what happened, in words
        assert "SLA missed" in payload["title"] and "+12125550123" in payload["text"]
        assert got.headers["X-Routing-Event"] == "sla-missed"
        wait_until(lambda: "notified" in [h["kind"] for h in history(server, ticket["id"])])
        kinds = [(h["kind"], h["actor"]) for h in history(server, ticket["id"])]
        assert kinds == [("created", "engine"), ("sla-missed", "engine"), ("notified", "engine")]
        notified = history(server, ticket["id"])[-1]["detail"]
        assert notified == {
            "delivery": int(got.headers["X-Routing-Delivery"]),
            "event": "sla-missed",
            "contact": "manager",
            "channel": "webhook",
            "to": f"{hooks.url}/…",  # the path is left out: chat webhooks carry tokens there
            "attempt": 1,
            "status": 200,
        }
        (delivery,) = server.client.get(
            "/v1/notifications", params={"ticket_id": ticket["id"]}
        ).json()
        assert (delivery["status"], delivery["attempts"], delivery["event"]) == (
            "delivered",
            1,
            "sla-missed",
        )
        metrics = server.client.get("/metrics").text
        assert 'routing_notifications_total{channel="webhook",result="delivered"} 1.0' in metrics
    finally:
        server.stop()
    assert hooks.at("/duty") == []  # the escalation (an hour on) did not fire


def test_a_failed_delivery_is_retried_with_the_same_id_and_each_attempt_recorded(
    tmp_path: Path, hooks: WebhookReceiver, store_at: StoreAt
) -> None:
    hooks.statuses = [500, 503]
    server = Server(
        store_at("n.db"), deployment=str(alarms(tmp_path, hooks.url, sla="1s")), now=None
    )
    try:
        ticket = office_ticket(server, "retry-1")
        first, second, third = hooks.wait_for("/manager", 3)
        assert first.body == second.body == third.body
        ids = {r.headers["X-Routing-Delivery"] for r in (first, second, third)}
        assert len(ids) == 1  # one delivery, attempted three times: receivers can dedupe on it
        assert second.at > first.at and third.at > second.at
        wait_until(lambda: [h["kind"] for h in history(server, ticket["id"])][-1] == "notified")
        attempts = [
            (h["kind"], h["detail"].get("attempt"), h["detail"].get("status"))
            for h in history(server, ticket["id"])
            if h["kind"] in ("notified", "notify-failed")
        ]
        assert attempts == [
            ("notify-failed", 1, 500),
            ("notify-failed", 2, 503),
            ("notified", 3, 200),
        ]
        failed = [h for h in history(server, ticket["id"]) if h["kind"] == "notify-failed"]
        assert all("next_attempt_at" in h["detail"] for h in failed)
    finally:
        server.stop()
    time.sleep(0.5)
    assert len(hooks.at("/manager")) == 3  # nothing after the success


def test_a_delivery_is_given_up_after_the_last_attempt(
    tmp_path: Path, hooks: WebhookReceiver, monkeypatch: pytest.MonkeyPatch, store_at: StoreAt
) -> None:
    monkeypatch.setenv("ROUTING_NOTIFY_MAX_ATTEMPTS", "2")
    hooks.statuses = [500] * 10
    server = Server(
        store_at("n.db"), deployment=str(alarms(tmp_path, hooks.url, sla="1s")), now=None
    )
    try:
        ticket = office_ticket(server, "give-up")
        hooks.wait_for("/manager", 2)
        url = "/v1/notifications"
        wait_until(lambda: server.client.get(url, params={"status": "failed"}).json() != [])
        (delivery,) = server.client.get(url, params={"ticket_id": ticket["id"]}).json()
        assert (delivery["status"], delivery["attempts"], delivery["last_error"]) == (
            "failed",
            2,
            "HTTP 500",
        )
        last = history(server, ticket["id"])[-1]
        assert last["kind"] == "notify-failed" and last["detail"]["gave_up"] is True
        time.sleep(1)
        assert len(hooks.at("/manager")) == 2
    finally:
        server.stop()


def test_escalation_fires_only_while_unresolved(
    tmp_path: Path, hooks: WebhookReceiver, store_at: StoreAt
) -> None:
    deployment = alarms(tmp_path, hooks.url, sla="1s", escalate="6s")
    database = store_at("n.db")
    server = Server(database, deployment=str(deployment), now=None)
    try:
        resolved = office_ticket(server, "esc-resolved")
        kept = office_ticket(server, "esc-kept")
        hooks.wait_for("/manager", 1)  # the first ticket's SLA passed: it is resolved now
        done = server.client.post(
            f"/v1/tickets/{resolved['id']}/resolve", json={"by": "Alice", "note": "called back"}
        )
        assert done.status_code == 200
        assert timer_states(database, ticket_id=resolved["id"]) == [
            ("sla", 0, "fired"),
            ("escalation", 1, "cancelled"),
        ]
        managers = hooks.wait_for("/manager", 2)
        assert {r.json["ticket"]["id"] for r in managers} == {kept["id"], resolved["id"]}
        (duty,) = hooks.wait_for("/duty", 1)
        assert (duty.json["event"], duty.json["level"]) == ("escalated", 1)
        assert duty.json["ticket"]["id"] == kept["id"]
        assert "Escalation 1" in duty.json["title"]
        kinds = [h["kind"] for h in history(server, kept["id"])]
        assert kinds[:2] == ["created", "sla-missed"] and "escalated" in kinds
        # the resolved ticket's escalation was due before the kept one's: nothing came of it
        time.sleep(0.6)  # three more rounds of the runner
        assert len(hooks.at("/duty")) == 1
        assert "escalated" not in [h["kind"] for h in history(server, resolved["id"])]
    finally:
        server.stop()


def test_a_timer_fires_once_with_two_servers_on_one_store(
    tmp_path: Path, hooks: WebhookReceiver, store_at: StoreAt
) -> None:
    deployment = str(alarms(tmp_path, hooks.url, sla="2s"))
    database = store_at("shared.db")
    first = Server(database, deployment=deployment, now=None)
    second = Server(database, deployment=deployment, now=None)
    try:
        tickets = [office_ticket(first, f"twice-{i}") for i in range(6)]
        got = hooks.wait_for("/manager", len(tickets))
        time.sleep(1.5)  # several more rounds of both servers: nothing more may come
        got = hooks.at("/manager")
        assert sorted(r.json["ticket"]["id"] for r in got) == sorted(t["id"] for t in tickets)
        fired = sql_rows(database, "SELECT state, count(*) FROM timers GROUP BY state")
        (deliveries,) = sql_rows(database, "SELECT count(*), sum(attempts) FROM deliveries")
        assert dict(fired)["fired"] == len(tickets)
        assert deliveries == (len(tickets), len(tickets))
    finally:
        first.stop()
        second.stop()


def test_timers_survive_a_restart(
    tmp_path: Path, hooks: WebhookReceiver, store_at: StoreAt
) -> None:
    deployment = str(alarms(tmp_path, hooks.url, sla="10s"))
    database = store_at("n.db")
    server = Server(database, deployment=deployment, now=None)
    try:
        ticket = office_ticket(server, "restart-1")
    finally:
        server.stop()
    assert hooks.at("/manager") == []
    assert timer_states(database, ticket_id=ticket["id"])[0] == ("sla", 0, "pending")
    again = Server(database, deployment=deployment, now=None)  # before or after the due time
    try:
        (got,) = hooks.wait_for("/manager", 1, timeout=40)
        assert got.json["ticket"]["id"] == ticket["id"]
        time.sleep(1)
        assert len(hooks.at("/manager")) == 1
    finally:
        again.stop()


def test_resolve_within_notifies_while_a_call_or_its_ticket_is_open(
    tmp_path: Path, hooks: WebhookReceiver, store_at: StoreAt
) -> None:
    database = store_at("n.db")
    server = Server(database, deployment=str(alarms(tmp_path, hooks.url, limit="3s")), now=None)
    client = server.client

    def call(call_id: str, *events: str) -> None:
        start = {"call_id": call_id, "from": "+12125550123", "to": LIMITED}
        assert client.post("/v1/calls", json=start).status_code == 200
        for seq, kind in enumerate(events, start=1):
            body = {"event_id": f"e{seq}", "seq": seq, "type": kind}
            assert client.post(f"/v1/calls/{call_id}/events", json=body).status_code == 200

    try:
        call("resolved", "dial.no-answer")  # ended, and its ticket is resolved in time
        ticket = next(t for t in client.get("/v1/tickets").json() if t["call_id"] == "resolved")
        client.post(f"/v1/tickets/{ticket['id']}/resolve", json={"by": "Bob"})
        call("open-ticket", "dial.no-answer")  # ended, but its ticket stays open
        call("hung-up", "hangup")  # ended unanswered, no ticket: not resolved, told at once
        call("answered", "dial.answered", "hangup")  # ended answered, no ticket: resolved
        call("still-ringing")  # not ended
        assert timer_states(database, call_id="resolved") == [("resolve-within", 0, "cancelled")]
        assert timer_states(database, call_id="answered") == [("resolve-within", 0, "cancelled")]
        (early,) = hooks.wait_for("/duty", 1, timeout=2.5)  # well before the 3 s limit
        assert (early.json["call"]["call_id"], early.json["call"]["end_reason"]) == (
            "hung-up",
            "caller hung up",
        )
        got = hooks.wait_for("/duty", 3)
        calls = {r.json["call"]["call_id"]: r.json for r in got}
        assert set(calls) == {"hung-up", "open-ticket", "still-ringing"}
        late = calls["open-ticket"]
        assert (late["event"], late["call"]["flow"], late["call"]["status"]) == (
            "call-unresolved",
            "limited",
            "ended",
        )
        assert late["call"]["open_tickets"] and "not resolved" in late["text"]
        assert calls["still-ringing"]["call"]["status"] == "active"
        outbox = client.get("/v1/notifications", params={"call_id": "open-ticket"}).json()
        wait_until(
            lambda: (
                client.get("/v1/notifications", params={"call_id": "open-ticket"}).json()[0][
                    "status"
                ]
                == "delivered"
            )
        )
        assert outbox[0]["ticket_id"] is None and outbox[0]["event"] == "call-unresolved"
        time.sleep(0.6)
        assert len(hooks.at("/duty")) == 3
    finally:
        server.stop()


def test_an_er_call_nobody_answered_notifies_the_duty_manager_at_once(tmp_path: Path) -> None:
    """The seed case: the hospital's ER call rings the nurse, the backup, both, says the 911
    advice and hangs up; its 20-minute `resolve_within` tells the duty manager now, in the
    engine's own inbox. An ER call a nurse answered tells nobody."""
    database = tmp_path / "er.db"
    server = Server(database)
    client, inbox = server.client, "/v1/notifications/inbox"

    def call(call_id: str, *events: str) -> dict:  # type: ignore[type-arg]
        start = {"call_id": call_id, "from": "+12125550123", "to": "+12125550100"}
        decision = client.post("/v1/calls", json=start).json()
        for seq, kind in enumerate(events, start=1):
            body = {"event_id": f"e{seq}", "seq": seq, "type": kind}
            decision = client.post(f"/v1/calls/{call_id}/events", json=body).json()
        return decision  # type: ignore[no-any-return]

    try:
        answered = call("er-answered", "dial.answered", "hangup")
        assert answered["await"] == []
        last = call("er-unanswered", "dial.no-answer", "dial.no-answer", "dial.no-answer")
        assert last["actions"][-1] == {"type": "hangup", "reason": "no nurse answered"}
        wait_until(lambda: client.get(inbox).json() != [], timeout=15)
        (entry,) = client.get(inbox).json()
        payload = entry["payload"]
        assert (entry["event"], entry["contact"], entry["signature"]) == (
            "call-unresolved",
            "duty-manager",
            "valid",
        )
        assert (payload["call"]["call_id"], payload["call"]["flow"]) == ("er-unanswered", "er")
        assert payload["call"]["end_reason"] == "no nurse answered"
        assert payload["call"]["answered"] is False
        assert "ended with nobody answering it (no nurse answered" in payload["text"]
        assert timer_states(database, call_id="er-answered") == [("resolve-within", 0, "cancelled")]
        time.sleep(0.6)  # a few more runner ticks: still the one notification
        assert len(client.get(inbox).json()) == 1
    finally:
        server.stop()


def test_the_built_in_inbox_checks_the_signature_and_shows_what_arrived(tmp_path: Path) -> None:
    deployment = alarms(tmp_path, "", sla="1s")  # webhooks: paths of the engine's server
    text = (deployment / "deployment.yaml").read_text()
    (deployment / "deployment.yaml").write_text(
        text.replace("webhook: /manager", "webhook: /notifications/inbox")
    )
    server = Server(tmp_path / "n.db", deployment=str(deployment), now=None)
    try:
        ticket = office_ticket(server, "inbox-1")
        url = "/v1/notifications/inbox"
        wait_until(lambda: server.client.get(url).json() != [])
        (entry,) = server.client.get(url).json()
        assert (entry["event"], entry["contact"], entry["signature"]) == (
            "sla-missed",
            "manager",
            "valid",
        )
        assert entry["payload"]["ticket"]["id"] == ticket["id"]
        body = json.dumps({"event": "forged"}).encode()
        forged = httpx.post(
            f"{server.url}/notifications/inbox",
            content=body,
            headers={"X-Routing-Timestamp": str(int(time.time())), "X-Routing-Signature": "x"},
        )
        assert forged.status_code == 401 and forged.json()["error"] == "bad-signature"
        assert len(server.client.get(url).json()) == 1
    finally:
        server.stop()


def test_an_email_goes_out_through_smtp_where_configured(
    tmp_path: Path, hooks: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp = SmtpReceiver()
    monkeypatch.setenv("ROUTING_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ROUTING_SMTP_PORT", str(smtp.port))
    monkeypatch.setenv("ROUTING_SMTP_TLS", "none")
    monkeypatch.setenv("ROUTING_SMTP_FROM", "engine@example.com")
    deployment = alarms(tmp_path, hooks.url, sla="1s", escalate="2s", duty_email="duty@example.com")
    server = Server(tmp_path / "n.db", deployment=str(deployment), now=None)
    try:
        ticket = office_ticket(server, "mail-1")
        (message,) = smtp.wait_for(1)
        assert message["to"] == ["duty@example.com"]
        assert (
            f"Subject: Escalation 1: ticket {ticket['id']} on the office board" in message["data"]
        )
        hooks.wait_for("/duty", 1)  # the duty manager's webhook too: one delivery per channel
        wait_until(
            lambda: (
                {
                    h["detail"].get("channel")
                    for h in history(server, ticket["id"])
                    if h["kind"] == "notified"
                }
                == {"webhook", "email"}
            )
        )
    finally:
        server.stop()
        smtp.close()


def test_a_receiver_that_is_down_is_a_failed_attempt_with_the_error() -> None:
    async def attempt() -> object:
        loopback = (ipaddress.ip_network("127.0.0.0/8"),)  # allowed, as a deployment may
        senders = Senders(NotifySettings(timeout_s=5), allowed=lambda: loopback)
        row = SimpleNamespace(
            id=1,
            event="sla-missed",
            channel="webhook",
            address=f"http://127.0.0.1:{free_port()}/hook",
            payload="{}",
        )
        try:
            return await senders.send(row, datetime.now().astimezone())
        finally:
            await senders.close()

    result = asyncio.run(attempt())
    assert result.ok is False and result.detail.startswith("ConnectError")  # type: ignore[attr-defined]
