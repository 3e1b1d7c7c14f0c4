"""W310: a ticket or voicemail due at a schedule's next opening, reached while that schedule may
be open."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

from routing_engine.core import ir
from routing_engine.core.analysis import ENTRY, MODULE, NodeKey
from routing_engine.core.context import Context
from routing_engine.core.diagnostics import Severity
from routing_engine.validate.registry import Finding, rule

# The ways out of an `hours` node that are taken only while its schedule is not open.
NOT_OPEN = frozenset({"closed", "holiday"})


@rule("W310", "sla-from-while-open", Severity.WARNING)
def sla_from_while_open(ctx: Context) -> Iterator[Finding]:
    """A `ticket` or `voicemail` due when a schedule opens (`sla_from: SCHEDULE`, no `sla`)
    that a call can reach without going the `closed` (or `holiday`) way of an `hours` node on
    that schedule.

    Why it matters: such a node is for messages left while an office is closed, due when it
    opens. Reached while the schedule is open, its ticket is due only at the next opening
    after this open period (the next morning, or after the weekend): usually a path that was
    meant to go elsewhere in office hours. With an `sla` too, the SLA runs from the call
    while the schedule is open and from its opening while it is closed, and nothing is
    reported.
    Example: a menu option leading straight to the after-hours voicemail, with no
    `hours: office-hours` check before it.
    """
    reported: set[ir.Span] = set()
    for key, node in sorted(ctx.index.nodes.items()):
        if not isinstance(node, (ir.Ticket, ir.Voicemail)) or node.sla_from is None or node.sla:
            continue
        schedule = node.sla_from.name
        if key[0].startswith(MODULE) or schedule.startswith("$"):
            continue  # a module's own node: its uses' copies are checked, with their schedules
        path = _open_path(ctx, key, schedule)
        if path is None or node.sla_from.span in reported:
            continue
        reported.add(node.sla_from.span)
        lead = _outermost_use(ctx, key)[1]  # a module's copy: calls are led to its use
        yield Finding(
            f"{node.KIND} '{key[1]}' of flow '{key[0]}' is due when schedule '{schedule}' "
            f"opens, but a call can reach it while '{schedule}' is open: {path}",
            node.sla_from.span,
            f"lead calls here only by the `closed` way of an `hours: {schedule}` node "
            f"(`closed: {lead}`), or give it an `sla`: reached while '{schedule}' is open, "
            "its ticket is due only at the next opening after this open period",
            f"lead calls here only by the `closed` way of an `hours {schedule}` node "
            f"(`closed -> {lead}`), or give it an `sla`: reached while '{schedule}' is open, "
            "its ticket is due only at the next opening after this open period",
        )


def _outermost_use(ctx: Context, key: NodeKey) -> NodeKey:
    """The node of the flow that a module's copy was made for (its outermost `use`)."""
    while key in ctx.index.expanded:
        key = ctx.index.expanded[key]
    return key


def _open_path(ctx: Context, goal: NodeKey, schedule: str) -> str | None:
    """A shortest way from a dialed number to `goal` that takes no `closed` or `holiday` way
    of an `hours` node on `schedule`, in words; None when there is none."""
    starts = [key for key in ctx.graph.nodes if key[0] == ENTRY]
    before: dict[Any, tuple[Any, str] | None] = dict.fromkeys(starts)
    queue = deque(starts)
    while queue:
        here = queue.popleft()
        if here == goal:
            return _words(ctx, before, goal)
        node = ctx.index.nodes.get(here)
        closes = isinstance(node, ir.Hours) and node.schedule.name == schedule
        for _, to, outcome in ctx.graph.out_edges(here, keys=True):
            if to in before or (closes and outcome in NOT_OPEN):
                continue
            before[to] = (here, outcome)
            queue.append(to)
    return None


def _words(ctx: Context, before: dict[Any, tuple[Any, str] | None], goal: NodeKey) -> str:
    """The way to `goal`: `+12125550100 -> check (open) -> take-message`."""
    steps = [goal[1]]
    link = before[goal]
    while link is not None:
        here, outcome = link
        taken = f" ({outcome})" if isinstance(ctx.index.nodes.get(here), ir.Hours) else ""
        steps.append(f"{here[1]}{taken}")
        link = before[here]
    return " -> ".join(reversed(steps))
