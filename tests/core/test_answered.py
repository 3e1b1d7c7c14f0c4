"""Whether anyone answered a call, as its trace says (`calls.answered`): what decides if an
ended call is unresolved for `resolve_within`. Read from real runtime traces."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_files

from routing_engine import LoadedDeployment, load_deployment
from routing_engine.core.calls import answered

FILES = {
    "deployment.yaml": """
        deployment: answers
        fallback: {ring: desk}
        entries:
          "+12125550100": ring-connected
          "+12125550101": ring-handled
          "+12125550102": queued
        targets:
          desk: {uri: "sip:desk@example.com"}
          pool: {kind: queue, uri: "sip:pool@example.com"}
    """,
    "flows.yaml": """
        flow: ring-connected
        start: ring
        nodes:
          ring: {ring: desk, on: {no-answer: bye}}
          bye: {hangup: nobody answered}
        ---
        flow: ring-handled
        start: ring
        nodes:
          ring: {ring: desk, on: {answered: thanks, no-answer: bye}}
          thanks: {say: Connected., next: bye}
          bye: {hangup: done}
        ---
        flow: queued
        start: wait
        nodes:
          wait: {queue: pool, max_wait: 60s, on: {timeout: bye}}
          bye: {hangup: nobody free}
    """,
}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> LoadedDeployment:
    return load_deployment(write_files(Path(tmp_path_factory.mktemp("answers")), FILES))


def trace(loaded: LoadedDeployment, to: str, *events: str) -> tuple[list[str], str]:
    at = "2026-11-23T10:00:00-05:00"
    state, decision = loaded.start_call(
        {"call_id": "c", "from": "+12125550123", "to": to, "at": at}
    )
    for number, kind in enumerate(events, start=1):
        body = {"event_id": f"e{number}", "seq": decision["seq"], "type": kind, "at": at}
        state, decision = loaded.apply_event(state, body)
    return state["trace"], state["end_reason"]


@pytest.mark.parametrize(
    ("to", "events", "expected", "end"),
    [
        ("+12125550100", ("dial.answered", "hangup"), True, "caller hung up"),
        ("+12125550100", ("dial.no-answer",), False, "nobody answered"),
        ("+12125550100", ("hangup",), False, "caller hung up"),  # hung up while ringing
        ("+12125550101", ("dial.answered",), True, "done"),  # its answered handler
        ("+12125550102", ("dial.answered", "hangup"), True, "caller hung up"),
        ("+12125550102", ("hangup",), False, "caller hung up"),  # hung up in the queue
        ("+12125550102", ("queue.timeout",), False, "nobody free"),
    ],
)
def test_a_call_was_answered_only_when_a_ring_or_queue_was(
    loaded: LoadedDeployment, to: str, events: tuple[str, ...], expected: bool, end: str
) -> None:
    lines, reason = trace(loaded, to, *events)
    assert (answered(lines), reason) == (expected, end), lines
