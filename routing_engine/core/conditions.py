"""The condition language: our own lark grammar, compiled once into closures. Never `eval`.

    caller.state == "NY" and available("billing-ny")
    caller.region in ["US-NY", "US-NJ"] or not vars.vip

Names read the call (`caller.number`, `caller.region`, `caller.state`, `dialed`, `vars.*`,
`attributes.*`); functions come from their table (functions.py), each with its evaluator.
Problems are diagnostics that point inside the expression; length and nesting are capped, so
hostile input is refused, never a crash.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from functools import lru_cache
from importlib import resources
from typing import Any

from lark import Lark, Transformer, Tree, v_args
from lark.exceptions import (
    LarkError,
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    VisitError,
)

from routing_engine.core.condition_checks import misused_has
from routing_engine.core.diagnostics import Diagnostic, Severity, did_you_mean
from routing_engine.core.functions import FUNCTIONS, Context
from routing_engine.core.geography import CallerInfo
from routing_engine.core.ir import Condition, Span
from routing_engine.core.lark_errors import CONDITION, expected, offending_character

MAX_LENGTH = 1000
MAX_DEPTH = 24
ROOTS = ("caller", "dialed", "vars", "attributes", "call")
# What `caller.*` names: the fields of what the engine knows of a caller, in their order.
CALLER_FIELDS = tuple(caller_field.name for caller_field in fields(CallerInfo))


@dataclass(frozen=True, slots=True)
class Reference:
    """A name a condition depends on, e.g. the target in `available("billing-ny")`."""

    kind: str
    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class CompiledCondition:
    source: str
    test: Callable[[Context], bool]
    references: tuple[Reference, ...] = field(default=())


_PARSER: Lark | None = None


def _parser() -> Lark:
    global _PARSER
    if _PARSER is None:
        grammar = (
            resources.files("routing_engine.grammars").joinpath("condition.lark").read_text("utf-8")
        )
        _PARSER = Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=False)
    return _PARSER


class ConditionError(Exception):
    def __init__(self, message: str, line: int, column: int, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.hint = hint


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return _text_num(value)
    return None


@lru_cache(maxsize=1024)  # a failed float() raises, which is slow; the same words recur
def _text_num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _equal(left: Any, right: Any) -> bool:
    if left == right:
        return True
    a, b = _num(left), _num(right)
    return a is not None and b is not None and a == b


def _order(op: str) -> Callable[[Any, Any], bool]:
    def test(left: Any, right: Any) -> bool:
        a, b = _num(left), _num(right)
        if a is None or b is None:
            if isinstance(left, str) and isinstance(right, str):
                a_s, b_s = left, right
                return {"<": a_s < b_s, "<=": a_s <= b_s, ">": a_s > b_s, ">=": a_s >= b_s}[op]
            return False
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]

    return test


def _has(container: Any, item: Any) -> bool:
    """`has`: an item of a list; a text or a single value holds no items."""
    if isinstance(container, (list, tuple, set, frozenset)):
        return any(_equal(element, item) for element in container)
    return False


def _contains(container: Any, item: Any) -> bool:
    """`in`: an item of a list, or a part of a text."""
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    if isinstance(container, (list, tuple, set, frozenset)):
        return any(_equal(element, item) for element in container)
    return False


Closure = Callable[[Context], Any]


@v_args(tree=True)
class _Compile(Transformer[Any, Any]):
    """Parse tree -> closure. Each method returns a function of the evaluation context."""

    def string(self, tree: Any) -> Closure:
        text = str(tree.children[0])[1:-1]
        value = text.replace('\\"', '"').replace("\\'", "'").replace("\\\\", "\\")
        return lambda ctx: value

    def number(self, tree: Any) -> Closure:
        text = str(tree.children[0])
        value: float | int = float(text) if "." in text else int(text)
        return lambda ctx: value

    def true(self, tree: Any) -> Closure:
        return lambda ctx: True

    def false(self, tree: Any) -> Closure:
        return lambda ctx: False

    def path(self, tree: Any) -> Closure:
        names = tuple(str(t) for t in tree.children)
        first = tree.children[0]
        if names[0] not in ROOTS:
            raise ConditionError(
                f"unknown name '{names[0]}'",
                first.line,
                first.column,
                did_you_mean(names[0], ROOTS) or f"names start with one of: {', '.join(ROOTS)}",
            )
        if names[0] == "caller" and (len(names) != 2 or names[1] not in CALLER_FIELDS):
            field_name = names[1] if len(names) > 1 else ""
            where = tree.children[1] if len(names) > 1 else first
            raise ConditionError(
                f"'caller' has no field '{field_name}'",
                where.line,
                where.column,
                did_you_mean(field_name, CALLER_FIELDS)
                or f"caller fields: {', '.join(CALLER_FIELDS)}",
            )
        return lambda ctx: ctx.lookup(names)

    def list(self, tree: Any) -> Closure:
        items = [c for c in tree.children if c is not None]
        return lambda ctx: [item(ctx) for item in items]

    def call(self, tree: Any) -> Closure:
        name_token, *arg_closures = tree.children
        arg_closures = [a for a in arg_closures if a is not None]
        name = str(name_token)
        function = FUNCTIONS.get(name)
        if function is None:
            raise ConditionError(
                f"unknown function '{name}'",
                name_token.line,
                name_token.column,
                did_you_mean(name, FUNCTIONS) or f"functions: {', '.join(sorted(FUNCTIONS))}",
            )
        if len(arg_closures) != len(function.params):
            raise ConditionError(
                f"{name}() takes {len(function.params)} argument(s), got {len(arg_closures)}",
                name_token.line,
                name_token.column,
            )
        evaluate = function.evaluate
        return lambda ctx: evaluate(ctx, tuple([arg(ctx) for arg in arg_closures]))

    def compare(self, tree: Any) -> Closure:
        left, op_token, right = tree.children
        op = str(op_token)
        if op == "==":
            return lambda ctx: _equal(left(ctx), right(ctx))
        if op == "!=":
            return lambda ctx: not _equal(left(ctx), right(ctx))
        test = _order(op)
        return lambda ctx: test(left(ctx), right(ctx))

    def contains_left(self, tree: Any) -> Closure:
        item, _, container = tree.children
        return lambda ctx: _contains(container(ctx), item(ctx))

    def not_in(self, tree: Any) -> Closure:
        item, _, container = tree.children
        return lambda ctx: not _contains(container(ctx), item(ctx))

    def has(self, tree: Any) -> Closure:
        container, _, item = tree.children
        return lambda ctx: _has(container(ctx), item(ctx))

    def negate(self, tree: Any) -> Closure:
        (inner,) = tree.children
        return lambda ctx: not inner(ctx)

    def all_of(self, tree: Any) -> Closure:
        parts = list(tree.children)
        if len(parts) == 1:
            only: Closure = parts[0]
            return only
        return lambda ctx: all(part(ctx) for part in parts)

    def any_of(self, tree: Any) -> Closure:
        parts = list(tree.children)
        if len(parts) == 1:
            only: Closure = parts[0]
            return only
        return lambda ctx: any(part(ctx) for part in parts)


def _depth(tree: Tree[Any]) -> int:
    """Nesting depth, computed without recursion (the tree may be hostile)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, Tree):
            stack.extend((child, depth + 1) for child in node.children)
    return deepest


