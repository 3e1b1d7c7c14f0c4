"""S114: modules are used as they are declared. A `use` gives the module's parameters values
of their types and maps each of its exits; a module names only parameters it declares, and does
not use itself or nest modules past the limit."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

from routing_engine.core import ir
from routing_engine.core.analysis import MAX_USE_DEPTH, MODULE
from routing_engine.core.context import Context
from routing_engine.core.diagnostics import did_you_mean
from routing_engine.core.durations import parse_duration
from routing_engine.validate.registry import Finding, rule


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
    """A use of `module`, written in `unit` (a flow, or `MODULE` and a module's name)."""
    yield from _arguments(unit, use, module)
    given = {arg.name for arg in use.args}
    for param in module.params:
        if param.default is None and param.name not in given:
            yield Finding(
                f"node '{use.id}' does not give parameter '{param.name}' ({param.type}) of module "
                f"'{module.name}'",
                use.span,
                f"add it under 'with': {param.name}: ...",
            )
    yield from _exits(use, module)
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


def _arguments(unit: str, use: ir.Use, module: ir.Module) -> Iterator[Finding]:
    """Each argument names a parameter of the module and gives it a value of its type."""
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


def _exits(use: ir.Use, module: ir.Module) -> Iterator[Finding]:
    """Each exit the use maps is one of the module's, and each of the module's is mapped."""
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
