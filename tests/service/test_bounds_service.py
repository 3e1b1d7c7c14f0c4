"""A bounded loop through the service: the counts of a call's entries into a bounded node are
stored with its state between requests, so the call rings exactly `attempts` times through the
store before it goes to `exhausted`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from conftest import in_process, write_files

from routing_engine.core.clock import ManualClock
from routing_engine.service.app import create_app

AT = "2026-11-23T10:00:00-05:00"

FILES = {
    "deployment.yaml": """
        deployment: bounds
        caller_max_wait: 3m
        fallback:
          ring: desk
        entries:
          "+12125550100": main
        targets:
          desk:
            uri: sip:desk@example.com
          nurse:
            uri: sip:nurse@example.com
    """,
    "main.yaml": """
        flow: main
        start: ring-desk
        nodes:
          ring-desk:
            ring: desk
            timeout: 20s
            attempts: 2
            exhausted: bye
            on:
              no-answer: ring-nurse
          ring-nurse:
            ring: nurse
            timeout: 20s
            on:
              no-answer: ring-desk
          bye:
            hangup: nobody answered
    """,
}


def test_a_bounded_loop_counts_its_entries_across_stored_requests(tmp_path: Path) -> None:
    root = write_files(tmp_path / "d", FILES)
    clock = ManualClock(datetime.fromisoformat(AT))
    app = create_app(str(root), f"sqlite+aiosqlite:///{tmp_path / 'b.db'}", 5.0, clock=clock)
    decisions: list[dict[str, Any]] = []

    async def main(client: httpx.AsyncClient) -> None:
        body = {"call_id": "c1", "from": "+12125550123", "to": "+12125550100", "at": AT}
        reply = await client.post("/v1/calls", json=body)
        assert reply.status_code == 200, reply.text
        decisions.append(reply.json())
        while decisions[-1]["await"]:
            seq = decisions[-1]["seq"]
            event = {"event_id": f"e{seq}", "seq": seq, "type": "dial.no-answer"}
            reply = await client.post("/v1/calls/c1/events", json=event)
            assert reply.status_code == 200, reply.text
            decisions.append(reply.json())

    in_process(app, main)
    rung = [
        d["actions"][0]["targets"][0]["name"]
        for d in decisions
        if d["actions"][0]["type"] == "ring"
    ]
    assert rung == ["desk", "nurse", "desk", "nurse"]
    assert decisions[-1]["node"] == "bye"
    assert decisions[-1]["actions"] == [{"type": "hangup", "reason": "nobody answered"}]
