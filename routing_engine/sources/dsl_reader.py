"""The text DSL reader: `.flow` files -> the same raw documents the YAML reader makes.

The grammar (grammars/flow.lark) is the language's reference: it states every statement. This
module checks the indentation and parses; `dsl_documents.py` turns the tree into documents, or
`dsl_errors.py` says in plain words what keeps the file from parsing. Nothing here adds
defaults or checks fields: the one builder does that for both syntaxes.

    deployment hospital "Mercy General Hospital"
      ring_cadence 6s
      entry +12125550100 -> er
      target er-nurse
        uri sip:er-nurse@mercy.example
        skills nursing, triage

    flow er "Emergency calls go straight to a nurse"
      ring-nurse: ring er-nurse for 3 rings
        no-answer -> ring-backup
      goodbye: hangup "no nurse answered"
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import ClassVar

from lark import Lark
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedToken
from lark.indenter import Indenter

from routing_engine.core.diagnostics import Diagnostic, Severity
from routing_engine.core.ir import Span
from routing_engine.sources.dsl_build import DslError
from routing_engine.sources.dsl_documents import build_documents
from routing_engine.sources.dsl_errors import explain
from routing_engine.sources.dsl_mistakes import Problem
from routing_engine.sources.limits import GENERATED_HINT, MAX_NODES_PER_FILE, Tally
from routing_engine.sources.raw import BOM, RawDocument

MAX_DEPTH = 32
_GRAMMARS = resources.files("routing_engine.grammars")
_GRAMMAR = _GRAMMARS.joinpath("flow.lark").read_text("utf-8")
# The node kinds the grammar's node statement lists: `node: NODE_ID (menu | ring | ...)`.
_NODE_RULE = re.search(r"^node: NODE_ID \(([^)]*)\)", _GRAMMAR, re.MULTILINE)
NODE_KINDS = tuple(kind.strip() for kind in _NODE_RULE[1].split("|")) if _NODE_RULE else ()


class _Indent(Indenter):
    NL_type = "_NL"
    OPEN_PAREN_types: ClassVar[list[str]] = []
    CLOSE_PAREN_types: ClassVar[list[str]] = []
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 8


@cache
def parser() -> Lark:
    """The flow grammar's parser, built once. Positions are not propagated through the tree
    (that would double the time a parse takes): the tokens carry theirs."""
    return Lark(
        _GRAMMAR,
        parser="lalr",
        postlex=_Indent(),
        propagate_positions=False,
        import_paths=[str(_GRAMMARS)],
        maybe_placeholders=False,
    )


def _split_lines(source: str) -> Iterator[str]:
    """`source.split("\\n")`, one line at a time: a file refused at its thousandth line need not
    be cut into millions of strings first."""
    start = 0
    while (end := source.find("\n", start)) >= 0:
        yield source[start:end]
        start = end + 1
    yield source[start:]


def _indentation(source: str) -> Problem | None:
    """Check the blocks' indentation before parsing, and count the file against its limits
    (`sources/limits.py`): a line at the margin opens a document, every statement line is a
    key, and its values are its words and the commas of its lists (a value of several words,
    or a comma in a quoted text, counts more than once: the count only bounds what is built)."""
    stack = [0]
    tally = Tally()
    for number, line in enumerate(_split_lines(source), start=1):
        stripped = line.lstrip(" \t")
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(stripped)
        budget = MAX_NODES_PER_FILE - tally.nodes + 1  # no line is split further than that
        words = len(stripped.split(None, budget)) + stripped.count(",")
        crossed = (tally.document() if indent == 0 else None) or tally.key() or tally.node(words)
        if crossed is not None:
            return Problem(crossed, number, indent + 1, GENERATED_HINT, "S101")
        if "\t" in line[:indent]:
            return Problem("a tab in the indentation", number, 1, "indent with spaces")
        if indent > stack[-1]:
            stack.append(indent)
            if len(stack) > MAX_DEPTH:
                return Problem(f"blocks nested deeper than {MAX_DEPTH} levels", number, indent + 1)
        while indent < stack[-1]:
            stack.pop()
        if indent != stack[-1]:
            return Problem(
                "this line's indentation matches no line above it",
                number,
                indent + 1,
                "indent it like the line it belongs with",
            )
    return None


def _read(source: str, file: str) -> list[RawDocument] | Problem:
    if "\x00" in source:
        return Problem("the file holds NUL bytes: not text", 1, 1, "is this a binary file?")
    problem = _indentation(source)
    if problem is not None:
        return problem
    try:
        tree = parser().parse(source)
    except (UnexpectedCharacters, UnexpectedToken) as error:
        return explain(error, source, parser())
    except (LarkError, RecursionError) as error:
        return Problem(f"the file could not be read: {error}", 1, 1)
    try:
        return build_documents(tree, source, file)
    except DslError as error:
        return Problem.at(error.token, error.message, error.hint)


def read_dsl(text: str, file: str) -> tuple[list[RawDocument], list[Diagnostic]]:
    """Read a DSL file into raw documents; never raises for bad input. A byte order mark at the
    start is no character of the text: columns on the first line are counted without it."""
    text = text.removeprefix(BOM)
    source = text if text.endswith("\n") else text + "\n"
    read = _read(source, file)
    if isinstance(read, Problem):
        span = Span(file, read.line, read.column)
        return [], [Diagnostic(read.code, Severity.ERROR, read.message, span, read.hint)]
    return read, []
