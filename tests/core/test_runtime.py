"""The runtime as event -> decision tables: small deployments, one call per row."""

from __future__ import annotations

import copy
import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import write_files

from routing_engine import BadRequest, EventRejected, LoadedDeployment, check, load_deployment
from routing_engine.core.runtime import CallState, NewCall, start

CALLER = "+12125550123"
AT = "2026-11-23T10:00:00-05:00"
LATER = "2026-11-23T10:00:05-05:00"  # every event of a call happens at this time

MENU, SEQ, SIM, REPORT, PLAIN = (f"+1212555010{i}" for i in range(5))
WAITING, VM, OUTCOMES, NOTE, COND = (f"+1212555010{i}" for i in range(5, 10))

AWAIT_MENU = ["digits", "no-input", "hangup"]
AWAIT_RING = ["dial.answered", "dial.no-answer", "dial.busy", "dial.failed", "hangup"]
AWAIT_QUEUE = ["dial.answered", "queue.timeout", "hangup"]
AWAIT_VOICEMAIL = ["recording.done", "hangup"]

DEPLOYMENT = """
    deployment: runtime
    ring_cadence: 6s
    fallback:
      ring: desk
      say: Please hold for the front desk.
    entries:
      "+12125550100": front
      "+12125550101": seq
      "+12125550102": sim
      "+12125550103": report
      "+12125550104": plain
      "+12125550105": waiting
      "+12125550106": vm
      "+12125550107": outcomes
      "+12125550108": note
      "+12125550109": cond
    targets:
      desk: {uri: "sip:desk@example.com"}
      office: {uri: "sip:office@example.com"}
      backup: {uri: "sip:backup@example.com"}
      spare: {uri: "sip:spare@example.com", available: false}
      pool: {kind: queue, uri: "sip:pool@example.com", skills: [billing], capacity: 5}
    contacts:
      office-manager: {name: Office manager, email: office-manager@example.com}
    boards:
      office: {name: Office}
"""

FLOWS = {
    "front.yaml": """
        flow: front
        start: main-menu
        nodes:
          main-menu:
            menu: Press 1 for the office, 2 to wait, 3 to be noted, hash to leave.
            options:
              "1": to-office
              "2": waiting
              "3": tag
              "#": bye
            retries: 1
            timeout: 4s
            fallback: to-desk
          tag:
            set:
              picked: three
            next: to-office
          to-office:
            say: Connecting you to the office.
            next: ring-office
          ring-office:
            ring: office
            timeout: 2 rings
            on:
              no-answer: bye
          to-desk:
            ring: desk
            timeout: 20s
            on:
              no-answer: bye
          bye:
            hangup: goodbye
    """,
    "seq.yaml": """
        flow: seq
        start: ring-all
        nodes:
          ring-all:
            ring: [office, spare, backup, desk]
            timeout: 2 rings
            on:
              no-answer: nobody
          nobody:
            hangup: nobody answered
    """,
    "sim.yaml": """
        flow: sim
        start: ring-all
        nodes:
          ring-all:
            ring: [office, spare, backup]
            strategy: simultaneous
            timeout: 20s
            on:
              no-answer: nobody
          nobody:
            hangup: nobody answered
    """,
    "report.yaml": """
        flow: report
        start: ring-agent
        nodes:
          ring-agent:
            ring: office
            timeout: 20s
            reports: [handled, needs-office]
            on:
              handled: bye
              needs-office: office-ticket
              no-answer: bye
          office-ticket:
            ticket: office
            sla: 15m
            managers: office-manager
            summary: Call the caller back.
            next: bye
          bye:
            hangup: done
    """,
    "plain.yaml": """
        flow: plain
        start: ring-office
        nodes:
          ring-office:
            ring: office
            timeout: 20s
            on:
              no-answer: bye
          bye:
            hangup:
    """,
    "waiting.yaml": """
        flow: waiting
        start: wait
        nodes:
          wait:
            queue: pool
            skills: [billing]
            priority: 5
            max_wait: 90s
            on:
              timeout: take-message
          take-message:
            voicemail: office
            prompt: Please leave a message.
            max_length: 1m
            sla: 1h
            managers: office-manager
            next: thanks
          thanks:
            say: Thank you, goodbye.
            next: bye
          bye:
            hangup: message taken
    """,
    "vm.yaml": """
        flow: vm
        start: take-message
        nodes:
          take-message:
            voicemail: office
            prompt: Leave a message.
            max_length: 1m
            sla: 15m
            managers: office-manager
    """,
    "outcomes.yaml": """
        flow: outcomes
        start: ring-two
        nodes:
          ring-two:
            ring: [office, backup]
            timeout: 20s
            on:
              busy: busy-line
              failed: failed-line
              no-answer: nobody
          busy-line:
            say: All lines are busy.
            next: nobody
          failed-line:
            say: The line is out of order.
            next: nobody
          nobody:
            hangup: nobody answered
    """,
    "note.yaml": """
        flow: note
        start: jot
        nodes:
          jot:
            ticket: office
            next: bye
          bye:
            hangup:
    """,
}

