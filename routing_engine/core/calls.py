"""The data of a call: the events a telephony system reports, the call's state between them,
and the decisions the runtime makes. Plain values that go to JSON and back."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple


class EventType(enum.Enum):
    DIGITS = "digits"
    NO_INPUT = "no-input"
    DIAL_ANSWERED = "dial.answered"
    DIAL_NO_ANSWER = "dial.no-answer"
    DIAL_BUSY = "dial.busy"
    DIAL_FAILED = "dial.failed"
    OUTCOME = "outcome"
    QUEUE_TIMEOUT = "queue.timeout"
    RECORDING_DONE = "recording.done"
    HANGUP = "hangup"


DIAL_OUTCOMES = {
    EventType.DIAL_NO_ANSWER: "no-answer",
    EventType.DIAL_BUSY: "busy",
    EventType.DIAL_FAILED: "failed",
}


class Status(enum.Enum):
    ACTIVE = "active"  # the engine is steering the call
    CONNECTED = "connected"  # a person has the call
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class NewCall:
    call_id: str
    caller: str
    dialed: str
    at: datetime
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Event:
    type: EventType
    seq: int
    at: datetime
    digits: str = ""
    outcome: str = ""
    recording: str = ""


class CallState(NamedTuple):
    """Everything the engine remembers about a call between events (JSON-able).

    A named tuple, not a frozen dataclass: as immutable, and built in an eighth of the time (the
    runtime makes one per decision; a frozen dataclass sets each of its fields through
    `object.__setattr__`)."""

    call_id: str
    caller: str
    dialed: str
    deployment: str
    digest: str
    entry_flow: str
    flow: str
    node: str
    status: Status
    seq: int
    steps: int
    attempt: int  # menu: tries so far; sequential ring: index of the target ringing
    awaiting: tuple[str, ...]
    variables: Mapping[str, Any]
    attributes: Mapping[str, Any]
    started_at: str
    updated_at: str
    trace: tuple[str, ...]
    end_reason: str = ""
    ringing: tuple[str, ...] = ()  # the targets the current ring node rings, in order
    # The `resolve_within` limits of the flows the call entered, in order: {"flow", "after_s",
    # "due" (UTC), "notify", "seq" (the decision that entered the flow)}. The store starts a
    # timer for each; it is cancelled once the call is resolved.
    deadlines: tuple[Mapping[str, Any], ...] = ()
    # How many times the call entered each bounded node (`attempts`), by `flow/id`. A state
    # stored before bounds existed has none: it loads as entered nowhere.
    entered: Mapping[str, int] = {}
    # Wrap-up: the caller hung up while connected at a node that takes reports, and the call
    # awaits the agent's report until `report_due` (UTC). Both empty while the caller is on
    # the line; a state stored before wrap-up existed has neither.
    caller_gone_at: str = ""
    report_due: str = ""

    @property
    def wrapping_up(self) -> bool:
        """Whether the call awaits the agent's report after the caller hung up."""
        return bool(self.report_due) and self.status is Status.CONNECTED

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "from": self.caller,
            "to": self.dialed,
            "deployment": self.deployment,
            "hash": self.digest,
            "entry_flow": self.entry_flow,
            "flow": self.flow,
            "node": self.node,
            "status": self.status.value,
            "seq": self.seq,
            "steps": self.steps,
            "attempt": self.attempt,
            "await": list(self.awaiting),
            "vars": dict(self.variables),
            "attributes": dict(self.attributes),
            "started_at": self.started_at,
            "updated_at": self.updated_at,
            "trace": list(self.trace),
            "end_reason": self.end_reason,
            "ringing": list(self.ringing),
            "deadlines": [dict(d, notify=list(d["notify"])) for d in self.deadlines],
            "entered": dict(self.entered),
            "caller_gone_at": self.caller_gone_at,
            "report_due": self.report_due,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CallState:
        """A state as `to_json` made it; raises KeyError, TypeError or ValueError otherwise."""
        for name in ("seq", "steps", "attempt"):
            if not isinstance(data[name], int) or isinstance(data[name], bool):
                raise TypeError(f"'{name}' must be a whole number")
        return cls(
            call_id=data["call_id"],
            caller=data["from"],
            dialed=data["to"],
            deployment=data["deployment"],
            digest=data["hash"],
            entry_flow=data["entry_flow"],
            flow=data["flow"],
            node=data["node"],
            status=Status(data["status"]),
            seq=data["seq"],
            steps=data["steps"],
            attempt=data["attempt"],
            awaiting=tuple(data["await"]),
            variables=dict(data["vars"]),
            attributes=dict(data["attributes"]),
            started_at=data["started_at"],
            updated_at=data["updated_at"],
            trace=tuple(data["trace"]),
            end_reason=data.get("end_reason", ""),
            ringing=tuple(data.get("ringing", ())),
            deadlines=tuple(dict(d) for d in data.get("deadlines", ())),
            entered=_counts(data.get("entered", {})),
            caller_gone_at=_text(data.get("caller_gone_at", "")),
            report_due=_text(data.get("report_due", "")),
        )


