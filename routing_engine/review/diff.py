"""What changed between two versions of a deployment, for a reviewer and for CI.

Three layers, the most important first when shown: the calls that now end elsewhere (every
path a call can take, old against new, matched by the choices along it); the dialed numbers
and the definitions (flows, modules, targets, schedules, contacts, settings); and the process
map as written: nodes added, removed or changed (a setting such as a ring's timeout or a
prompt) and edges added, removed or rewired (same node and outcome, another target).

Nodes and edges are compared as written in flows and modules (`Index.own_nodes`), not as the
copies made for each use of a module: a module changed once shows once, and what it changes
for calls shows in the outcomes.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from routing_engine.core import ir
from routing_engine.core.analysis import EXIT, MODULE, NODE_REF_FIELDS, Index, NodeKey, build_index
from routing_engine.core.compile import CompiledDeployment
from routing_engine.review.diff_callers import (
    CallerMove,
    caller_moves,
    rewritten_choices,
    unsure_branches,
)
from routing_engine.review.paths import FORCED, CallPath, entry_numbers, enumerate_paths

# Fields of a node that say where it leads (its edges) or who it is, not what it does.
_WIRING = NODE_REF_FIELDS | {"id", "options", "handlers", "exits", "cases", "args"}
# Fields of a deployment that are compared one by one elsewhere.
_PARTS = frozenset({"flows", "entries", "targets", "contacts", "schedules", "modules"})
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Status(enum.Enum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"
    REWIRED = "rewired"  # an edge: same node and outcome, another target


def _status(old: object, new: object, changed: Status = Status.CHANGED) -> Status:
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
        return _status(self.old, self.new)

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
        return _status(self.old, self.new, Status.REWIRED)

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


@dataclass(frozen=True, slots=True)
class Side:
    """Which version a side of a diff is."""

    name: str
    hash: str

    @property
    def version(self) -> str:
        return self.hash[:12]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "hash": self.hash, "version": self.version}


@dataclass(frozen=True, slots=True)
class DeploymentDiff:
    """Everything that differs between two deployment versions."""

    old: Side
    new: Side
    outcomes: tuple[OutcomeChange, ...]
    truncated: bool  # a bound cut the paths of either version short: outcomes may be missing
    callers: tuple[CallerMove, ...]  # callers a rewritten branch sends down another case
    unsure: tuple[str, ...]  # rewritten branches reading what sample calls cannot say
    entries: tuple[EntryChange, ...]
    definitions: tuple[DefinitionChange, ...]
    nodes: tuple[NodeChange, ...]
    edges: tuple[EdgeChange, ...]

    @property
    def changed(self) -> bool:
        return bool(
            self.outcomes
            or self.callers
            or self.entries
            or self.definitions
            or self.nodes
            or self.edges
        )

    def to_json(self) -> dict[str, Any]:
        """The diff as JSON (`cli.py diff --format json`, and the publish API)."""
        return {
            "old": self.old.to_json(),
            "new": self.new.to_json(),
            "changed": self.changed,
            "outcomes": {
                **_grouped(self.outcomes),
                "truncated": self.truncated,
                "callers": [move.to_json() for move in self.callers],
                "unsure": list(self.unsure),
            },
            "entries": _grouped(self.entries),
            "definitions": _grouped(self.definitions),
            "nodes": _grouped(self.nodes),
            "edges": _grouped(self.edges, Status.REWIRED),
        }


def _grouped(changes: Iterable[Any], third: Status = Status.CHANGED) -> dict[str, Any]:
    """Changes by status; every status present, so a reader need not test for keys."""
    groups: dict[str, list[dict[str, Any]]] = {
        status.value: [] for status in (third, Status.ADDED, Status.REMOVED)
    }
    for change in changes:
        groups[change.status.value].append(change.to_json())
    return groups


def diff_deployments(
    old: CompiledDeployment,
    new: CompiledDeployment,
    *,
    max_paths: int = 5000,
    at: datetime | None = None,
) -> DeploymentDiff:
    """What changed from `old` to `new` (two compiled versions of a deployment). Paths are
    enumerated up to `max_paths` per version (see `paths.enumerate_paths`); conditions of
    rewritten branches are evaluated for sample callers at `at` (now by default)."""
    before, after = build_index(old.deployment), build_index(new.deployment)
    outcomes, truncated, callers = diff_outcomes(
        old, new, before, after, max_paths, at or datetime.now(UTC)
    )
    return DeploymentDiff(
        old=Side(old.name, old.digest),
        new=Side(new.name, new.digest),
        outcomes=outcomes,
        truncated=truncated,
        callers=callers,
        unsure=unsure_branches(old, new),
        entries=diff_entries(old.deployment, new.deployment),
        definitions=diff_definitions(before, after),
        nodes=diff_nodes(before, after),
        edges=diff_edges(before, after),
    )


# --- showing a setting -------------------------------------------------------------------------


def show(value: object) -> str:
    """A setting's value as a reviewer reads it ('' for nothing set)."""
    match value:
        case None:
            return ""
        case str():
            return value
        case bool():
            return "yes" if value else "no"
        case ir.Ref():
            return value.name
        case ir.Duration() | ir.TimeRange():
            return str(value)
        case enum.Enum():
            return str(value.value)
        case ir.Condition():
            return value.source
        case ir.Assignment():
            return f"{value.name}={show(value.value)}"
        case ir.Param():
            default = f" = {value.default}" if value.default is not None else ""
            return f"{value.name}: {value.type}{default}"
        case ir.DayHours():
            return f"{','.join(_DAYS[d] for d in value.days)} {show(value.ranges) or 'closed'}"
        case ir.DateHours():
            return f"{value.date} {show(value.ranges) or 'all day'}"
        case tuple():
            return ", ".join(show(item) for item in value)
        case _ if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return "; ".join(f"{k} {v}" for k, v in settings_of(value).items())
    return str(value)