COND_FLOW = """
    flow: cond
    start: remember
    nodes:
      remember:
        set:
          tier: gold
          count: 3
          vip: true
        next: route
      route:
        branch:
          - when: '{condition}'
            then: matched
        else: unmatched
      matched:
        hangup: matched
      unmatched:
        hangup: unmatched
"""

LOOP_DEPLOYMENT = """
    deployment: loop
    max_steps: {max_steps}
    caller_max_wait: 10m
    fallback:
      ring: desk
      say: Please hold.
    entries:
      "+12125550100": loop
    targets:
      desk: {{uri: "sip:desk@example.com"}}
"""

LOOP_FLOW = """
    flow: loop
    start: intro
    nodes:
      intro:
        say: Welcome.
        next: menu
      menu:
        menu: Press 1 to hear it all again.
        options:
          "1": one
        fallback: bye
        attempts: 9  # every loop needs a bound; the guard stops these calls first
        exhausted: bye
      one:
        say: one
        next: two
      two:
        say: two
        next: three
      three:
        say: three
        next: menu
      bye:
        hangup:
"""


def runtime_files(condition: str = "true") -> dict[str, str]:
    return {
        "deployment.yaml": DEPLOYMENT,
        **FLOWS,
        "cond.yaml": COND_FLOW.replace("{condition}", condition),
    }


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> LoadedDeployment:
    """One load for the module: the runtime is pure, so calls cannot disturb each other."""
    loaded = load_deployment(write_files(tmp_path_factory.mktemp("runtime"), runtime_files()))
    assert loaded.warnings == []
    return loaded


# --- helpers -------------------------------------------------------------------------------------


def new_call(to: str, caller: str = CALLER, **extra: Any) -> dict[str, Any]:
    return {"call_id": "c1", "from": caller, "to": to, "at": AT, **extra}


def event_body(text: str, seq: int, number: int = 1, at: str = LATER) -> dict[str, Any]:
    """`digits:1`, `dial.no-answer`, `outcome:handled`, `recording.done:rec-9` -> an event."""
    kind, _, value = text.partition(":")
    key = {"digits": "digits", "outcome": "outcome", "recording.done": "recording"}.get(kind)
    data = {key: value} if key and value else {}
    return {"event_id": f"e{number}", "seq": seq, "type": kind, "data": data, "at": at}


