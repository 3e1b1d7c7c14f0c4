"""S1xx: structure. Most are reported by the readers and the builder as they read; the rules
with functions here check names across the whole deployment."""

from __future__ import annotations

from collections.abc import Iterator

from routing_engine.core import ir
from routing_engine.core.analysis import MAX_USE_DEPTH, MODULE, Unit
from routing_engine.core.context import Context
from routing_engine.core.diagnostics import did_you_mean
from routing_engine.validate.registry import Finding, reader_rule, rule

reader_rule(
    "S100",
    "syntax-error",
    """
    The file is not valid YAML (or DSL): it cannot be read at all.

    Why it matters: nothing in the file can be checked until it parses.
    Example: a quoted string that is never closed, `say: "Welcome`.
""",
)
reader_rule(
    "S101",
    "refused-input",
    """
    The file was refused before reading: too large, nested too deeply, not UTF-8 text, or using
    YAML anchors, aliases or tags.

    Why it matters: flow files are data. Aliases can expand a tiny file into gigabytes, tags can
    ask a YAML loader to build objects, and deep nesting crashes parsers.
    Example: `defaults: &d {timeout: 20s}` (an anchor).
""",
)
reader_rule(
    "S102",
    "missing-field",
    """
    A required field is missing.

    Why it matters: the node cannot do its job without it.
    Example: a `menu` node without `fallback`, or a deployment without `fallback`.
""",
)
reader_rule(
    "S103",
    "unknown-field",
    """
    A field that this node kind (or document) does not have; often a typo.

    Why it matters: an unknown field is silently ignored by lax tools, so a misspelt
    `timout: 2 rings` would leave the default timeout in place. We refuse it and suggest the
    closest real field.
    Example: `timout: 2 rings` on a ring node (did you mean 'timeout'?).
""",
)
reader_rule(
    "S104",
    "bad-duration",
    """
    A duration that cannot be read.

    Durations are a number and a unit: `2 rings`, `20s`, `90 seconds`, `15m`, `1h`. Rings are
    turned into seconds with the deployment's `ring_cadence` (6 s by default).
    Example: `timeout: 2 ringz`.
""",
)
reader_rule(
    "S105",
    "invalid-value",
    """
    A value of the wrong type or form: a word where a number belongs, an invalid name, a menu
    option that is not digits, a dialed number that is not E.164.

    Example: `retries: twice`, or an entry `"212-555-0100": main`.
""",
)
reader_rule(
    "S106",
    "unknown-kind",
    """
    A node (or document) whose kind cannot be told: none of the node kinds (menu, ring, queue,
    branch, say, set, ticket, voicemail, hangup) is among its keys, or a document is neither a
    deployment nor a flow.

    Example: `rng: cardiology-office` (did you mean 'ring'?).
""",
)
reader_rule(
    "S109",
    "deployment-document",
    """
    A deployment needs exactly one deployment document (`deployment: NAME`, usually in
    deployment.yaml) with its entries, targets and fallback.

    Example: a directory of flow files with no deployment.yaml, or two of them.
""",
)
reader_rule(
    "S110",
    "unknown-outcome",
    """
    A handler for an outcome that the node cannot produce.

    A ring node produces `answered`, `no-answer`, `busy` and `failed`, plus whatever the
    answering party reports, which must be listed under `reports`. A queue produces `answered`
    and `timeout`.
    Example: `on: {no-anwser: voicemail}`, or `on: {needs-office: ...}` without
    `reports: [needs-office]`.
""",
)


def _names(ctx: Context, flow: str) -> list[str]:
    unit = ctx.index.unit(flow)
    return (
        [n.id for n in unit.nodes] + list(ctx.index.flows)
        if unit is not None
        else list(ctx.index.flows)
    )