def _references(tree: Tree[Any]) -> list[tuple[str, str, int, int]]:
    """(kind, name, line, column) for each literal argument of a function call."""
    found = []
    for sub in tree.iter_subtrees():
        if sub.data != "call":
            continue
        name_token, *args = sub.children
        function = FUNCTIONS.get(str(name_token))
        if function is None:
            continue
        for param, arg in zip(function.params, args, strict=False):
            if isinstance(arg, Tree) and arg.data == "string" and param != "value":
                token: Any = arg.children[0]
                found.append(
                    (param, str(token)[1:-1], token.line, token.column + 1)
                )  # past the quote
    return found


def _raw_index(source: str, raw: str, index: int) -> int:
    """Where character `index` of the value stands in its raw text. The two are lined up
    greedily: raw characters that the YAML reader dropped (quotes, escape backslashes,
    indentation, folded line breaks, block headers) are skipped."""
    position = 1 if raw[:1] in ("'", '"') else 0  # past an opening quote
    for i, char in enumerate(source):
        while (
            position < len(raw)
            and raw[position] != char
            and not (char == " " and raw[position] in "\n\r")
        ):
            position += 1
        if i == index:
            return min(position, len(raw))
        position += 1
    return min(position, len(raw))


def _at(condition: Condition, line: int, column: int) -> Span:
    """A position inside the expression (1-based line and column of the value) -> a position in
    the flow file, through the value's raw text when it is known."""
    source, span = condition.source, condition.span
    lines = source.split("\n")
    index = sum(len(text) + 1 for text in lines[: line - 1]) + column - 1
    if condition.raw:
        offset = _raw_index(source, condition.raw, index)
        before = condition.raw[:offset]
        start = condition.raw_start
        if "\n" not in before:
            return Span(span.file, start.line, start.column + len(before))
        return Span(span.file, start.line + before.count("\n"), len(before) - before.rfind("\n"))
    if line > 1:
        return Span(span.file, span.line, span.column)
    return Span(span.file, span.line, span.column + column - 1)


