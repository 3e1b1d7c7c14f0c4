"""What happened on a call, in plain words for office staff, read from its trace.

The trace (see visits.py) is written for whoever debugs a flow: `WHY -> flow/node` lines with
node ids and conditions. A ticket carries this story instead: "Called +12125550120
(cardiology)", "office-hours was open", "Rang cardiology-office: no answer", "offshore-center
answered", "They reported: needs-office". Moves that mean nothing to a caller (announcements,
variables, entering a module) are left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from routing_engine.core.compiled import CompiledDeployment, CQueue, CRing

_CASE = re.compile(r"^when (?P<condition>.*) \(case \d+\)$")
_REPLAY = re.compile(r"^(?P<problem>.*), replay \((?P<try>\d+) of (?P<of>\d+)\)$")
_HOURS = re.compile(r"^(?P<schedule>\S+) (?P<state>open|closed|holiday)(?: \((?P<why>.*)\))?$")
_IN_PARENS = re.compile(r"\((?P<outcome>[a-z-]+)\)")
_NEXT_TARGET = re.compile(r"^(?P<outcome>[a-z-]+) from (?P<target>\S+), next target$")
MEMO_SENTENCES = 4096
_SAID = {"no-answer": "no answer", "busy": "busy", "failed": "the call failed"}


def story(compiled: CompiledDeployment, trace: Iterable[str]) -> list[str]:
    """The call so far, one plain sentence a step."""
    told: list[str] = []
    flow = ""
    known = compiled.sentences  # a flow's steps read the same words call after call
    for line in trace:
        why, arrow, label = line.rpartition(" -> ")
        if not arrow:
            why, label = line, ""
        if label:
            flow = label.partition("/")[0]
        said = known.get((why, flow))
        if said is None:
            said = _sentence(compiled, why, flow)
            if len(known) >= MEMO_SENTENCES:  # steps carry digits the caller typed: keep few
                known.clear()
            known[(why, flow)] = said
        if said and (not told or told[-1] != said):
            told.append(said)
    return told


def _targets(compiled: CompiledDeployment, flow: str, node_id: str) -> str:
    """Who a ring node rings, or which queue a queue node waits in, by name."""
    node = compiled.nodes.get((flow, node_id))
    if isinstance(node, CRing):
        names = [target.name for target in node.targets]
        if node.simultaneous or len(names) < 2:
            return " and ".join(names) or node_id
        return names[-1]  # a sequential ring's last word is its last target's
    if isinstance(node, CQueue) and node.queue is not None:
        return f"queue {node.queue.name}"
    return node_id


def _sentence(compiled: CompiledDeployment, why: str, flow: str) -> str:
    if why.startswith("entry "):
        return f"Called {why.split()[1]} ({flow})"
    if why.startswith("fallback: "):
        return f"The engine could not decide ({why.removeprefix('fallback: ')})"
    head, _, rest = why.partition(": ")
    kind, _, node_id = head.partition(" ")
    if rest == "caller hung up":
        return "The caller hung up"
    if rest.startswith("exhausted ("):
        return f"{node_id}: tried {rest.split('(')[1].split()[0]} times; passed on"
    if rest.startswith("outcome "):
        return f"They reported: {rest.removeprefix('outcome ')}"
    match kind:
        case "hours":
            return _hours(rest)
        case "branch":
            case = _CASE.match(rest)
            return f"{node_id}: {case.group('condition')}" if case else ""
        case "menu":
            return _menu(node_id, rest)
        case "ring" | "queue":
            return _ring(compiled, flow, node_id, rest)
        case "voicemail":
            return "Left a message"
    return ""


def _hours(rest: str) -> str:
    found = _HOURS.match(rest)
    if found is None:
        return ""
    schedule, state, reason = found.group("schedule", "state", "why")
    if state == "holiday":
        return f"{schedule} was closed for {reason}" if reason else f"{schedule} was closed"
    return f"{schedule} was {state}"


def _menu(node_id: str, rest: str) -> str:
    if rest.startswith("digit "):
        return f"Pressed {rest.removeprefix('digit ')} at {node_id}"
    replay = _REPLAY.match(rest)
    if replay is not None:
        problem = replay.group("problem").replace("no option", "pressed a wrong key:")
        return f"{node_id}: {problem}; played again"
    if rest.endswith("retries used up"):
        return f"{node_id}: no choice made; passed on"
    return ""


def _ring(compiled: CompiledDeployment, flow: str, node_id: str, rest: str) -> str:
    who = _targets(compiled, flow, node_id)
    if rest.startswith("answered"):
        if who.startswith("queue "):
            return f"An agent of {who} answered"
        return f"{who.replace(' and ', ' or ')} answered"
    if rest.startswith("timeout"):
        return f"Waited in {who}: nobody answered in time"
    if rest.startswith("no target available"):
        return f"Nobody could be rung ({who} unavailable)"
    step = _NEXT_TARGET.match(rest)
    if step is not None:
        return f"Rang {step.group('target')}: {_SAID.get(step.group('outcome'), step.group(1))}"
    named = _IN_PARENS.search(rest) if rest.startswith("nobody answered") else None
    outcome = named.group("outcome") if named else rest.split(",")[0].split(" ")[0]
    if outcome in _SAID:
        return f"Rang {who}: {_SAID[outcome]}"
    return ""