@rule("S107", "duplicate-id")
def duplicate_ids(ctx: Context) -> Iterator[Finding]:
    """Two things of the same sort share a name: flows, nodes of one flow, targets, contacts,
    or dialed numbers.

    Why it matters: a reference to that name would be ambiguous, and one of the two would be
    silently lost.
    Example: two files that both say `flow: billing`.
    """

    def dups(kind: str, items: list[tuple[str, ir.Span]]) -> Iterator[Finding]:
        first: dict[str, ir.Span] = {}
        for name, span in items:
            if name in first:
                yield Finding(
                    f"duplicate {kind} '{name}' (first at {first[name]})",
                    span,
                    f"rename one of the two {kind}s",
                )
            else:
                first[name] = span

    d = ctx.deployment
    yield from dups("flow", [(f.name, f.span) for f in d.flows])
    yield from dups("module", [(m.name, m.span) for m in d.modules])
    units: list[Unit] = [*d.flows, *d.modules]
    for unit in units:
        yield from dups("node", [(n.id, n.span) for n in unit.nodes])
    for key, use_key in ctx.index.clashes.items():
        yield Finding(
            f"node '{key[1]}' has the name of a node of module use '{use_key[1]}'",
            ctx.index.nodes[key].span,
            f"rename it: '{use_key[1]}.NODE' names the nodes that use copies from its module",
        )
    yield from dups("target", [(t.name, t.span) for t in d.targets])
    yield from dups("contact", [(c.name, c.span) for c in d.contacts])
    yield from dups("schedule", [(s.name, s.span) for s in d.schedules])
    yield from dups("entry", [(e.number, e.span) for e in d.entries])


@rule("S108", "unknown-reference")
def unknown_references(ctx: Context) -> Iterator[Finding]:
    """A name that refers to nothing: a node or flow, a target, a contact (a ticket's managers
    and escalation steps, a flow's `notify`), a schedule.

    Every reference is resolved when the deployment is loaded, so a typo is found here, not
    when a caller presses 3 at night. A name in a flow means a node of that flow first, else
    another flow (the call continues at that flow's start).
    Example: `"3": biling` (did you mean 'billing'?).
    """
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
    for (name, _), node in index.nodes.items():
        yield from _node_names(ctx, name, node)
    for flow in index.flows.values():
        for ref in flow.notify:
            yield from _named(ctx, flow.name, ref, "contact", f"notify of flow '{flow.name}'")
    for entry in ctx.deployment.entries:
        if entry.flow.name not in index.flows and not ctx.deployment.incomplete:
            yield Finding(
                f"number {entry.number} enters flow '{entry.flow.name}', which does not exist",
                entry.flow.span,
                did_you_mean(entry.flow.name, index.flows),
            )
    for ref in ctx.deployment.fallback.targets:
        yield from _target(ctx, ref, "the fallback")
    for (where, _, _), compiled in ctx.conditions.items():
        for reference in compiled.references:
            if where.startswith(MODULE) and "$" in reference.name:
                continue  # a parameter: S114 checks it is declared; each use gives a real name
            known = index.targets if reference.kind == "target" else index.schedules
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
        elif param is None:
            yield Finding(
                f"module '{module.name}' has no parameter '{ref.name[1:]}' (in {user})",
                ref.span,
                did_you_mean(ref.name[1:], [p.name for p in module.params])
                or "declare it under 'params'",
            )
        elif param.type != kind:
            yield Finding(
                f"'{ref.name}' is a {param.type} parameter, used here as a {kind} (in {user})",
                ref.span,
                f"declare it as '{ref.name[1:]}: {kind}'",
            )
        return
    if not ref.name:
        return  # an argument the use did not give: S114 reports it where the module is used
    known: dict[str, object] = {
        "target": ctx.index.targets,
        "contact": ctx.index.contacts,
        "schedule": ctx.index.schedules,
    }[kind]  # type: ignore[assignment]
    if ref.name not in known:
        yield Finding(
            f"no {kind} named '{ref.name}' (in {user})",
            ref.span,
            did_you_mean(ref.name, known) or f"{kind}s are declared in the deployment",
        )


def _target(ctx: Context, ref: ir.Ref, user: str) -> Iterator[Finding]:
    yield from _named(ctx, "", ref, "target", user)


def _node_names(ctx: Context, unit: str, node: ir.Node) -> Iterator[Finding]:
    match node:
        case ir.Ring():
            for ref in node.targets:
                yield from _named(ctx, unit, ref, "target", f"ring node '{node.id}'")
        case ir.Queue():
            yield from _named(ctx, unit, node.queue, "target", f"queue node '{node.id}'")
        case ir.Hours():
            yield from _named(ctx, unit, node.schedule, "schedule", f"hours node '{node.id}'")
        case ir.Ticket() | ir.Voicemail():
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


