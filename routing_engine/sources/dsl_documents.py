"""A parsed DSL file -> its raw documents: each deployment, flow and module, with the span of
every key and value, as the YAML reader makes them.

A document's header gives its kind, name and description; its block, its statements: a
deployment's entries, sections and settings, a flow's or module's settings, parameters and
nodes, each put in place by `dsl_build.py`.
"""

from __future__ import annotations

from typing import Any

from lark import Token, Tree

from routing_engine.core.ir import Span
from routing_engine.sources.dsl_build import (
    SECTIONS,
    Builder,
    DslError,
    Node,
    keyword,
    leaf,
    lines,
    part,
    target,
    text,
    tokens,
)
from routing_engine.sources.raw import Path, RawDocument


def build_documents(tree: Tree[Token], source: str, file: str) -> list[RawDocument]:
    """Every document of a parsed file, in order. Raises DslError."""
    documents = []
    for statement in lines(tree):
        doc = RawDocument(file=file, data=None, span=Span(file, 1, 1), text=source)
        _document(Builder(doc, source), statement)
        documents.append(doc)
    return documents


def _document(builder: Builder, tree: Tree[Token]) -> None:
    """`deployment|flow|module NAME ["DESCRIPTION"]` and its block."""
    kind_token, name = leaf(tree), leaf(tree.children[1])
    kind = str(kind_token)
    data: dict[str, Any] = {}
    builder.doc.data = data
    builder.doc.span = builder.span(kind_token)
    builder.doc.value_spans[()] = builder.span(kind_token)
    builder.put(data, (), kind, text(name), kind_token, name)
    description = part(tree, "description")
    if description is not None:
        said = leaf(description)
        builder.put(data, (), "description", text(said), said, said)
    block = [line for line in lines(tree) if line.data not in ("name", "description")]
    if kind == "deployment":
        _deployment(builder, block, data)
    else:
        _unit(builder, block, data)


def _deployment(builder: Builder, block: list[Tree[Token]], data: dict[str, Any]) -> None:
    """Entries, sections (target, contact, schedule, board) and settings."""
    for line in block:
        if line.data == "entry":
            _entry(builder, line, data)
        elif line.data in ("section", "schedule", "board"):
            head = leaf(line)
            section = builder.mapping(data, (), SECTIONS[str(head)], head)
            name = leaf(line.children[1])
            inner: dict[str, Any] = {}
            path = (SECTIONS[str(head)], text(name))
            builder.put(section, path[:1], path[1], inner, name, name)
            shown = part(line, "description")  # a board's display name: its `name`
            if shown is not None:
                builder.put(inner, path, "name", text(leaf(shown)), leaf(shown), leaf(shown))
            for setting in lines(line)[1:]:
                if setting.data == "description":
                    continue
                if setting.data == "weekly":
                    _weekly(builder, setting, inner, path)
                else:
                    builder.settings([setting], inner, path)
        else:
            builder.settings([line], data, ())


def _entry(builder: Builder, line: Tree[Token], data: dict[str, Any]) -> None:
    """`entry NUMBER -> FLOW`, the short form; with a block (its `fallback`), the long form
    `{flow: FLOW, fallback: ...}`."""
    entries = builder.mapping(data, (), "entries", leaf(line))
    number, flow = leaf(line.children[1]), target(line)
    assert flow is not None
    block = lines(line)[1:]
    if not block:
        builder.put(entries, ("entries",), text(number), text(flow), number, flow)
        return
    path = ("entries", text(number))
    inner: dict[str, Any] = {}
    builder.put(entries, path[:1], path[1], inner, number, number)
    builder.put(inner, path, "flow", text(flow), flow, flow)
    builder.settings(block, inner, path)


def _weekly(builder: Builder, line: Tree[Token], data: dict[str, Any], path: Path) -> None:
    """`weekly mon-fri 08:00-18:00, 13:00-15:00`: the hours of one group of days."""
    word = leaf(line)
    weekly = data.setdefault("weekly", {})
    if not isinstance(weekly, dict):
        raise DslError("'weekly' is given twice", word, "give each key once; merge the two")
    builder.doc.key_spans.setdefault((*path, "weekly"), builder.span(word))
    builder.doc.value_spans.setdefault((*path, "weekly"), builder.span(word))
    days = leaf(line.children[1])
    written = tokens(part(line, "value"))
    value, token = builder.values(written, True)
    hours = value[0] if len(value) == 1 else value
    builder.put(weekly, (*path, "weekly"), text(days), hours, days, token)
    builder.place_items((*path, "weekly", text(days)), written)


def _unit(builder: Builder, block: list[Tree[Token]], data: dict[str, Any]) -> None:
    """A flow's or module's lines: its settings, its parameters and its nodes; it starts at its
    first node unless it says otherwise."""
    nodes: dict[str, Any] = {}
    for line in block:
        if line.data == "node":
            if "nodes" not in data:
                data["nodes"] = nodes
                builder.place(("nodes",), leaf(line))
            Node.build(builder, line, nodes)
        elif line.data == "param":
            _param(builder, line, data)
        else:
            builder.settings([line], data, ())
    if "start" not in data and nodes:
        first = next(iter(nodes))
        data["start"] = first
        builder.doc.key_spans[("start",)] = builder.doc.key_spans[("nodes", first)]
        builder.doc.value_spans[("start",)] = builder.doc.key_spans[("nodes", first)]


def _param(builder: Builder, line: Tree[Token], data: dict[str, Any]) -> None:
    """`param NAME TYPE [default VALUE]`."""
    params = builder.mapping(data, (), "params", leaf(line))
    name, kind = leaf(line.children[1]), leaf(line.children[2])
    spec: dict[str, Any] = {}
    path = ("params", text(name))
    builder.put(params, ("params",), path[1], spec, name, name)
    builder.put(spec, path, "type", text(kind), kind, kind)
    default = keyword(line, "DEFAULT")
    if default is not None:
        value, token = builder.values(tokens(part(line, "value")), False)
        builder.put(spec, path, "default", value, default, token)
