"""What is written differently between two versions: the dialed numbers, the definitions (flows,
modules, targets, schedules, contacts, the deployment's settings), and the nodes and edges as
written in flows and modules (`Index.own_nodes`), each setting shown as a reviewer reads it."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterator, Mapping
from typing import Any

from routing_engine.core import ir
from routing_engine.core.analysis import EXIT, MODULE, NODE_REF_FIELDS, Index, NodeKey
from routing_engine.review.diff_changes import (
    Change,
    DefinitionChange,
    EdgeChange,
    EntryChange,
    NodeChange,
    Status,
    status_of,
)

# Fields of a node that say where it leads (its edges) or who it is, not what it does.
_WIRING = NODE_REF_FIELDS | {"id", "options", "handlers", "exits", "cases", "args"}
# Fields of a deployment that are compared one by one elsewhere.
_PARTS = frozenset({"flows", "entries", "targets", "contacts", "schedules", "modules"})
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


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
        own = "" if entry.fallback is None else f" (fallback: {show(entry.fallback)})"
        found.setdefault(entry.number, entry.flow.name + own)  # the first wins, as compiling
    return found


def diff_entries(old: ir.Deployment, new: ir.Deployment) -> tuple[EntryChange, ...]:
    """Dialed numbers added, removed, sent to another flow, or given another fallback."""
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
        status = status_of(was, now)
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
