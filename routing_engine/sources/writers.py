"""Writers: document data (as both readers produce it) -> canonical DSL or YAML text.

`cli.py convert` and `cli.py fmt` use them. Each writer prints what the author wrote (no
defaults are added) in one canonical layout, so writing what it reads back is idempotent and
a conversion either way and back gives the same IR.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from routing_engine.sources.dsl_reader import SECTIONS

_WORD = re.compile(r"[^\s,\"'#=]+( [^\s,\"'#=]+)*")
_TEXT_FIELDS = frozenset({"description", "menu", "say", "summary", "prompt", "name", "hangup"})
_SECTION_KEYS = {plural: singular for singular, plural in SECTIONS.items()}
_DIRECT = {"menu": ("fallback",), "hours": ("open", "closed", "holiday"), "branch": ("else",)}
_GROUPED = {"menu": "options", "ring": "on", "queue": "on", "use": "exits"}
_NEXT_KINDS = frozenset({"say", "set", "ticket", "voicemail"})
INDENT = "  "


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def dsl_value(value: Any, text: bool = False) -> str:
    """One value as the DSL writes it: a bare word (or words) when it reads back the same,
    else a quoted string; lists joined by commas."""
    if isinstance(value, list):
        return ", ".join(dsl_value(item) for item in value)
    if value is None:
        return '""'
    value = str(value)
    if (
        text
        or not _WORD.fullmatch(value)
        or value.startswith("->")
        or value.endswith(":")
        or value == "when"
    ):
        return _quote(value)
    return str(value)


def write_dsl(documents: list[dict[str, Any]]) -> str:
    """Documents -> DSL text, one block per document, a blank line between them."""
    return "\n".join("\n".join(_document(doc)) + "\n" for doc in documents)


def _document(data: dict[str, Any]) -> Iterator[str]:
    kind = next(k for k in ("deployment", "flow", "module") if k in data)
    header = f"{kind} {dsl_value(data[kind])}"
    if data.get("description"):
        header += f" {_quote(str(data['description']))}"
    yield header
    rest = {k: v for k, v in data.items() if k not in (kind, "description")}
    if kind == "deployment":
        yield from _deployment(rest)
    else:
        yield from _unit(rest)


def _properties(data: dict[str, Any], depth: int) -> Iterator[str]:
    pad = INDENT * depth
    for key, value in data.items():
        if isinstance(value, dict):
            yield f"{pad}{dsl_value(key)}"
            yield from _properties(value, depth + 1)
        else:
            yield f"{pad}{dsl_value(key)} {dsl_value(value, key in _TEXT_FIELDS)}".rstrip()


def _deployment(data: dict[str, Any]) -> Iterator[str]:
    for key, value in data.items():
        if key == "entries" and isinstance(value, dict):
            for number, flow in value.items():
                yield f"{INDENT}entry {dsl_value(number)} -> {dsl_value(flow)}"
        elif key in _SECTION_KEYS and isinstance(value, dict):
            for name, body in value.items():
                yield f"{INDENT}{_SECTION_KEYS[key]} {dsl_value(name)}"
                if key == "schedules" and isinstance(body, dict):
                    yield from _schedule(body)
                elif isinstance(body, dict):
                    yield from _properties(body, 2)
        else:
            yield from _properties({key: value}, 1)


def _schedule(body: dict[str, Any]) -> Iterator[str]:
    for key, value in body.items():
        if key == "weekly" and isinstance(value, dict):
            for days, ranges in value.items():
                yield f"{INDENT * 2}weekly {dsl_value(days)} {dsl_value(ranges)}"
        else:
            yield from _properties({key: value}, 2)


def _unit(data: dict[str, Any]) -> Iterator[str]:
    found = data.get("nodes")
    nodes: dict[str, Any] = found if isinstance(found, dict) else {}
    first = next(iter(nodes), None)
    for key, value in data.items():
        if key == "nodes":
            continue
        if key == "start" and value == first:
            continue  # the DSL's start is its first node
        if key == "params" and isinstance(value, dict):
            for name, spec in value.items():
                spec = spec if isinstance(spec, dict) else {"type": spec}
                line = f"{INDENT}param {dsl_value(name)} {dsl_value(spec.get('type'))}"
                if spec.get("default") is not None:
                    line += f" default {dsl_value(spec['default'])}"
                yield line
            continue
        yield from _properties({key: value}, 1)
    for node_id, body in (nodes or {}).items():
        yield from _node(node_id, body)


def _node(node_id: str, body: dict[str, Any]) -> Iterator[str]:
    kind = next(
        k
        for k in body
        if k
        in (
            "menu",
            "ring",
            "queue",
            "branch",
            "hours",
            "say",
            "set",
            "ticket",
            "voicemail",
            "use",
            "hangup",
        )
    )
    head = f"{INDENT}{node_id}: {kind}"
    rest = dict(body)
    main = rest.pop(kind)
    if kind in ("ring", "queue"):
        head += f" {dsl_value(main)}"
        if kind == "ring" and "strategy" in rest:
            head += " at once" if rest.pop("strategy") == "simultaneous" else " in order"
        duration = rest.pop("timeout" if kind == "ring" else "max_wait", None)
        if duration is not None:
            head += f" for {dsl_value(duration)}"
    elif kind not in ("branch", "set") and main is not None:
        head += f" {dsl_value(main, kind in _TEXT_FIELDS)}"
    if kind in _NEXT_KINDS and rest.get("next") is not None:
        head += f" -> {dsl_value(rest.pop('next'))}"
    yield head
    pad = INDENT * 2
    if kind == "branch":
        for case in main or []:
            yield f"{pad}when {case['when']} -> {dsl_value(case['then'])}"
    if kind == "set":
        for name, value in (main or {}).items():
            yield f"{pad}{dsl_value(name)} = {dsl_value(value)}"
    group = _GROUPED.get(kind)
    transitions = rest.pop(group, None) if group else None
    direct = {k: rest.pop(k) for k in _DIRECT.get(kind, ()) if k in rest}
    if kind == "use":
        for name, value in (rest.pop("with", None) or {}).items():
            yield f"{pad}{dsl_value(name)} = {dsl_value(value)}"
    for outcome, target in (transitions or {}).items():
        yield f"{pad}{dsl_value(outcome)} -> {dsl_value(target)}"
    yield from _properties(rest, 2)
    for outcome, target in direct.items():
        yield f"{pad}{outcome} -> {dsl_value(target)}"


# --- YAML ----------------------------------------------------------------------------------------

_YAML_PLAIN = re.compile(r"[A-Za-z0-9_./+$][A-Za-z0-9 _./+:@$-]*")
_YAML_SPECIAL = re.compile(
    r"^(~|null|Null|NULL|true|True|TRUE|false|False|FALSE|y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF"
    r"|[-+]?(\d[\d_]*(\.\d*)?([eE][-+]?\d+)?|\.\d+|0x[0-9a-fA-F]+|0o[0-7]+|\.inf|\.nan))$"
)


def yaml_scalar(value: Any) -> str:
    """A scalar as YAML text that every YAML reader (1.1 or 1.2) reads back as this string."""
    if value is None:
        return ""
    text = str(value)
    if (
        _YAML_PLAIN.fullmatch(text)
        and not _YAML_SPECIAL.match(text)
        and ": " not in text
        and " #" not in text
        and not text.endswith((" ", ":"))
    ):
        return text
    if "'" not in text and "\n" not in text and text.isprintable():
        return f"'{text}'"
    return _quote(text)


def _canonical(data: dict[str, Any]) -> dict[str, Any]:
    """A document's top-level keys in the order of its model's fields."""
    from routing_engine.sources import model

    kind = next((k for k in ("deployment", "flow", "module") if k in data), None)
    spec: dict[str, type[model.Spec]] = {
        "deployment": model.DeploymentDocument,
        "flow": model.FlowDocument,
        "module": model.ModuleDocument,
    }
    if kind is None:
        return data
    order = [info.alias or name for name, info in spec[kind].model_fields.items()]
    rank = {key: i for i, key in enumerate(order)}
    return dict(sorted(data.items(), key=lambda item: rank.get(item[0], len(order))))


def write_yaml(documents: list[dict[str, Any]], schema: str | None = None) -> str:
    """Documents -> YAML text, `---` between them; `schema` adds the editor's modeline."""
    out = [f"# yaml-language-server: $schema={schema}"] if schema else []
    for i, doc in enumerate(documents):
        if i:
            out.append("---")
        out.extend(_yaml_mapping(_canonical(doc), 0))
    return "\n".join(out) + "\n"


def _yaml_mapping(data: dict[str, Any], depth: int) -> Iterator[str]:
    pad = "  " * depth
    for key, value in data.items():
        name = yaml_scalar(key)
        if isinstance(value, dict):
            if not value:
                yield f"{pad}{name}: {{}}"
                continue
            yield f"{pad}{name}:"
            yield from _yaml_mapping(value, depth + 1)
        elif isinstance(value, list):
            if all(not isinstance(item, (dict, list)) for item in value):
                yield f"{pad}{name}: [{', '.join(yaml_scalar(item) or '~' for item in value)}]"
                continue
            yield f"{pad}{name}:"
            for item in value:
                lines = (
                    list(_yaml_mapping(item, depth + 2))
                    if isinstance(item, dict)
                    else [yaml_scalar(item)]
                )
                first, *more = lines
                yield f"{pad}  - {first.strip()}"
                yield from more
        else:
            scalar = yaml_scalar(value)
            yield f"{pad}{name}:{' ' + scalar if scalar else ''}"
