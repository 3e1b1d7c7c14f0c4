"""S108: every name refers to something. Nodes, flows, exits, modules, targets, contacts and
schedules are named in many places; each name is looked up where it is written, so a typo is
reported there, with the closest real name."""

from __future__ import annotations

from collections.abc import Collection, Iterator

from routing_engine.core import ir
from routing_engine.core.analysis import MODULE, Unit
from routing_engine.core.context import Context
from routing_engine.core.diagnostics import did_you_mean
from routing_engine.validate.registry import Finding, rule


def _names(ctx: Context, flow: str) -> list[str]:
    unit = ctx.index.unit(flow)
    return (
        [n.id for n in unit.nodes] + list(ctx.index.flows)
        if unit is not None
        else list(ctx.index.flows)
    )


@rule("S108", "unknown-reference")
def unknown_references(ctx: Context) -> Iterator[Finding]:
    """A name that refers to nothing: a node or flow, a module, a target (a node's, a
    fallback's: the deployment's, a flow's or an entry's), a contact (a ticket's managers and
    escalation steps, a flow's `notify`), a schedule, a board (a ticket's or a voicemail's), a
    trunk (a target's, the `default_trunk`), or a module's value of the wrong kind (a contact
    given for a target).

    Every reference is resolved when the deployment is loaded, so a typo is found here, not
    when a caller presses 3 at night. A name in a flow means a node of that flow first, else
    another flow (the call continues at that flow's start). Boards are declared in the
    deployment (`boards:`), so a ticket cannot go to a board nobody opens. A module's value
    is checked where it is written: in the `use` that gives it, or at the parameter's default.
    Example: `"3": biling` (did you mean 'billing'?); `voicemail: front-dsk` (did you mean
    'front-desk'?).
    """
    seen: set[tuple[str, int, int]] = set()
    for finding in _references(ctx):
        where = (finding.span.file, finding.span.line, finding.span.column)
        if finding.span.line and where in seen:
            continue  # one name, one problem: a default taken by several uses is told once
        seen.add(where)
        yield finding


def _references(ctx: Context) -> Iterator[Finding]:
    yield from _unit_references(ctx)
    for (name, _), node in ctx.index.nodes.items():
        yield from _node_names(ctx, name, node)
    for flow in ctx.index.flows.values():
        for ref in flow.notify:
            yield from _named(ctx, flow.name, ref, "contact", f"notify of flow '{flow.name}'")
    for entry in ctx.deployment.entries:
        if entry.flow.name not in ctx.index.flows and not ctx.deployment.incomplete:
            yield Finding(
                f"number {entry.number} enters flow '{entry.flow.name}', which does not exist",
                entry.flow.span,
                did_you_mean(entry.flow.name, ctx.index.flows),
            )
    yield from _fallback_targets(ctx)
    yield from _trunk_references(ctx)
    yield from _condition_references(ctx)


def _unit_references(ctx: Context) -> Iterator[Finding]:
    """Each flow's and module's start, the nodes and exits its nodes lead to, and the modules
    its nodes use."""
    index = ctx.index
    for name, unit in index.units():
        node_ids = [n.id for n in unit.nodes]
        if unit.start.name and unit.start.name not in node_ids:  # a missing start is S102's
            yield Finding(
                f"{_what(unit)} starts at '{unit.start.name}', which is not one of its nodes",
                unit.start.span,
                did_you_mean(unit.start.name, node_ids),
            )
        for node in unit.nodes:
            for edge in node.edges():
                if index.resolve(name, edge.to) is None:
                    choices = (
                        _names(ctx, name) if isinstance(unit, ir.Flow) else [*node_ids, *unit.exits]
                    )
                    sort = "node or flow" if isinstance(unit, ir.Flow) else "node or exit"
                    yield Finding(
                        f"no {sort} named '{edge.to.name}' (from node '{node.id}')",
                        edge.to.span,
                        did_you_mean(edge.to.name, choices),
                    )
            if isinstance(node, ir.Use) and node.module.name not in index.modules:
                yield Finding(
                    f"no module named '{node.module.name}' (used by node '{node.id}')",
                    node.module.span,
                    did_you_mean(node.module.name, index.modules)
                    or "modules come from the folders the deployment lists under 'modules'",
                )


def _condition_references(ctx: Context) -> Iterator[Finding]:
    """The targets and schedules that `when` conditions name (`available("desk")`)."""
    for (where, _, _), compiled in ctx.conditions.items():
        for reference in compiled.references:
            if where.startswith(MODULE) and "$" in reference.name:
                continue  # a parameter: S114 checks it is declared; each use gives a real name
            known = ctx.index.targets if reference.kind == "target" else ctx.index.schedules
            if reference.name not in known:
                yield Finding(
                    f"no {reference.kind} named '{reference.name}'",
                    reference.span,
                    did_you_mean(reference.name, known),
                )


def _what(unit: Unit) -> str:
    return f"flow '{unit.name}'" if isinstance(unit, ir.Flow) else f"module '{unit.name}'"