def run(
    deployment: LoadedDeployment,
    to: str,
    events: tuple[str, ...] | list[str] = (),
    *,
    caller: str = CALLER,
    attributes: dict[str, Any] | None = None,
    targets: dict[str, bool] | None = None,
    at: str = LATER,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Start a call and apply the events; the same targets snapshot applies throughout."""
    body = new_call(to, caller, attributes=attributes or {})
    state, decision = deployment.start_call(body, targets)
    decisions = [decision]
    for number, text in enumerate(events, start=1):
        state, decision = deployment.apply_event(
            state, event_body(text, decision["seq"], number, at), targets
        )
        decisions.append(decision)
    return state, decisions


def types(decision: dict[str, Any]) -> list[str]:
    return [action["type"] for action in decision["actions"]]


def rung(decision: dict[str, Any]) -> list[str]:
    """The names of the targets the decision rings (none when it does not ring)."""
    return [t["name"] for a in decision["actions"] if a["type"] == "ring" for t in a["targets"]]


def part(action: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    """The fields of `action` that `expected` names (an action may carry more)."""
    return {key: action.get(key, "<missing>") for key in expected}


def new_trace(decisions: list[dict[str, Any]]) -> list[str]:
    """The trace lines the last decision added (each decision's trace is the call's so far)."""
    before = len(decisions[-2]["trace"]) if len(decisions) > 1 else 0
    return decisions[-1]["trace"][before:]


def ring_action(decision: dict[str, Any]) -> dict[str, Any]:
    (action,) = [a for a in decision["actions"] if a["type"] == "ring"]
    return action


# --- menus ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("events", "flow", "node", "actions", "awaits", "attempt", "trace"),
    [
        ([], "front", "main-menu", ["menu"], AWAIT_MENU, 1,
         "entry +12125550100 -> front/main-menu"),
        (["digits:1"], "front", "ring-office", ["say", "ring"], AWAIT_RING, None,
         "menu main-menu: digit 1 -> front/to-office"),
        (["digits:2"], "waiting", "wait", ["queue"], AWAIT_QUEUE, None,
         "menu main-menu: digit 2 -> waiting/wait"),
        (["digits:#"], "front", "bye", ["hangup"], [], None,
         "menu main-menu: digit # -> front/bye"),
        (["no-input"], "front", "main-menu", ["menu"], AWAIT_MENU, 2,
         "menu main-menu: no input, replay (2 of 2)"),
        (["digits:7"], "front", "main-menu", ["menu"], AWAIT_MENU, 2,
         "menu main-menu: no option '7', replay (2 of 2)"),
        (["digits:12"], "front", "main-menu", ["menu"], AWAIT_MENU, 2,
         "menu main-menu: no option '12', replay (2 of 2)"),
        (["no-input", "digits:1"], "front", "ring-office", ["say", "ring"], AWAIT_RING, None,
         "menu main-menu: digit 1 -> front/to-office"),
        (["no-input", "no-input"], "front", "to-desk", ["ring"], AWAIT_RING, None,
         "menu main-menu: no input, retries used up -> front/to-desk"),
        (["digits:7", "no-input"], "front", "to-desk", ["ring"], AWAIT_RING, None,
         "menu main-menu: no input, retries used up -> front/to-desk"),
        (["no-input", "digits:9"], "front", "to-desk", ["ring"], AWAIT_RING, None,
         "menu main-menu: no option '9', retries used up -> front/to-desk"),
    ],
)  # fmt: skip
def test_menu(engine, events, flow, node, actions, awaits, attempt, trace) -> None:
    state, decisions = run(engine, MENU, events)
    last = decisions[-1]
    assert (last["flow"]["name"], last["node"]) == (flow, node)
    assert types(last) == actions
    assert last["await"] == awaits == state["await"]
    assert trace in new_trace(decisions)
    if attempt is not None:
        (menu,) = last["actions"]
        assert menu["attempt"] == attempt == state["attempt"]
        assert menu["options"] == ["1", "2", "3", "#"]
        assert menu["timeout_s"] == 4.0
        assert menu["prompt"].startswith("Press 1 for the office")


def test_menu_fallback_comes_after_the_last_replay(engine) -> None:
    """retries: 1 -> the menu plays twice; the second failure takes the fallback."""
    _, decisions = run(engine, MENU, ["no-input", "no-input"])
    attempts = [d["actions"][0].get("attempt") for d in decisions]
    assert attempts == [1, 2, None]
    assert rung(decisions[-1]) == ["desk"]


# --- rings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("targets", "events", "node", "ringing", "trace"),
    [
        (None, [], "ring-all", ["office"], "entry +12125550101 -> seq/ring-all"),
        # spare is declared `available: false`: it is skipped
        (None, ["dial.no-answer"], "ring-all", ["backup"],
         "ring ring-all: no-answer from office, next target"),
        (None, ["dial.busy"], "ring-all", ["backup"],
         "ring ring-all: busy from office, next target"),
        (None, ["dial.failed"], "ring-all", ["backup"],
         "ring ring-all: failed from office, next target"),
        (None, ["dial.no-answer", "dial.busy"], "ring-all", ["desk"],
         "ring ring-all: busy from backup, next target"),
        (None, ["dial.no-answer", "dial.no-answer", "dial.no-answer"], "nobody", [],
         "ring ring-all: no-answer -> seq/nobody"),
        (None, ["dial.no-answer", "dial.no-answer", "dial.busy"], "nobody", [],
         "ring ring-all: busy -> seq/nobody"),
        (None, ["dial.busy", "dial.failed", "dial.failed"], "nobody", [],
         "ring ring-all: failed -> seq/nobody"),
        # the snapshot overrides what the deployment declares
        ({"office": False}, [], "ring-all", ["backup"], "entry +12125550101 -> seq/ring-all"),
        ({"office": {"available": False}}, [], "ring-all", ["backup"],
         "entry +12125550101 -> seq/ring-all"),
        ({"spare": True}, ["dial.no-answer"], "ring-all", ["spare"],
         "ring ring-all: no-answer from office, next target"),
        ({"backup": False}, ["dial.no-answer"], "ring-all", ["desk"],
         "ring ring-all: no-answer from office, next target"),
        ({"desk": False}, ["dial.no-answer", "dial.no-answer"], "nobody", [],
         "ring ring-all: nobody answered (no-answer) -> seq/nobody"),
        ({"ghost": False}, [], "ring-all", ["office"], "entry +12125550101 -> seq/ring-all"),
        ({"office": False, "backup": False, "desk": False}, [], "nobody", [],
         "ring ring-all: no target available (failed) -> seq/nobody"),
    ],
)  # fmt: skip
def test_sequential_ring(engine, targets, events, node, ringing, trace) -> None:
    state, decisions = run(engine, SEQ, events, targets=targets)
    last = decisions[-1]
    assert last["node"] == node
    assert rung(last) == ringing
    assert last["trace"][-1] == trace
    if ringing:
        assert ring_action(last)["strategy"] == "sequential"
        assert ring_action(last)["timeout_s"] == 12.0  # 2 rings at 6 s
        assert last["await"] == AWAIT_RING
    else:
        assert last["actions"] == [{"type": "hangup", "reason": "nobody answered"}]
        assert last["await"] == [] and state["status"] == "ended"


def test_targets_snapshot_applies_per_step(engine) -> None:
    """Availability is read at each decision: a target going away mid-call is skipped."""
    state, first = engine.start_call(new_call(SEQ))
    assert rung(first) == ["office"]
    state, second = engine.apply_event(
        state, event_body("dial.no-answer", 1), {"backup": False, "spare": False}
    )
    assert rung(second) == ["desk"]


@pytest.mark.parametrize(
    ("targets", "events", "node", "ringing", "trace"),
    [
        (None, [], "ring-all", ["office", "backup"], "entry +12125550102 -> sim/ring-all"),
        ({"spare": True}, [], "ring-all", ["office", "spare", "backup"],
         "entry +12125550102 -> sim/ring-all"),
        ({"office": False}, [], "ring-all", ["backup"], "entry +12125550102 -> sim/ring-all"),
        (None, ["dial.no-answer"], "nobody", [], "ring ring-all: no-answer -> sim/nobody"),
        (None, ["dial.busy"], "nobody", [], "ring ring-all: busy -> sim/nobody"),
        (None, ["dial.failed"], "nobody", [], "ring ring-all: failed -> sim/nobody"),
        ({"office": False, "backup": False}, [], "nobody", [],
         "ring ring-all: no target available (failed) -> sim/nobody"),
    ],
)  # fmt: skip
def test_simultaneous_ring(engine, targets, events, node, ringing, trace) -> None:
    _, decisions = run(engine, SIM, events, targets=targets)
    last = decisions[-1]
    assert last["node"] == node
    assert rung(last) == ringing
    assert last["trace"][-1] == trace
    if ringing:
        action = ring_action(last)
        assert (action["strategy"], action["timeout_s"]) == ("simultaneous", 20.0)
        assert len(last["actions"]) == 1  # one ring action with every target, not one each


@pytest.mark.parametrize(
    ("targets", "events", "node", "actions", "trace"),
    [
        (None, ["dial.busy"], "ring-two", ["ring"], "ring ring-two: busy from office, next target"),
        (None, ["dial.busy", "dial.busy"], "nobody", ["say", "hangup"],
         "say busy-line -> outcomes/nobody"),
        (None, ["dial.no-answer", "dial.failed"], "nobody", ["say", "hangup"],
         "say failed-line -> outcomes/nobody"),
        (None, ["dial.failed", "dial.no-answer"], "nobody", ["hangup"],
         "ring ring-two: no-answer -> outcomes/nobody"),
        ({"office": False}, ["dial.busy"], "nobody", ["say", "hangup"],
         "say busy-line -> outcomes/nobody"),
        # a ring with no available target takes `failed`, its own handler when it has one
        ({"office": False, "backup": False}, [], "nobody", ["say", "hangup"],
         "say failed-line -> outcomes/nobody"),
        # the last target that can ring is busy / failed: the outcome is busy / failed, exactly
        # as if the unavailable target were not in the list
        ({"backup": False}, ["dial.busy"], "nobody", ["say", "hangup"],
         "say busy-line -> outcomes/nobody"),
        ({"backup": False}, ["dial.failed"], "nobody", ["say", "hangup"],
         "say failed-line -> outcomes/nobody"),
        ({"backup": False}, ["dial.no-answer"], "nobody", ["hangup"],
         "ring ring-two: nobody answered (no-answer) -> outcomes/nobody"),
    ],
)  # fmt: skip
def test_busy_and_failed_handlers(engine, targets, events, node, actions, trace) -> None:
    _, decisions = run(engine, OUTCOMES, events, targets=targets)
    last = decisions[-1]
    assert (last["node"], types(last)) == (node, actions)
    assert last["trace"][-1] == trace, last["trace"]


def test_unhandled_busy_and_failed_take_the_no_answer_handler(engine) -> None:
    for event in ("dial.no-answer", "dial.busy", "dial.failed"):
        _, decisions = run(engine, PLAIN, [event])
        outcome = event.removeprefix("dial.")
        assert decisions[-1]["node"] == "bye"
        assert decisions[-1]["trace"][-1] == f"ring ring-office: {outcome} -> plain/bye"


# --- answered, outcomes, queues, voicemail -------------------------------------------------------


@pytest.mark.parametrize(
    ("to", "events", "node", "actions", "awaits", "status", "trace"),
    [
        (PLAIN, ["dial.answered"], "ring-office", [], ["hangup"], "connected",
         "ring ring-office: answered, connected"),
        (REPORT, ["dial.answered"], "ring-agent", [], ["outcome", "hangup"], "connected",
         "ring ring-agent: answered, connected"),
        (REPORT, ["dial.answered", "outcome:handled"], "bye", ["hangup"], [], "ended",
         "report/ring-agent: outcome handled -> report/bye"),
        (REPORT, ["dial.answered", "outcome:needs-office"], "bye", ["ticket", "hangup"], [],
         "ended", "ticket office-ticket -> report/bye"),
        (REPORT, ["dial.no-answer"], "bye", ["hangup"], [], "ended",
         "ring ring-agent: no-answer -> report/bye"),
        (WAITING, [], "wait", ["queue"], AWAIT_QUEUE, "active",
         "entry +12125550105 -> waiting/wait"),
        (WAITING, ["dial.answered"], "wait", [], ["hangup"], "connected",
         "queue wait: answered, connected"),
        (WAITING, ["queue.timeout"], "take-message", ["voicemail"], AWAIT_VOICEMAIL, "active",
         "queue wait: timeout -> waiting/take-message"),
        (WAITING, ["queue.timeout", "recording.done:rec-1"], "bye", ["ticket", "say", "hangup"],
         [], "ended", "say thanks -> waiting/bye"),
        (VM, [], "take-message", ["voicemail"], AWAIT_VOICEMAIL, "active",
         "entry +12125550106 -> vm/take-message"),
        (VM, ["recording.done:rec-9"], "take-message", ["ticket", "hangup"], [], "ended",
         "voicemail take-message: recorded, call ends"),
    ],
)  # fmt: skip
def test_answered_outcomes_queue_voicemail(
    engine, to, events, node, actions, awaits, status, trace
) -> None:
    state, decisions = run(engine, to, events)
    last = decisions[-1]
    assert (last["node"], types(last), last["await"]) == (node, actions, awaits)
    assert (state["status"], state["await"]) == (status, awaits)
    assert last["trace"][-1] == trace


def test_queue_action(engine) -> None:
    _, (decision,) = run(engine, WAITING)
    (action,) = decision["actions"]
    expected = {
        "type": "queue",
        "queue": {"name": "pool", "uri": "sip:pool@example.com"},
        "skills": ["billing"],
        "priority": 5,
        "max_wait_s": 90.0,
    }
    assert part(action, expected) == expected


def test_an_outcome_not_reported_is_rejected(engine) -> None:
    state, _ = run(engine, REPORT, ["dial.answered"])
    before = copy.deepcopy(state)
    with pytest.raises(EventRejected) as refused:
        engine.apply_event(state, event_body("outcome:escalate", state["seq"]))
    assert refused.value.reason == "bad-event"
    assert "escalate" in refused.value.message and "handled, needs-office" in refused.value.message
    assert state == before


def test_an_outcome_from_a_party_that_reports_nothing_is_refused(engine) -> None:
    state, _ = run(engine, PLAIN, ["dial.answered"])
    with pytest.raises(EventRejected) as refused:
        engine.apply_event(state, event_body("outcome:handled", state["seq"]))
    assert refused.value.reason == "unexpected-event"


def test_reported_outcome_ticket_fields(engine) -> None:
    _, decisions = run(engine, REPORT, ["dial.answered", "outcome:needs-office"])
    ticket, hangup = decisions[-1]["actions"]
    expected = {
        "type": "ticket",
        "board": "office",
        "node": "report/office-ticket",
        "caller": CALLER,
        "summary": "Call the caller back.",
        "managers": ["office-manager"],
        "sla_s": 900.0,
        "due": "2026-11-23T15:15:05Z",  # 15 minutes after the event, in UTC
    }
    assert part(ticket, expected) == expected
    assert "recording" not in ticket
    assert hangup == {"type": "hangup", "reason": "done"}


def test_ticket_without_sla_or_summary(engine) -> None:
    _, (decision,) = run(engine, NOTE)
    ticket, hangup = decision["actions"]
    assert (ticket["board"], ticket["node"], ticket["managers"]) == ("office", "note/jot", [])
    assert ticket["sla_s"] is None and ticket["due"] is None
    assert ticket["summary"].startswith(f"call from {CALLER} to {NOTE}")
    assert hangup["type"] == "hangup"


@pytest.mark.parametrize(
    ("at", "due"),
    [
        ("2026-11-23T10:00:05-05:00", "2026-11-23T15:15:05Z"),
        ("2026-11-23T23:50:00+02:00", "2026-11-23T22:05:00Z"),
        ("2026-12-31T23:50:00Z", "2027-01-01T00:05:00Z"),
    ],
)
def test_voicemail_becomes_a_ticket_due_from_the_event_time(engine, at, due) -> None:
    state, decisions = run(engine, VM, ["recording.done:rec-9"], at=at)
    (voicemail,) = decisions[0]["actions"]
    expected_voicemail = {
        "type": "voicemail",
        "prompt": "Leave a message.",
        "board": "office",
        "max_length_s": 60.0,
    }
    assert part(voicemail, expected_voicemail) == expected_voicemail
    ticket, hangup = decisions[-1]["actions"]
    expected = {
        "type": "ticket",
        "board": "office",
        "node": "vm/take-message",
        "caller": CALLER,
        "summary": f"voicemail from {CALLER}",
        "managers": ["office-manager"],
        "sla_s": 900.0,
        "due": due,
        "recording": "rec-9",
    }
    assert part(ticket, expected) == expected
    assert hangup == {"type": "hangup", "reason": "voicemail recorded"}
    assert state["status"] == "ended"


def test_voicemail_with_next_goes_on(engine) -> None:
    _, decisions = run(engine, WAITING, ["queue.timeout", "recording.done:rec-1"])
    ticket, say, _ = decisions[-1]["actions"]
    assert (ticket["recording"], ticket["sla_s"], ticket["due"]) == (
        "rec-1",
        3600.0,
        "2026-11-23T16:00:05Z",
    )
    assert say == {"type": "say", "text": "Thank you, goodbye."}
    assert "voicemail take-message: recorded -> waiting/thanks" in decisions[-1]["trace"]


# --- set and branch ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "caller", "attributes", "targets", "matched"),
    [
        ('vars.tier == "gold"', CALLER, {}, None, True),
        ('vars.tier == "silver"', CALLER, {}, None, False),
        ('vars.tier != "silver"', CALLER, {}, None, True),
        ("vars.count == 3", CALLER, {}, None, True),
        ("vars.count > 2 and vars.count < 4", CALLER, {}, None, True),
        ("vars.vip == true", CALLER, {}, None, True),
        ('vars.missing == "x"', CALLER, {}, None, False),
        ('caller.number == "+12125550123"', CALLER, {}, None, True),
        ('caller.number == "+12125550123"', "+12125550999", {}, None, False),
        ('dialed == "+12125550109"', CALLER, {}, None, True),
        ('dialed == "+12125550100"', CALLER, {}, None, False),
        ('caller.number in ["+12125550123", "+12125550124"]', CALLER, {}, None, True),
        ('caller.number in ["+12125550124"]', CALLER, {}, None, False),
        ('caller.number not in ["+12125550124"]', CALLER, {}, None, True),
        ('caller.number not in ["+12125550123"]', CALLER, {}, None, False),
        ('"5550109" in dialed', CALLER, {}, None, True),  # `in` finds a part of a text
        ('"999" in dialed', CALLER, {}, None, False),
        ('["gold", "platinum"] has vars.tier', CALLER, {}, None, True),
        # caller geography comes from the number's area code; a region sent with the call wins
        ('caller.state == "NY"', CALLER, {}, None, True),
        ('caller.state == "NY"', "+12015550123", {}, None, False),
        ('caller.region == "US-NJ"', "+12015550123", {}, None, True),
        ('caller.region == "US-NJ"', CALLER, {"region": "US-NJ"}, None, True),
        ('attributes.plan == "gold"', CALLER, {"plan": "gold"}, None, True),
        ('available("office")', CALLER, {}, None, True),
        ('available("office")', CALLER, {}, {"office": False}, False),
        ('available("spare")', CALLER, {}, None, False),  # declared `available: false`
        ('available("spare")', CALLER, {}, {"spare": True}, True),
        ('not available("office") or vars.vip == false', CALLER, {}, {"office": True}, False),
    ],
)
def test_set_and_branch(deployment_dir, condition, caller, attributes, targets, matched) -> None:
    deployment = load_deployment(deployment_dir(runtime_files(condition)))
    state, (decision,) = run(
        deployment, COND, caller=caller, attributes=attributes, targets=targets
    )
    assert state["vars"] == {"tier": "gold", "count": 3, "vip": True}
    expected = "matched" if matched else "unmatched"
    assert decision["node"] == expected
    assert decision["actions"] == [{"type": "hangup", "reason": expected}]
    assert decision["trace"][:2] == [
        "entry +12125550109 -> cond/remember",
        "set remember -> cond/route",
    ]
    how = f"when {condition} (case 1)" if matched else "else"
    assert decision["trace"][2] == f"branch route: {how} -> cond/{expected}"


# --- the loop guard and numbers with no flow ------------------------------------------------------


@pytest.mark.parametrize(
    ("max_steps", "digits", "guarded_at"),
    [
        (1, [], 1),  # intro, menu: the guard stops the very first decision
        (2, ["1"], 2),
        (5, ["1"], 2),
        (6, ["1"], None),
        (6, ["1", "1"], 3),
        (9, ["1", "1"], 3),
        (10, ["1", "1"], None),
        (14, ["1", "1", "1"], None),
        (14, ["1", "1", "1", "1"], 5),
    ],
)
def test_loop_guard(deployment_dir, max_steps, digits, guarded_at) -> None:
    files = {
        "deployment.yaml": LOOP_DEPLOYMENT.format(max_steps=max_steps),
        "loop.yaml": LOOP_FLOW,
    }
    deployment = load_deployment(deployment_dir(files))
    fallback = deployment.compiled.fallback["actions"]
    state, decisions = run(deployment, "+12125550100", [f"digits:{d}" for d in digits])
    last = decisions[-1]
    if guarded_at is None:
        assert last["fallback_reason"] is None
        assert (last["node"], types(last)) == ("menu", ["say", "say", "say", "menu"])
        assert state["status"] == "active"
        return
    assert last["seq"] == guarded_at
    assert last["fallback_reason"] == "loop-guard"
    assert last["actions"] == fallback == last["fallback"]["actions"]
    assert [a["type"] for a in fallback] == ["say", "ring", "hangup"]
    assert last["await"] == []
    assert last["trace"][-1] == "fallback: loop-guard"
    assert (state["status"], state["end_reason"], state["await"]) == (
        "ended",
        "fallback: loop-guard",
        [],
    )
    with pytest.raises(EventRejected) as refused:
        deployment.apply_event(state, event_body("digits:1", state["seq"]))
    assert refused.value.reason == "ended"


def test_unknown_dialed_number_gets_the_fallback(engine) -> None:
    state, decision = engine.start_call(new_call("+12125559999"))
    assert decision["fallback_reason"] == "no-entry"
    assert decision["seq"] == 1
    assert decision["actions"] == [
        {"type": "say", "text": "Please hold for the front desk."},
        {
            "type": "ring",
            "targets": [{"name": "desk", "uri": "sip:desk@example.com"}],
            "timeout_s": 30.0,
            "strategy": "simultaneous",
        },
        {"type": "hangup", "reason": "fallback"},
    ]
    assert decision["await"] == []
    assert decision["trace"] == [
        "no flow for dialed number +12125559999",
        "fallback: no-entry",
    ]
    assert (state["status"], state["end_reason"]) == ("ended", "fallback: no-entry")


# --- the sequence rules --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("to", "events", "event", "seq_offset", "reason"),
    [
        (MENU, ["no-input"], "no-input", -1, "stale-seq"),
        (MENU, ["no-input", "no-input"], "dial.answered", -2, "stale-seq"),
        (MENU, [], "no-input", 1, "future-seq"),
        (MENU, ["no-input"], "digits:1", 5, "future-seq"),
        (MENU, ["digits:#"], "no-input", 0, "ended"),
        (MENU, ["hangup"], "hangup", 0, "ended"),
        (MENU, [], "dial.answered", 0, "unexpected-event"),
        (MENU, [], "recording.done:rec-1", 0, "unexpected-event"),
        (SEQ, [], "digits:3", 0, "unexpected-event"),
        (SEQ, [], "queue.timeout", 0, "unexpected-event"),
        (PLAIN, ["dial.answered"], "dial.no-answer", 0, "unexpected-event"),
        (REPORT, ["dial.answered"], "dial.answered", 0, "unexpected-event"),
        (VM, [], "no-input", 0, "unexpected-event"),
        (WAITING, [], "dial.no-answer", 0, "unexpected-event"),
    ],
)  # fmt: skip
def test_events_that_do_not_fit_are_rejected_and_change_nothing(
    engine, to, events, event, seq_offset, reason
) -> None:
    state, decisions = run(engine, to, events)
    before = copy.deepcopy(state)
    body = event_body(event, state["seq"] + seq_offset)
    with pytest.raises(EventRejected) as refused:
        engine.apply_event(state, body)
    assert refused.value.reason == reason
    assert refused.value.message
    assert state == before
    if reason in ("stale-seq", "future-seq") and state["status"] != "ended":
        # the call goes on from where it was: the right seq is still accepted
        right = event_body(event, state["seq"])
        if event.partition(":")[0] in state["await"]:
            _, decision = engine.apply_event(state, right)
            assert decision["seq"] == decisions[-1]["seq"] + 1


@pytest.mark.parametrize(
    ("to", "events", "node"),
    [
        (MENU, [], "main-menu"),
        (MENU, ["no-input"], "main-menu"),
        (SEQ, [], "ring-all"),
        (SEQ, ["dial.busy"], "ring-all"),
        (SIM, [], "ring-all"),
        (PLAIN, ["dial.answered"], "ring-office"),
        # (REPORT, answered): the agent still reports after the caller hangs up (test_wrap_up)
        (WAITING, [], "wait"),
        (WAITING, ["dial.answered"], "wait"),
        (WAITING, ["queue.timeout"], "take-message"),
        (VM, [], "take-message"),
    ],
)
def test_hangup_from_any_waiting_state_ends_the_call(engine, to, events, node) -> None:
    """A hangup ends the call wherever it waits, but where a connected agent is still to
    report an outcome (wrap-up: test_wrap_up.py)."""
    state, decisions = run(engine, to, [*events, "hangup"])
    last = decisions[-1]
    assert last["node"] == node
    assert last["await"] == [] and last["fallback_reason"] is None
    assert "ticket" not in types(last)
    assert last["trace"][-1] == f"{last['flow']['name']}/{node}: caller hung up"
    assert (state["status"], state["end_reason"], state["await"]) == (
        "ended",
        "caller hung up",
        [],
    )


# --- the decision, purity, state ---------------------------------------------------------------


def test_decision_json_shape(engine) -> None:
    state, decisions = run(engine, MENU, ["no-input", "digits:1", "dial.no-answer"])
    assert [d["seq"] for d in decisions] == [1, 2, 3, 4]
    assert state["seq"] == 4
    digest = engine.digest
    for decision in decisions:
        assert set(decision) == {
            "call_id", "seq", "flow", "node", "actions", "await", "fallback",
            "fallback_reason", "trace",
        }  # fmt: skip
        assert decision["call_id"] == "c1"
        assert decision["flow"] == {"name": "front", "version": digest[:12], "hash": digest}
        assert decision["fallback"]["await"] == []
        assert decision["fallback"]["actions"] == engine.compiled.fallback["actions"]
        assert decision["fallback_reason"] is None
        assert all(isinstance(line, str) for line in decision["trace"])
        assert json.loads(json.dumps(decision)) == decision
    for before, after in itertools.pairwise(decisions):
        assert after["trace"][: len(before["trace"])] == before["trace"]
    (menu,) = decisions[0]["actions"]
    assert {"type", "prompt", "options", "max_digits", "timeout_s", "attempt"} <= set(menu)
    say, ring = decisions[2]["actions"]
    assert say == {"type": "say", "text": "Connecting you to the office."}
    expected = {
        "type": "ring",
        "targets": [{"name": "office", "uri": "sip:office@example.com"}],
        "timeout_s": 12.0,
        "strategy": "sequential",
    }
    assert part(ring, expected) == expected
    assert decisions[3]["actions"] == [{"type": "hangup", "reason": "goodbye"}]


def test_same_inputs_same_outputs_and_inputs_untouched(engine) -> None:
    body = new_call(MENU, attributes={"plan": "gold"})
    targets = {"office": True, "backup": False}
    body_copy, targets_copy = copy.deepcopy(body), copy.deepcopy(targets)
    first = engine.start_call(body, targets)
    assert engine.start_call(body, targets) == first
    state, _ = first
    state_copy = copy.deepcopy(state)
    event = event_body("digits:3", 1)
    event_copy = copy.deepcopy(event)
    after = engine.apply_event(state, event, targets)
    assert engine.apply_event(state, event, targets) == after
    assert after[0]["vars"] == {"picked": "three"}
    assert (body, targets, state, event) == (body_copy, targets_copy, state_copy, event_copy)


def test_returned_decisions_share_nothing_with_the_deployment(deployment_dir) -> None:
    """Changing a returned decision must not change the next one."""
    engine = load_deployment(deployment_dir(runtime_files()))  # its own: it gets changed
    _, first = engine.start_call(new_call(MENU))
    pristine = copy.deepcopy(first)
    for action in first["fallback"]["actions"]:
        for target in action.get("targets", []):
            target["name"] = "changed"
        action["type"] = "changed"
    _, second = engine.start_call(new_call(MENU))
    assert second == pristine
    _, no_entry = engine.start_call(new_call("+12125559999"))
    no_entry["actions"][1]["targets"].clear()
    _, again = engine.start_call(new_call("+12125559999"))
    assert again["actions"][1]["targets"] == [{"name": "desk", "uri": "sip:desk@example.com"}]


@pytest.mark.parametrize(
    ("to", "events"),
    [
        (MENU, []),
        (MENU, ["digits:3"]),  # vars set
        (REPORT, ["dial.answered"]),  # connected
        (VM, ["recording.done:rec-9"]),  # ended
        ("+12125559999", []),  # fallback
    ],
)
def test_call_state_json_round_trip(engine, to, events) -> None:
    at = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    state, _ = start(engine.compiled, NewCall("c1", CALLER, to, at, {"plan": "gold"}))
    as_json = state.to_json()
    assert CallState.from_json(as_json) == state
    assert CallState.from_json(json.loads(json.dumps(as_json))) == state
    data = as_json
    for number, text in enumerate(events, start=1):
        data, _ = engine.apply_event(data, event_body(text, data["seq"], number))
    restored = CallState.from_json(json.loads(json.dumps(data)))
    assert restored.to_json() == data
    assert CallState.from_json(restored.to_json()) == restored


# --- malformed input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        (new_call(MENU, caller="2125550123"), "from", "E.164"),
        (new_call("+0125550100"), "to", "E.164"),
        (new_call("911"), "to", "E.164"),
        ({**new_call(MENU), "at": "2026-11-23T10:00:00"}, "at", "timezone"),
        ({"from": CALLER, "to": MENU}, "call_id", "required"),
    ],
)
def test_start_call_refuses_malformed_bodies(engine, body, field, problem) -> None:
    with pytest.raises(BadRequest) as refused:
        engine.start_call(body)
    fields = [p["field"] for p in refused.value.problems]
    assert fields == [field], refused.value.problems
    assert problem in refused.value.problems[0]["problem"]
    assert field in str(refused.value)


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ({"seq": 1, "type": "no-input"}, "event_id", "required"),
        ({"event_id": "e1", "seq": 1, "type": "digits"}, "data.digits", "needs"),
        ({"event_id": "e1", "seq": 1, "type": "digits", "data": {}}, "data.digits", "needs"),
        ({"event_id": "e1", "seq": 1, "type": "outcome"}, "data.outcome", "needs"),
        ({"event_id": "e1", "seq": 1, "type": "dial.exploded"}, "type", "'dial.no-answer'"),
        (
            {"event_id": "e1", "seq": 1, "type": "no-input", "at": "2026-11-23T10:00:05"},
            "at",
            "timezone",
        ),
        ({"event_id": "e1", "seq": 1, "type": "digits", "data": {"digits": "one"}},
         "data.digits", "pattern"),
    ],
)  # fmt: skip
def test_apply_event_refuses_malformed_bodies(engine, body, field, problem) -> None:
    state, _ = engine.start_call(new_call(MENU))
    before = copy.deepcopy(state)
    with pytest.raises(BadRequest) as refused:
        engine.apply_event(state, body)
    fields = [p["field"] for p in refused.value.problems]
    assert fields == [field], refused.value.problems
    assert problem in refused.value.problems[0]["problem"]
    assert field in str(refused.value)
    assert state == before


def test_runtime_deployment_files_are_a_clean_deployment(deployment_dir) -> None:
    """The tables above run on a deployment the validator accepts without a warning."""
    result = check(deployment_dir(runtime_files('vars.tier == "gold"')))
    assert result.diagnostics == []


def test_hospital_through_the_api(hospital: LoadedDeployment) -> None:
    """The same shapes on the real example: the main line's menu, then billing's 2 rings."""
    state, first = hospital.start_call(new_call("+12125550111"))
    (menu,) = first["actions"]
    expected = {"type": "menu", "options": ["1", "2", "3", "4", "0"], "timeout_s": 5.0}
    assert part(menu, expected) == expected
    assert menu["prompt"].startswith("Thank you for calling Mercy General Hospital.")
    assert first["flow"] == {
        "name": "ivr",
        "version": hospital.digest[:12],
        "hash": hospital.digest,
    }
    state, second = hospital.apply_event(state, event_body("digits:3", first["seq"]))
    assert (second["seq"], second["flow"]["name"]) == (2, "billing")
    assert ring_action(second)["timeout_s"] == 12.0
    assert second["await"] == AWAIT_RING
    with pytest.raises(EventRejected) as refused:
        hospital.apply_event(state, event_body("digits:3", second["seq"]))
    assert refused.value.reason == "unexpected-event"