def settings_of(value: Any, skip: frozenset[str] = frozenset()) -> dict[str, str]:
    """The compared fields of a dataclass (spans are never compared), each shown as text;
    nested dataclasses are flattened (`fallback timeout`), empty ones left out."""
    found: dict[str, str] = {}
    for f in dataclasses.fields(value):
        if not f.compare or f.name in skip:
            continue
        item = getattr(value, f.name)
        name = f.name.replace("_", " ")
        if dataclasses.is_dataclass(item) and not isinstance(
            item, ir.Ref | ir.Duration | ir.Condition
        ):
            found.update({f"{name} {k}": v for k, v in settings_of(item).items()})
        elif shown := show(item):
            found[name] = shown
    return found


def node_settings(node: ir.Node) -> dict[str, str]:
    """What a node does, setting by setting, without where it leads (that is its edges)."""
    found = {"kind": node.KIND, **settings_of(node, _WIRING)}
    match node:
        case ir.Branch():
            found.update({f"case {i} when": c.when.source for i, c in enumerate(node.cases, 1)})
        case ir.Use():
            found.update({f"with {arg.name}": arg.value for arg in node.args})
        case _:
            pass
    return found


def changes_between(old: Mapping[str, str], new: Mapping[str, str]) -> tuple[Change, ...]:
    """The settings that differ, in the order they are first seen."""
    names = dict.fromkeys([*old, *new])
    return tuple(
        Change(name, old.get(name), new.get(name))
        for name in names
        if old.get(name) != new.get(name)
    )


# --- the layers --------------------------------------------------------------------------------


def _entries(deployment: ir.Deployment) -> dict[str, str]:
    found: dict[str, str] = {}
    for entry in deployment.entries:
        found.setdefault(entry.number, entry.flow.name)  # the first wins, as when compiling
    return found


def diff_entries(old: ir.Deployment, new: ir.Deployment) -> tuple[EntryChange, ...]:
    """Dialed numbers added, removed, or sent to another flow."""
    before, after = _entries(old), _entries(new)
    return tuple(
        EntryChange(number, before.get(number), after.get(number))
        for number in sorted(before.keys() | after.keys())
        if before.get(number) != after.get(number)
    )


def _definitions(index: Index) -> dict[tuple[str, str], dict[str, str]]:
    """Each named definition's settings, keyed (what, name)."""
    found: dict[tuple[str, str], dict[str, str]] = {}
    deployment = index.deployment
    found[("deployment", "settings")] = settings_of(deployment, _PARTS)
    for flow in index.flows.values():
        found[("flow", flow.name)] = settings_of(flow, frozenset({"name", "nodes"}))
    for module in index.modules.values():
        fields = settings_of(module, frozenset({"name", "nodes", "params"}))
        fields.update({f"param {p.name}": show(p).partition(": ")[2] for p in module.params})
        found[("module", module.name)] = fields
    for what, named in (
        ("target", index.targets),
        ("schedule", index.schedules),
        ("contact", index.contacts),
    ):
        for name, item in named.items():
            found[(what, name)] = settings_of(item, frozenset({"name"}))
    return found