@rule("S111", "bad-condition")
def bad_conditions(ctx: Context) -> Iterator[Finding]:
    """A `when` condition that cannot be read: a syntax error, an unknown name or function,
    or an expression too long or too deeply nested.

    Conditions are our own small language (never Python): comparisons (`==`, `!=`, `<`, `<=`,
    `>`, `>=`), `in`, `not in`, `has`, `and`, `or`, `not`, parentheses, over names such as
    `caller.state`, `dialed` and `vars.x`, and a fixed set of functions such as
    `available("target")`.
    Example: `when: caller.state = "NY"` (compare with '==').
    """
    for problem in ctx.condition_problems:
        yield Finding(problem.message, problem.span, problem.hint)


@rule("S112", "wrong-target-kind")
def wrong_target_kind(ctx: Context) -> Iterator[Finding]:
    """A ring node that rings a queue target, or a queue node whose target is not a queue.

    Why it matters: a queue is waited in, not rung; the telephony system would be asked to do
    something it cannot.
    Example: `queue: billing-office` where billing-office is a `line`.
    """
    for node in ctx.index.nodes.values():
        match node:
            case ir.Ring():
                for ref in node.targets:
                    target = ctx.index.targets.get(ref.name)
                    if target is not None and target.kind is ir.TargetKind.QUEUE:
                        yield Finding(
                            f"ring node '{node.id}' rings '{ref.name}', which is a queue",
                            ref.span,
                            "use a queue node for queue targets",
                        )
            case ir.Queue():
                target = ctx.index.targets.get(node.queue.name)
                if target is not None and target.kind is not ir.TargetKind.QUEUE:
                    yield Finding(
                        f"queue node '{node.id}' waits in '{node.queue.name}', which is a "
                        f"{target.kind.value}, not a queue",
                        node.queue.span,
                        "use a ring node, or declare the target with 'kind: queue'",
                    )
            case _:
                pass


@rule("S113", "bad-schedule")
def bad_schedules(ctx: Context) -> Iterator[Finding]:
    """A schedule whose time zone or holiday calendar does not exist.

    Time zones are IANA names (`America/New_York`, `Europe/London`); holiday calendars are a
    country code, optionally with a subdivision (`US`, `US-NY`, `GB-SCT`), as the `holidays`
    package knows them.
    Example: `timezone: America/NewYork`.
    """
    for schedule in ctx.deployment.schedules:
        problem = ctx.schedule_problems.get(schedule.name)
        if problem is not None:
            zone = "time zone" in problem
            hint = (
                "use an IANA name such as America/New_York"
                if zone
                else "use a country code, optionally with a subdivision: US, US-NY"
            )
            span = schedule.timezone_span if zone else schedule.holidays_span
            yield Finding(f"{problem} (schedule '{schedule.name}')", span, hint)


@rule("S114", "module-use")
def module_use(ctx: Context) -> Iterator[Finding]:
    """A `use` that does not fit its module, or a module that uses a parameter it does not
    declare.

    Each use is checked against the module where it is written: every argument must be a
    parameter of the module, every parameter without a default must be given, a duration
    parameter must get a duration, and every exit of the module must be mapped to a node of
    the flow (an unmapped exit would leave the call nowhere). A module may not use itself.
    Example: `use: office-ringover` with `with: {ofice: cardiology-office}` (did you mean
    'office'?).
    """
    for (unit, _), node in ctx.index.own_nodes():
        if isinstance(node, ir.Use):
            module = ctx.index.modules.get(node.module.name)
            if module is not None:
                yield from _use_fits(ctx, unit, node, module)
    for module in ctx.index.modules.values():
        declared = {p.name for p in module.params}
        for node in module.nodes:
            for name, span in sorted(
                _params_used(node), key=lambda item: (item[1].line, item[1].column)
            ):
                if name not in declared:
                    yield Finding(
                        f"module '{module.name}' has no parameter '{name}' (in node '{node.id}')",
                        span,
                        did_you_mean(name, declared) or "declare it under 'params'",
                    )


