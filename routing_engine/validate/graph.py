"""G2xx: the shape of the process map: reachability, dead ends, outcomes (loops are in
`loops.py`, waits in `waits.py`)."""

from __future__ import annotations

from collections.abc import Iterator

from routing_engine.core import ir
from routing_engine.core.analysis import Unit, unit_reachable
from routing_engine.core.context import Context
from routing_engine.validate.registry import Finding, rule


@rule("G201", "unreachable-node")
def unreachable_nodes(ctx: Context) -> Iterator[Finding]:
    """A node that no path from its flow's start reaches.

    Why it matters: it is dead code in the process map, often the sign of a wrong reference
    elsewhere (an option that should lead here and leads somewhere else).
    Example: a `voicemail` node that nothing points at.
    """
    for name, unit in ctx.index.units():
        reachable = unit_reachable(ctx.index, name, unit.start.name)
        if not reachable or any(_links_unknown(ctx, name, unit, node_id) for node_id in reachable):
            continue  # an unknown start is S108's; past unknown links, anything may be reached
        what = "flow" if isinstance(unit, ir.Flow) else "module"
        for node in unit.nodes:
            if node.id not in reachable:
                yield Finding(
                    f"node '{node.id}' is never reached from the start of {what} '{unit.name}'",
                    node.span,
                    "point an option or outcome at it, or remove it",
                )


def _links_unknown(ctx: Context, name: str, unit: Unit, node_id: str) -> bool:
    """True when a node's links are not all known: it was broken, names something unknown, or
    uses a module that could not be expanded."""
    if node_id in unit.broken:
        return True
    node = ctx.index.nodes[(name, node_id)]
    if isinstance(node, ir.Use):
        module = ctx.index.modules.get(node.module.name)
        if module is None or set(module.exits) - {h.outcome for h in node.exits}:
            return True  # unknown module, or an exit left unmapped (S108, S114)
    return any(ctx.index.resolve(name, edge.to) is None for edge in node.edges())


@rule("G202", "dead-end")
def dead_ends(ctx: Context) -> Iterator[Finding]:
    """A node after which the call has nowhere to go: a `say`, `set` or `ticket` without `next`.

    Why it matters: the caller would be left in silence with nothing happening. End a call
    explicitly with `hangup` (or a `voicemail`, which ends the call once recorded).
    Example: `say: "We will call you back."` with no `next`.
    """
    for _, node in ctx.index.own_nodes():
        if isinstance(node, (ir.Say, ir.SetVars, ir.Ticket)) and node.next is None:
            yield Finding(
                f"{node.KIND} node '{node.id}' has no 'next': the call would stop here in silence",
                node.span,
                "add 'next: ...', for example a hangup node",
            )


@rule("G204", "unhandled-outcome")
def unhandled_outcomes(ctx: Context) -> Iterator[Finding]:
    """An outcome the node can produce with nowhere to go.

    A ring node must say where the call goes on `no-answer` (`busy` and `failed` go there too
    unless handled themselves), and on each outcome listed under `reports`; a queue must say
    where the call goes on `timeout`. `answered` may be left out: the call is then connected.
    Example: a ring node with `reports: [handled, needs-office]` but no `needs-office` handler.
    """
    for (name, _), node in ctx.index.own_nodes():
        unit = ctx.index.unit(name)
        if not isinstance(node, (ir.Ring, ir.Queue)) or unit is None or node.id in unit.broken:
            continue  # a broken node's handlers were reported as they were read
        handled = {h.outcome for h in node.handlers}
        optional = ir.OPTIONAL_OUTCOMES.get(node.KIND, frozenset())
        for outcome in node.outcomes():
            if outcome in handled or outcome in optional:
                continue
            default = ir.OUTCOME_DEFAULTS.get(outcome)
            if default is not None and default in node.outcomes():
                continue  # reported once, on the outcome it falls back to
            also = [o for o, d in ir.OUTCOME_DEFAULTS.items() if d == outcome and o not in handled]
            extra = (
                f" (nor for {', '.join(repr(o) for o in also)}, which fall back to it)"
                if also
                else ""
            )
            yield Finding(
                f"{node.KIND} node '{node.id}' has no handler for '{outcome}'{extra}",
                node.span,
                f"add 'on: {{{outcome}: ...}}'",
                f"add a line '{outcome} -> ...' under the node",
            )