def _text(data: Any) -> str:
    if not isinstance(data, str):
        raise TypeError("a time must be text")
    return data


def _counts(data: Any) -> dict[str, int]:
    """A state's `entered` counts, checked: node label -> a whole number."""
    if not isinstance(data, Mapping):
        raise TypeError("'entered' must be a mapping")
    for name, count in data.items():
        if not isinstance(name, str) or not isinstance(count, int) or isinstance(count, bool):
            raise TypeError("'entered' must map node names to whole numbers")
    return dict(data)


class Decision(NamedTuple):
    """What the runtime decided at one step (a named tuple, like CallState)."""

    call_id: str
    seq: int
    deployment: str
    flow: str
    node: str
    digest: str
    actions: tuple[dict[str, Any], ...]
    awaits: tuple[str, ...]
    fallback: Mapping[str, Any]
    trace: tuple[str, ...]
    fallback_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The decision as the HTTP API sends it: fresh containers throughout, so a caller
        that changes it changes nothing of the deployment's."""
        return {
            "call_id": self.call_id,
            "seq": self.seq,
            # null before the call is in a flow (no entry) or at a node (not decided yet)
            "flow": {"name": self.flow or None, "version": self.digest[:12], "hash": self.digest},
            "node": self.node or None,
            "actions": [_fresh(a) for a in self.actions],
            "await": list(self.awaits),
            "fallback": {"actions": [_fresh(a) for a in self.fallback["actions"]], "await": []},
            "fallback_reason": self.fallback_reason,
            "trace": list(self.trace),
        }


def _fresh(value: Any) -> Any:
    """A copy of a JSON-like value with new dicts and lists all the way down."""
    if isinstance(value, dict):
        return {key: _fresh(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_fresh(item) for item in value]
    return value


class EventRejected(Exception):
    """An event that cannot apply to the call as it stands; nothing changes.

    `reason` is one of: `stale-seq`, `future-seq`, `ended`, `unexpected-event`, `bad-event`,
    `wrong-version` (the state belongs to another version of the deployment), `wrap-up-over`
    (the agent's report came after the wrap-up's bound)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


def iso_utc(at: datetime) -> str:
    """`at` in UTC as ISO 8601 with a Z. Made for every decision: a time already in UTC (as the
    API parses a `Z`) is not converted again."""
    if at.tzinfo is None:
        raise ValueError("times must carry a UTC offset")
    utc = at if at.tzinfo is UTC else at.astimezone(UTC)
    return utc.isoformat().replace("+00:00", "Z")


# How the runtime's trace says a ring or queue was answered (core/events.py writes it): `ring
# ring-nurse: answered -> ...` (its `answered` handler) or `queue q: answered, connected`.
_ANSWERED = re.compile(r"^(ring|queue) [^\s:]+: answered(,| ->|$)")


def answered(trace: Iterable[str]) -> bool:
    """Whether anyone answered the call: a ring or queue `answered` outcome in its trace."""
    return any(_ANSWERED.match(line) for line in trace)
