"""The compiler: flat dispatch tables, resolved links, and no networkx on the per-event path."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from routing_engine import LoadedDeployment
from routing_engine.core.compiled import CMenu, CRing, CTicket, CVoicemail
from routing_engine.core.runtime import Event, EventType, NewCall, start, step


class Untouchable:
    """Stands in for the networkx graph: any use of it fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the per-event path touched the graph ({name})")

    def __iter__(self) -> Any:
        raise AssertionError("the per-event path iterated the graph")


def test_links_are_resolved_to_compiled_nodes(hospital: LoadedDeployment) -> None:
    compiled = hospital.compiled
    menu = compiled.nodes[("ivr", "main-menu")]
    assert isinstance(menu, CMenu)
    assert (
        menu.options["3"] is compiled.nodes[("billing", "route-by-state")]
    )  # a flow name -> its start
    assert menu.fallback is compiled.nodes[("front-desk", "office")]
    assert (menu.retries, menu.timeout_s, menu.max_digits) == (2, 5.0, 1)


def test_rings_become_seconds_and_busy_failed_take_no_answer(hospital: LoadedDeployment) -> None:
    ring = hospital.compiled.nodes[("cardiology", "office.ring-office")]
    assert isinstance(ring, CRing)
    assert ring.timeout_s == 12.0  # 2 rings at the 6 s cadence
    offshore = hospital.compiled.nodes[("cardiology", "office.ring-overflow")]
    assert ring.on["no-answer"] is offshore
    assert ring.on["busy"] is offshore and ring.on["failed"] is offshore
    assert isinstance(offshore, CRing) and offshore.reports == ("handled", "needs-office")


def test_ticket_and_voicemail_carry_sla_seconds_and_managers(hospital: LoadedDeployment) -> None:
    ticket = hospital.compiled.nodes[("billing", "central.office-ticket")]
    voicemail = hospital.compiled.nodes[("billing", "central.take-message")]
    assert isinstance(ticket, CTicket) and isinstance(voicemail, CVoicemail)
    assert (ticket.board, ticket.sla_s, ticket.managers) == ("billing", 900.0, ("billing-manager",))
    assert (voicemail.board, voicemail.sla_s, voicemail.max_length_s) == ("billing", 900.0, 120.0)


def test_entries_and_fallback(hospital: LoadedDeployment) -> None:
    compiled = hospital.compiled
    assert compiled.entry("+12125550111") == ("ivr", compiled.nodes[("ivr", "main-menu")])
    assert compiled.entry("+19995550000") is None
    assert compiled.fallback["actions"][0] == {
        "type": "ring",
        "targets": [{"name": "front-desk-office", "uri": "sip:front-desk@mercy.example"}],
        "timeout_s": 30.0,
        "strategy": "simultaneous",
    }


def test_prefix_entries_longest_first(deployment_dir) -> None:
    from routing_engine import load_deployment

    path = deployment_dir(
        {
            "deployment.yaml": """
                deployment: prefixes
                fallback: {ring: desk}
                entries:
                  "+1212555*": wide
                  "+12125550*": narrow
                  "+12125550100": exact
                targets:
                  desk: {uri: "sip:desk@example.com"}
            """,
            "flows.yaml": """
                flow: wide
                start: bye
                nodes: {bye: {hangup: wide}}
                ---
                flow: narrow
                start: bye
                nodes: {bye: {hangup: narrow}}
                ---
                flow: exact
                start: bye
                nodes: {bye: {hangup: exact}}
            """,
        }
    )
    compiled = load_deployment(path).compiled
    assert compiled.entry("+12125550100")[0] == "exact"  # type: ignore[index]
    assert compiled.entry("+12125550101")[0] == "narrow"  # type: ignore[index]
    assert compiled.entry("+12125559999")[0] == "wide"  # type: ignore[index]
    assert compiled.entry("+13125550100") is None


def test_the_per_event_path_never_touches_networkx(hospital: LoadedDeployment) -> None:
    compiled = dataclasses.replace(hospital.compiled, graph=Untouchable())  # type: ignore[arg-type]
    at = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    state, decision = start(compiled, NewCall("c1", "+12125550123", "+12125550111", at))
    events = [
        Event(EventType.DIGITS, 1, at, digits="2"),
        Event(EventType.DIAL_NO_ANSWER, 2, at),
        Event(EventType.DIAL_ANSWERED, 3, at),
        Event(EventType.OUTCOME, 4, at, outcome="needs-office"),
    ]
    for event in events:
        state, decision = step(compiled, state, event)
    assert [a["type"] for a in decision.actions] == ["ticket", "say", "hangup"]