def diff_definitions(old: Index, new: Index) -> tuple[DefinitionChange, ...]:
    """Flows, modules, targets, schedules and contacts added, removed or changed, and the
    deployment's settings (fallback, ring cadence, ...)."""
    before, after = _definitions(old), _definitions(new)
    found: list[DefinitionChange] = []
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key), after.get(key)
        if was == now:
            continue
        status = _status(was, now)
        changes = changes_between(was, now) if was is not None and now is not None else ()
        found.append(DefinitionChange(key[0], key[1], status, changes))
    order = ("deployment", "flow", "module", "target", "schedule", "contact")
    return tuple(sorted(found, key=lambda d: (order.index(d.what), d.name)))


def _own_nodes(index: Index) -> dict[NodeKey, ir.Node]:
    return dict(index.own_nodes())


def diff_nodes(old: Index, new: Index) -> tuple[NodeChange, ...]:
    """Nodes (as written in flows and modules) added, removed, or with settings changed."""
    before, after = _own_nodes(old), _own_nodes(new)
    found: list[NodeChange] = []
    for key in sorted(before.keys() | after.keys(), key=_flows_first):
        was, now = before.get(key), after.get(key)
        if was is None and now is not None:
            found.append(NodeChange(key[0], key[1], now.KIND, Status.ADDED))
        elif now is None and was is not None:
            found.append(NodeChange(key[0], key[1], was.KIND, Status.REMOVED))
        elif was is not None and now is not None:
            changes = changes_between(node_settings(was), node_settings(now))
            if changes:
                found.append(NodeChange(key[0], key[1], now.KIND, Status.CHANGED, changes))
    return tuple(found)


def _where(unit: str, target: NodeKey | None, ref: ir.Ref) -> str:
    """Where an edge leads, as a reviewer reads it."""
    if target is None:
        return f"{ref.name} (unknown)"
    if target[1].startswith(EXIT):
        return "exit " + target[1].removeprefix(EXIT)
    if target[0] != unit:
        return "flow " + target[0]
    return target[1]


def edges_of(index: Index) -> Iterator[tuple[tuple[str, str, str], str, str]]:
    """Every edge of the nodes as written: ((unit, node, outcome), label, where it leads)."""
    for (unit, node_id), node in index.own_nodes():
        for edge in node.edges():
            target = _where(unit, index.resolve(unit, edge.to), edge.to)
            yield (unit, node_id, edge.outcome), edge.label, target


def diff_edges(old: Index, new: Index) -> tuple[EdgeChange, ...]:
    """Edges added, removed, or rewired (the same node and outcome leading elsewhere)."""
    before = {key: (label, target) for key, label, target in edges_of(old)}
    after = {key: (label, target) for key, label, target in edges_of(new)}
    found: list[EdgeChange] = []
    for key in sorted(before.keys() | after.keys(), key=_flows_first):
        was, now = before.get(key), after.get(key)
        if was is not None and now is not None and was[1] == now[1]:
            continue
        label = (now or was or ("", ""))[0]
        old_target = was[1] if was is not None else None
        new_target = now[1] if now is not None else None
        found.append(EdgeChange(*key, label, old_target, new_target))
    return tuple(found)


def _flows_first(key: tuple[str, ...]) -> tuple[bool, tuple[str, ...]]:
    """Flows before modules, then by name."""
    return (key[0].startswith(MODULE), key)


# --- outcomes ----------------------------------------------------------------------------------


def match_key(path: CallPath, rewrites: Mapping[tuple[str, str], str]) -> tuple[str, ...]:
    """What matches a path of one version to the same path of the other: the dialed number and
    the choices along it (forced moves left out), each hours choice with its schedule (a
    schedule swapped is another path), a rewritten condition's choice read as its new text at
    the node it belongs to (`rewrites`: (node, old choice) -> new choice)."""
    key = [path.entry]
    for step in path.steps:
        if step.choice in FORCED:
            continue
        choice = rewrites.get((step.node, step.choice), step.choice)
        if step.kind == "hours":
            choice = f"{step.detail.removeprefix('schedule ')} {choice}"
        key.append(choice)
    return tuple(key)


