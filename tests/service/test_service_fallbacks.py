"""The service's own fallback answers (a deadline passed, a fault) are the fallback of the
call's line: through real HTTP, on the hospital, whose ER falls back to its nurses."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from test_service import Server, event, new_call, route

ER, IVR = "+12125550100", "+12125550111"
NURSES = ["er-nurse", "er-nurse-backup"]


def rung(plan: dict[str, Any]) -> list[str]:
    return [t["name"] for a in plan["actions"] if a["type"] == "ring" for t in a["targets"]]


def test_when_the_engine_cannot_decide_the_er_falls_back_to_its_nurses(tmp_path: Path) -> None:
    database = tmp_path / "er.db"
    server = Server(database, deadline_ms=300)
    try:
        first = new_call(server, "er-1", ER).json()
        assert (first["node"], rung(first["fallback"])) == ("ring-nurse", NURSES)
        holder = sqlite3.connect(database, timeout=1)
        holder.execute("BEGIN EXCLUSIVE")  # the store cannot write: every decision is late
        try:
            late_event = event(server, "er-1", "e1", 1, "dial.no-answer").json()
            late_call = new_call(server, "er-2", ER).json()
            late_ivr = new_call(server, "ivr-1", IVR).json()
            late_route = route(server, "er-3", ER)
        finally:
            holder.rollback()
            holder.close()
        assert late_event["fallback_reason"] == "deadline"
        assert rung(late_event) == NURSES and rung(late_event["fallback"]) == NURSES
        assert (late_event["flow"]["name"], late_event["node"]) == ("er", "ring-nurse")
        assert late_call["fallback_reason"] == "deadline" and rung(late_call) == NURSES
        assert (late_call["flow"]["name"], late_call["node"]) == ("er", None)
        assert rung(late_ivr) == ["front-desk-office"]  # the IVR keeps the deployment's
        assert late_route["fallback_reason"] == "deadline"
        assert [r["uri"] for r in late_route["routes"]] == [
            "sip:er-nurse@mercy.example",
            "sip:er-nurse-backup@mercy.example",
        ]
        # er-1 ended with the fallback it was answered (kept: a retry gets it again), so the
        # fault is shown on a call started now
        assert new_call(server, "er-4", ER).json()["node"] == "ring-nurse"
        with sqlite3.connect(database) as db:  # a state the runtime cannot read: a fault
            db.execute(
                "UPDATE calls SET state = json_set(state, '$.status', 'garbled') "
                "WHERE call_id = 'er-4'"
            )
        faulted = event(server, "er-4", "e1", 1, "dial.no-answer").json()
        assert faulted["fallback_reason"] == "internal-error"
        assert rung(faulted) == NURSES and faulted["node"] == "ring-nurse"
    finally:
        server.stop()