def _use_fits(ctx: Context, unit: str, use: ir.Use, module: ir.Module) -> Iterator[Finding]:
    from routing_engine.core.durations import parse_duration

    params = {p.name: p for p in module.params}
    for arg in use.args:
        param = params.get(arg.name)
        if not unit.startswith(MODULE) and ("${" in arg.value or arg.value.startswith("$")):
            yield Finding(
                f"'{arg.value}' names a module parameter, but this is a flow",
                arg.span,
                "parameters exist only inside modules; give the value itself",
            )
        elif param is not None and not arg.value.strip():
            yield Finding(
                f"parameter '{arg.name}' of module '{module.name}' is given no value",
                arg.span,
                f"give it a {param.type}, or leave the line out to take the default"
                if param.default is not None
                else f"give it a {param.type}",
            )
        elif param is None:
            yield Finding(
                f"module '{module.name}' has no parameter '{arg.name}'",
                arg.name_span,
                did_you_mean(arg.name, params) or f"its parameters: {', '.join(params) or 'none'}",
            )
        elif param.type == "duration":
            try:
                parse_duration(arg.value)
            except ValueError:
                yield Finding(
                    f"'{arg.value}' is not a duration (parameter '{arg.name}')",
                    arg.span,
                    "write a number and a unit: '2 rings', '20s', '15m'",
                )
    given = {arg.name for arg in use.args}
    for param in module.params:
        if param.default is None and param.name not in given:
            yield Finding(
                f"node '{use.id}' does not give parameter '{param.name}' ({param.type}) of module "
                f"'{module.name}'",
                use.span,
                f"add it under 'with': {param.name}: ...",
            )
    mapped = {handler.outcome for handler in use.exits}
    for handler in use.exits:
        if handler.outcome not in module.exits:
            yield Finding(
                f"module '{module.name}' has no exit '{handler.outcome}'",
                handler.span,
                did_you_mean(handler.outcome, module.exits)
                or f"its exits: {', '.join(module.exits) or 'none'}",
            )
    for name in module.exits:
        if name not in mapped:
            yield Finding(
                f"node '{use.id}' does not map exit '{name}' of module '{module.name}'",
                use.span,
                f"add it under 'exits': {name}: NODE",
            )
    depth = _depth(ctx, module.name, set())
    if not unit.startswith(MODULE) and depth > MAX_USE_DEPTH:
        yield Finding(
            f"module '{module.name}' nests modules {depth} deep, over the limit of {MAX_USE_DEPTH}",
            use.span,
            "flatten the modules: a module may use modules, up to the limit",
        )
    if unit.startswith(MODULE) and _uses(ctx, module.name, unit.removeprefix(MODULE), set()):
        yield Finding(
            f"module '{unit.removeprefix(MODULE)}' uses itself through '{module.name}'",
            use.span,
            "a module may not use itself, directly or through others",
        )


def _depth(ctx: Context, module: str, seen: set[str]) -> int:
    """How many modules deep a use of `module` goes (itself included); cycles count once."""
    found = ctx.index.modules.get(module)
    if found is None or module in seen:
        return 0
    inner = [n.module.name for n in found.nodes if isinstance(n, ir.Use)]
    return 1 + max((_depth(ctx, name, seen | {module}) for name in inner), default=0)


def _uses(ctx: Context, module: str, target: str, seen: set[str]) -> bool:
    """True when `module` uses `target`, directly or through other modules."""
    if module == target:
        return True
    if module in seen:
        return False
    seen.add(module)
    found = ctx.index.modules.get(module)
    return found is not None and any(
        isinstance(node, ir.Use) and _uses(ctx, node.module.name, target, seen)
        for node in found.nodes
    )


def _params_used(value: object, span: ir.Span = ir.NOWHERE) -> Iterator[tuple[str, ir.Span]]:
    """Every parameter a module node mentions: `$name` values, `${name}` in text, durations."""
    import dataclasses
    import re

    match value:
        case ir.Ref():
            if value.name.startswith("$"):
                yield value.name[1:], value.span
        case ir.Duration():
            if value.param:
                yield value.param, value.span
        case str():
            if value.startswith("$") and re.fullmatch(r"\$[A-Za-z_]\w*", value):
                yield value[1:], span
            for name in re.findall(r"\$\{([A-Za-z_]\w*)\}", value):
                yield name, span
        case tuple():
            for item in value:
                yield from _params_used(item, span)
        case ir.Span():
            pass
        case _ if dataclasses.is_dataclass(value) and not isinstance(value, type):
            own = getattr(value, "span", span)
            for f in dataclasses.fields(value):
                if f.name != "id":
                    yield from _params_used(getattr(value, f.name), own)
