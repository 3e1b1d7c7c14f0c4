"""W3xx: warnings. The deployment works, but probably not as its author meant."""

from __future__ import annotations

from collections.abc import Iterator

from routing_engine.core import ir
from routing_engine.core.context import Context
from routing_engine.core.diagnostics import Severity
from routing_engine.validate.registry import Finding, rule


@rule("W301", "shadowed-option", Severity.WARNING)
def shadowed_options(ctx: Context) -> Iterator[Finding]:
    """A menu option that is the start of a longer one (`1` and `12`).

    Why it matters: a caller who presses 1 must then wait for the digit timeout before the menu
    acts, because 12 may still be coming; callers hear silence and press again.
    Example: options `"1": cardiology` and `"12": radiology` in one menu.
    """
    for _, node in ctx.index.own_nodes():
        if not isinstance(node, ir.Menu):
            continue
        for option in node.options:
            for other in node.options:
                if other.digits != option.digits and other.digits.startswith(option.digits):
                    yield Finding(
                        f"menu option '{option.digits}' of node '{node.id}' is the start of option "
                        f"'{other.digits}': callers pressing {option.digits} wait for the timeout",
                        option.span,
                        "give every option the same number of digits",
                    )
                    break


@rule("W303", "unused-flow", Severity.WARNING)
def unused_flows(ctx: Context) -> Iterator[Finding]:
    """A flow that no dialed number and no other flow leads to.

    Why it matters: nobody can reach it; perhaps an entry is missing from the deployment.
    Example: a `pharmacy` flow with no `entries` line and no menu option naming it.
    """
    if (
        ctx.deployment.broken
        or ctx.deployment.incomplete
        or any(unit.broken for _, unit in ctx.index.units())
        or any(t is None for _, _, t in ctx.index.edges())
    ):
        return  # a broken node's or a misspelt name's links are unknown; one may lead there
    used = {entry.flow.name for entry in ctx.deployment.entries}
    for (source_flow, _), _edge, target in ctx.index.edges():
        if target is not None and target[0] != source_flow:
            used.add(target[0])
    for flow in ctx.deployment.flows:
        if flow.name not in used and ctx.index.flows.get(flow.name) is flow:
            yield Finding(
                f"flow '{flow.name}' is never entered: no number and no other flow leads to it",
                flow.span,
                "add an entry for it in the deployment, or remove it",
            )


@rule("W304", "ambiguous-name", Severity.WARNING)
def ambiguous_names(ctx: Context) -> Iterator[Finding]:
    """A node with the same name as a flow, named from its own flow.

    A name in a flow means the node of that flow first; the flow of the same name is then out
    of reach from here by that name.
    Example: in flow `main`, a node `billing` and also a flow `billing`; `"3": billing` goes to
    the node.
    """
    for (flow, _), edge, _target in ctx.index.edges():
        name = edge.to.name
        if name in ctx.index.flows and name != flow and (flow, name) in ctx.index.nodes:
            yield Finding(
                f"'{name}' is both a node of flow '{flow}' and a flow; this goes to the node",
                edge.to.span,
                "rename the node to make the meaning plain",
            )


@rule("W305", "overlapping-hours", Severity.WARNING)
def overlapping_hours(ctx: Context) -> Iterator[Finding]:
    """Weekly hours of one schedule that overlap on some day.

    Why it matters: overlaps are harmless to the engine but usually a typo (`mon-fri` and
    `fri` both listing Friday), and the next edit to one line will not do what it seems.
    Example: `mon-fri: 08:00-18:00` and `fri: 12:00-20:00`.
    """
    names = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    for schedule in ctx.deployment.schedules:
        seen: dict[int, list[ir.TimeRange]] = {}
        for line in schedule.weekly:
            clashes: dict[tuple[ir.TimeRange, ir.TimeRange], list[str]] = {}
            for day in line.days:
                for new in line.ranges:
                    for old in seen.get(day, []):
                        if old.start < new.end and new.start < old.end:
                            clashes.setdefault((new, old), []).append(names[day])
                    seen.setdefault(day, []).append(new)
            for (new, old), days in clashes.items():
                yield Finding(
                    f"schedule '{schedule.name}': {new} overlaps {old} on {', '.join(days)}",
                    line.span,
                    "list each day once, or make the ranges meet without overlapping",
                )


@rule("W306", "never-open", Severity.WARNING)
def never_open(ctx: Context) -> Iterator[Finding]:
    """A schedule with no weekly hours and no one-off openings: it is never open.

    Why it matters: every `hours` check of it goes to `closed`; usually the `weekly` block is
    missing or mis-indented. (For a deliberate shutdown use `override: closed`.)
    Example: a schedule with only `timezone: America/New_York`.
    """
    for schedule in ctx.deployment.schedules:
        has_hours = any(line.ranges and line.days for line in schedule.weekly)
        if not has_hours and not schedule.openings and schedule.override != "open":
            yield Finding(
                f"schedule '{schedule.name}' is never open",
                schedule.span,
                "add weekly hours, e.g. `weekly: {mon-fri: 08:00-18:00}`",
            )


@rule("W307", "escalation-order", Severity.WARNING)
def escalation_order(ctx: Context) -> Iterator[Finding]:
    """An escalation step of a ticket or voicemail that comes no later than its SLA or the step
    before it.

    Escalation steps are counted as the SLA is (from the ticket's creation, or from the
    opening of its `sla_from` schedule), and run in the order written: the office manager at
    the SLA, then someone higher later. A step at or before the one it follows tells its
    contacts first, which is rarely what was meant (the durations are swapped, or one was
    meant as `1h` rather than `1m`).
    Example: `sla: 15m` with `escalate: [{after: 10m, notify: duty-manager}]`.
    """
    cadence = ctx.deployment.ring_cadence.seconds(6.0)
    seen: set[tuple[str, ir.Span]] = set()
    for _, node in ctx.index.nodes.items():
        if not isinstance(node, (ir.Ticket, ir.Voicemail)) or not node.escalations:
            continue
        if node.sla is not None and node.sla.param:
            continue  # a module's own node: each use's copy is checked with its arguments
        before = 0.0 if node.sla is None else node.sla.seconds(cadence)
        what = "its SLA" if node.sla is None else f"its SLA ({node.sla})"
        for level, step in enumerate(node.escalations, start=1):
            if step.after.param:
                break
            after = step.after.seconds(cadence)
            message = (
                f"escalation {level} of node '{node.id}' ({step.after}) comes no later than {what}"
            )
            if after <= before and (message, step.after.span) not in seen:
                seen.add((message, step.after.span))
                yield Finding(
                    message,
                    step.after.span,
                    "list the steps in time order, each later than the one before",
                )
            before, what = after, f"escalation {level} ({step.after})"