def _by_key(
    paths: Iterable[CallPath], rewrites: Mapping[tuple[str, str], str] | None = None
) -> dict[tuple[str, ...], CallPath]:
    """Paths by their match key; the rare second path with the same key (two cases of one
    branch with the same condition) gets a numbered key of its own."""
    found: dict[tuple[str, ...], CallPath] = {}
    for path in paths:
        key = base = match_key(path, rewrites or {})
        number = 1
        while key in found:
            number += 1
            key = (*base, f"#{number}")
        found[key] = path
    return found


def describe(path: CallPath, index: Index) -> tuple[str, ...]:
    """The choices that tell a path from others, in words: an hours check names its schedule
    ('office-hours open'), a branch's else names the branch."""
    said: list[str] = []
    for step in path.steps:
        if step.choice in FORCED:
            continue
        flow, _, node_id = step.node.partition("/")
        match index.nodes.get((flow, node_id)):
            case ir.Hours(schedule=schedule):
                said.append(f"{schedule.name} {step.choice}")
            case ir.Branch() if step.choice == "else":
                said.append(f"else at {node_id}")
            case _:
                said.append(step.choice)
    return tuple(said)


def _paths_by_entry(
    compiled: CompiledDeployment, max_paths: int
) -> dict[str, tuple[tuple[CallPath, ...], bool]]:
    """Each entry's paths and whether its bound cut them short; each entry has a budget of its
    own, so a big menu behind one number cannot hide another number's paths."""
    found: dict[str, tuple[tuple[CallPath, ...], bool]] = {}
    for number in entry_numbers(compiled):
        report = enumerate_paths(compiled, number, max_paths=max_paths)
        found[number] = (report.paths, report.truncated)
    return found


def diff_outcomes(
    old: CompiledDeployment,
    new: CompiledDeployment,
    before: Index,
    after: Index,
    max_paths: int,
    at: datetime,
) -> tuple[tuple[OutcomeChange, ...], bool, tuple[CallerMove, ...]]:
    """The paths whose outcome changed, then those only one version has; whether a bound cut
    an enumeration short; and the callers rewritten branches send another way. Paths match by
    `match_key`: the dialed number and the choices along the way, whatever the nodes are
    called. A path through a rewritten condition that ends as before is no change (who takes
    it is: see `diff_callers`). An entry whose paths were cut short on either side reports
    only changed outcomes: which of its paths are new or gone cannot be told."""
    if old.digest == new.digest:
        return (), False, ()
    was, now = _paths_by_entry(old, max_paths), _paths_by_entry(new, max_paths)
    rewrites = rewritten_choices(old, new)
    found: list[OutcomeChange] = []
    cut = False
    for number in dict.fromkeys([*was, *now]):
        old_list, old_cut = was.get(number, ((), False))
        new_list, new_cut = now.get(number, ((), False))
        cut = cut or old_cut or new_cut
        found.extend(
            _entry_changes(old_list, new_list, rewrites, before, after, not (old_cut or new_cut))
        )
    order = {Status.CHANGED: 0, Status.ADDED: 1, Status.REMOVED: 2}
    found.sort(key=lambda change: order[change.status])  # stable: path order within each
    old_paths = [p for paths, _ in was.values() for p in paths]
    new_paths = [p for paths, _ in now.values() for p in paths]
    moves = caller_moves(old, new, old_paths, new_paths, at)
    return tuple(found), cut, moves


def _entry_changes(
    old_list: Iterable[CallPath],
    new_list: Iterable[CallPath],
    rewrites: Mapping[tuple[str, str], str],
    before: Index,
    after: Index,
    complete: bool,
) -> list[OutcomeChange]:
    """One entry's paths compared: changed outcomes, and (when both enumerations are complete)
    paths only one version has."""
    old_paths, new_paths = _by_key(old_list, rewrites), _by_key(new_list)
    found: list[OutcomeChange] = []
    for key, path in new_paths.items():
        earlier = old_paths.get(key)
        if earlier is not None and earlier.outcome != path.outcome:
            when = describe(path, after)
            found.append(
                OutcomeChange(path.entry, path.flow, when, key, earlier.outcome, path.outcome)
            )
        elif earlier is None and complete:
            when = describe(path, after)
            found.append(OutcomeChange(path.entry, path.flow, when, key, None, path.outcome))
    if complete:
        for key, path in old_paths.items():
            if key not in new_paths:
                when = describe(path, before)
                found.append(OutcomeChange(path.entry, path.flow, when, key, path.outcome, None))
    return found