def _named(ctx: Context, unit: str, ref: ir.Ref, kind: str, user: str) -> Iterator[Finding]:
    """Check a name that refers to a target, contact or schedule (or, in a module, to a
    parameter of that type)."""
    if ref.name.startswith("$"):
        module = (
            ctx.index.modules.get(unit.removeprefix(MODULE)) if unit.startswith(MODULE) else None
        )
        param = None if module is None else module.param(ref.name[1:])
        if module is None:
            yield Finding(
                f"'{ref.name}' is a module parameter, but this is not a module",
                ref.span,
                "parameters exist only inside modules",
            )
        elif param is not None and param.type != kind:  # an undeclared one is S114's
            yield Finding(
                f"'{ref.name}' is a {param.type} parameter, used here as a {kind} (in {user})",
                ref.span,
                f"declare it as '{ref.name[1:]}: {kind}'",
            )
        return
    if not ref.name:
        return  # an argument the use did not give: S114 reports it where the module is used
    tables = _tables(ctx)
    if ref.name in tables[kind]:
        return
    message = f"no {kind} named '{ref.name}' (in {user})"
    if kind == "board" and not tables["board"]:
        yield Finding(
            message,
            ref.span,
            "the deployment declares no boards; declare this one: "
            f"boards: {{{ref.name}: {{name: DISPLAY NAME}}}}",
            "the deployment declares no boards; declare this one in it: "
            f'board {ref.name} "DISPLAY NAME"',
        )
        return
    other = next((k for k, names in tables.items() if k != kind and ref.name in names), None)
    yield Finding(
        message,
        ref.span,
        did_you_mean(ref.name, tables[kind])
        or (f"'{ref.name}' is a {other}; a {kind} belongs here" if other else "")
        or f"the deployment's {kind}s: {_some(tables[kind])}",
    )


def _some(names: Collection[str], shown: int = 8) -> str:
    """A few of the names, for a hint: a long list would hide the point."""
    listed = sorted(names)
    more = ", ..." if len(listed) > shown else ""
    return (", ".join(listed[:shown]) + more) or "none"


def _tables(ctx: Context) -> dict[str, Collection[str]]:
    """The declared names of each kind a value may name."""
    index = ctx.index
    return {
        "target": index.targets,
        "contact": index.contacts,
        "schedule": index.schedules,
        "board": index.boards,
    }


def _fallback_targets(ctx: Context) -> Iterator[Finding]:
    """The targets each fallback rings: the deployment's, each flow's, each entry's."""
    owned: list[tuple[ir.Fallback | None, str]] = [(ctx.deployment.fallback, "the fallback")]
    owned += [(f.fallback, f"the fallback of flow '{f.name}'") for f in ctx.index.flows.values()]
    owned += [(e.fallback, f"the fallback of number {e.number}") for e in ctx.deployment.entries]
    for fallback, user in owned:
        for ref in () if fallback is None else fallback.targets:
            yield from _target(ctx, ref, user)


def _trunk_references(ctx: Context) -> Iterator[Finding]:
    """The trunk each target names, and the deployment's `default_trunk`."""
    trunks = [trunk.name for trunk in ctx.deployment.trunks]
    named: list[tuple[ir.Ref | None, str]] = [
        (t.trunk, f"target '{t.name}'") for t in ctx.deployment.targets
    ]
    named.append((ctx.deployment.default_trunk, "default_trunk"))
    for ref, user in named:
        if ref is None or ref.name in trunks:
            continue
        message = f"no trunk named '{ref.name}' (in {user})"
        if trunks:
            hint = did_you_mean(ref.name, trunks) or f"the deployment's trunks: {_some(trunks)}"
            yield Finding(message, ref.span, hint)
            continue
        yield Finding(
            message,
            ref.span,
            "the deployment declares no trunks; declare this one: "
            f"trunks: {{{ref.name}: {{uri: 'sip:{{number}}@gateway.example'}}}}",
            f"the deployment declares no trunks; declare this one in it: trunk {ref.name}, "
            'with uri "sip:{number}@gateway.example" in its block',
        )


def _target(ctx: Context, ref: ir.Ref, user: str) -> Iterator[Finding]:
    yield from _named(ctx, "", ref, "target", user)


def _node_names(ctx: Context, unit: str, node: ir.Node) -> Iterator[Finding]:
    match node:
        case ir.Ring():
            for ref in node.targets:
                yield from _named(ctx, unit, ref, "target", f"ring node '{node.id}'")
            if node.prefer is not None and not unit.startswith(MODULE):  # a use's copy is
                yield from _skills(ctx, node.id, node.prefer)  # checked where it is used
        case ir.Queue():
            yield from _named(ctx, unit, node.queue, "target", f"queue node '{node.id}'")
        case ir.Hours():
            yield from _named(ctx, unit, node.schedule, "schedule", f"hours node '{node.id}'")
        case ir.Ticket() | ir.Voicemail():
            yield from _named(ctx, unit, node.board, "board", f"{node.KIND} node '{node.id}'")
            if node.sla_from is not None:
                yield from _named(
                    ctx, unit, node.sla_from, "schedule", f"sla_from of node '{node.id}'"
                )
            for ref in node.managers:
                yield from _named(ctx, unit, ref, "contact", f"manager of node '{node.id}'")
            for level, step in enumerate(node.escalations, start=1):
                for ref in step.notify:
                    user = f"escalation {level} of node '{node.id}'"
                    yield from _named(ctx, unit, ref, "contact", user)
        case _:
            pass


def _skills(ctx: Context, node_id: str, prefer: ir.Preference) -> Iterator[Finding]:
    """A skill that `prefer` asks for names what some target can do: else it never picks."""
    known = sorted({skill for target in ctx.index.targets.values() for skill in target.skills})
    spans = prefer.skill_spans or (prefer.span,) * len(prefer.skills)
    for skill, span in zip(prefer.skills, spans, strict=False):
        if skill not in known:
            yield Finding(
                f"no target has the skill '{skill}' (in prefer of ring node '{node_id}')",
                span,
                did_you_mean(skill, known) or f"the targets' skills: {_some(known)}",
            )
