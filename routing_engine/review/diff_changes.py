"""The records of a deployment diff: one per change (a dialed number, a definition, a node, an
edge, a way a call can go), each with its status and as JSON."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Any


class Status(enum.Enum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"
    REWIRED = "rewired"  # an edge: same node and outcome, another target


def status_of(old: object, new: object, changed: Status = Status.CHANGED) -> Status:
    """ADDED where there was nothing, REMOVED where nothing is left, else `changed`."""
    if old is None:
        return Status.ADDED
    if new is None:
        return Status.REMOVED
    return changed


def as_json(record: Any) -> dict[str, Any]:
    """A change record as JSON: its status, then its fields."""
    return {
        "status": record.status.value,
        **{f.name: _json_value(getattr(record, f.name)) for f in dataclasses.fields(record)},
    }


def _json_value(value: Any) -> Any:
    match value:
        case Status():
            return value.value
        case Change():
            return dataclasses.asdict(value)
        case tuple():
            return [_json_value(item) for item in value]
    return value


class _OldAndNew:
    """A change record with `old` and `new` (None on the side where it does not exist)."""

    __slots__ = ()
    old: str | None
    new: str | None

    @property
    def status(self) -> Status:
        return status_of(self.old, self.new)

    def to_json(self) -> dict[str, Any]:
        return as_json(self)


@dataclass(frozen=True, slots=True)
class Change:
    """One setting, before and after (None where it is not set)."""

    setting: str
    old: str | None
    new: str | None


@dataclass(frozen=True, slots=True)
class NodeChange:
    """A node as written (`unit` is a flow's name or `module:NAME`) added, removed, or with
    settings changed (`changes`)."""

    unit: str
    node: str
    kind: str
    status: Status
    changes: tuple[Change, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return as_json(self)


@dataclass(frozen=True, slots=True)
class EdgeChange:
    """An edge added, removed or rewired. Targets read `NODE` (same flow or module),
    `flow NAME` (another flow, at its start) or `exit NAME` (a module's exit)."""

    unit: str
    node: str
    outcome: str
    label: str
    old: str | None
    new: str | None

    @property
    def status(self) -> Status:
        return status_of(self.old, self.new, Status.REWIRED)

    def to_json(self) -> dict[str, Any]:
        return as_json(self)


@dataclass(frozen=True, slots=True)
class EntryChange(_OldAndNew):
    """A dialed number added, removed, or sent to another flow."""

    number: str
    old: str | None
    new: str | None


@dataclass(frozen=True, slots=True)
class DefinitionChange:
    """A flow, module, target, schedule or contact (`what`), or the deployment's own settings,
    added, removed or changed."""

    what: str
    name: str
    status: Status
    changes: tuple[Change, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return as_json(self)


@dataclass(frozen=True, slots=True)
class OutcomeChange(_OldAndNew):
    """A way a call can go whose end changed (`old` and `new`), or that only one version has
    (the other is None). `when` says which calls, choice by choice; `key` is what matched."""

    entry: str
    flow: str
    when: tuple[str, ...]
    key: tuple[str, ...]
    old: str | None
    new: str | None
