"""Checks on a condition's parse tree that need no call: operators used on values they cannot
take. Kept apart from the compiler (`conditions.py`), which turns the tree into closures."""

from __future__ import annotations

from typing import Any, NamedTuple

from lark import Tree

# Names whose value is always a text: every `caller.*` field, the dialed number, the call's id.
TEXT_ROOTS = ("caller", "dialed", "call")
LITERALS = {"string": "a quoted text", "number": "a number", "true": "true", "false": "false"}


class Misuse(NamedTuple):
    """A problem at a token of the expression (1-based line and column inside it)."""

    message: str
    line: int
    column: int
    hint: str


def _written(tree: Tree[Any]) -> str:
    """The operand as written: `caller.state`, `"ann"`."""
    if tree.data == "path":
        return ".".join(str(token) for token in tree.children)
    return str(tree.children[0]) if tree.children else tree.data


def _not_a_list(operand: Any) -> str:
    """What the operand is when it can never be a list (`text`, `a number`), else ''."""
    if not isinstance(operand, Tree):
        return ""
    if operand.data in LITERALS:
        return LITERALS[operand.data]
    if operand.data == "path" and str(operand.children[0]) in TEXT_ROOTS:
        return "a text"
    return ""


def misused_has(tree: Tree[Any]) -> Misuse | None:
    """The first `X has Y` whose X is known to be a text or a single value: `has` looks for an
    item of a list, never inside a text (`"Joanna" has "ann"` would read as a substring)."""
    for sub in tree.iter_subtrees():
        if sub.data != "has":
            continue
        container, keyword, item = sub.children
        what = _not_a_list(container)
        line, column = getattr(keyword, "line", 1), getattr(keyword, "column", 1)  # a Token
        if what:
            left = _written(container)
            right = _written(item) if isinstance(item, Tree) else "..."
            return Misuse(
                f"'has' looks for an item in a list, and {left} is {what}",
                line or 1,
                column or 1,
                f"to compare the whole value write {left} == {right}; to find a part of a text "
                f"write {right} in {left}",
            )
    return None