def _syntax_error(error: UnexpectedInput, source: str) -> ConditionError:
    """What the parser stopped at, in plain words."""
    if isinstance(error, UnexpectedCharacters):
        char = offending_character(error, source)
        hint = "strings are quoted with \" or '" if char in "\"'" else ""
        if char == "=":
            hint = "compare with '==', not '='"
        return ConditionError(
            f"unexpected character {char!r} in condition", error.line, error.column, hint
        )
    token = None if isinstance(error, UnexpectedEOF) else getattr(error, "token", None)
    if token is None or token.type == "$END":
        return ConditionError(
            f"the condition ends too early; expected {expected(error, CONDITION)}",
            1,
            len(source) + 1,
            "a bracket or a quote may be unclosed",
        )
    return ConditionError(
        f"unexpected '{token}' in condition; expected {expected(error, CONDITION)}",
        getattr(error, "line", 1) or 1,
        getattr(error, "column", 1) or 1,
    )


def _parse(source: str) -> Tree[Any]:
    """The condition's parse tree, or a ConditionError saying why there is none."""
    if not source.strip():
        raise ConditionError(
            "the condition is empty", 1, 1, 'write a test, e.g. caller.state == "NY"'
        )
    if len(source) > MAX_LENGTH:
        raise ConditionError(
            f"the condition is longer than {MAX_LENGTH} characters",
            1,
            1,
            "split it over several branch cases or set variables first",
        )
    try:
        tree = _parser().parse(source)
    except UnexpectedInput as error:
        raise _syntax_error(error, source) from None
    except (LarkError, RecursionError) as error:
        raise ConditionError(f"the condition could not be read: {error}", 1, 1) from None
    if _depth(tree) > MAX_DEPTH * 3:
        raise ConditionError(
            f"the condition nests deeper than {MAX_DEPTH} levels",
            1,
            1,
            "flatten it, or split it over several branch cases",
        )
    misuse = misused_has(tree)
    if misuse is not None:
        raise ConditionError(*misuse)
    return tree


def _closure(tree: Tree[Any]) -> Closure:
    """The parse tree as one closure, or a ConditionError for a name or call it cannot take."""
    try:
        closure: Closure = _Compile().transform(tree)
    except VisitError as error:
        inner = error.orig_exc
        if isinstance(inner, ConditionError):
            raise inner from None
        raise ConditionError(f"the condition could not be compiled: {inner}", 1, 1) from None
    except RecursionError:
        raise ConditionError(f"the condition nests deeper than {MAX_DEPTH} levels", 1, 1) from None
    return closure


def compile_condition(condition: Condition) -> tuple[CompiledCondition | None, list[Diagnostic]]:
    """Compile one condition; on failure, return the diagnostics (code S111)."""
    try:
        tree = _parse(condition.source)
        test = _closure(tree)
    except ConditionError as error:
        where = _at(condition, error.line, error.column)
        return None, [Diagnostic("S111", Severity.ERROR, error.message, where, error.hint)]
    references = tuple(
        Reference(kind, name, _at(condition, line, column))
        for kind, name, line, column in _references(tree)
    )
    return CompiledCondition(condition.source, lambda ctx: bool(test(ctx)), references), []
