"""Writers: document data (as both readers produce it) -> canonical DSL or YAML text.

`cli.py convert` and `cli.py fmt` use them. Each writer prints what the author wrote (no
defaults are added) in one canonical layout, so writing what it reads back is idempotent and
a conversion either way and back gives the same IR. Every line a writer makes names the keys it
stands for, so the comments attached to those keys are written with it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from routing_engine.core.ir import KIND_NAMES
from routing_engine.sources.comments import Comments
from routing_engine.sources.dsl_build import DIRECT, ESCALATION_WORDS, GROUPS, NEXT_KINDS, SECTIONS
from routing_engine.sources.raw import Path

_WORD = re.compile(r"[^\s,\"'#=]+( [^\s,\"'#=]+)*")
_TEXT_FIELDS = frozenset({"description", "menu", "say", "summary", "prompt", "name", "hangup"})
_SECTION_KEYS = {plural: singular for singular, plural in SECTIONS.items()}
INDENT = "  "

Line = tuple[str, list[Path]]  # the text, and the keys it stands for


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _decorate(lines: Iterator[Line], notes: Comments | None) -> Iterator[str]:
    """Lines with the comments of the keys they stand for: before them, and at their end. A
    key that several lines stand for (a group's) has its comments on the first of them."""
    seen: set[Path] = set()
    for text, all_paths in lines:
        pad = text[: len(text) - len(text.lstrip())]
        paths = [path for path in all_paths if path not in seen]
        seen.update(paths)
        if notes:
            for path in paths:
                for comment in notes.leading(path):
                    yield f"{pad}# {comment}".rstrip()
            after = "  ".join(notes.trailing(path) for path in paths if notes.trailing(path))
            if after:
                text = f"{text}  # {after}"
        yield text
    if notes:  # comments of keys no line stood for are kept too, at the end
        left = [c for path, cs in notes.before.items() if path not in seen for c in cs]
        left += [c for path, c in notes.after.items() if path not in seen]
        for comment in left:
            yield f"# {comment}".rstrip()


# --- DSL -----------------------------------------------------------------------------------------


def dsl_value(value: Any, text: bool = False) -> str:
    """One value as the DSL writes it: a bare word (or words) when it reads back the same,
    else a quoted string; lists joined by commas."""
    if isinstance(value, list):
        return ", ".join(dsl_value(item) for item in value)
    if value is None:
        return '""'
    word = str(value)
    if (
        text
        or not _WORD.fullmatch(word)
        or word.startswith("->")
        or word.endswith(":")
        or word == "when"
    ):
        return _quote(word)
    return word


def write_dsl(documents: list[dict[str, Any]], notes: list[Comments] | None = None) -> str:
    """Documents -> DSL text, one block per document, a blank line between them."""
    blocks = []
    for i, doc in enumerate(documents):
        comments = notes[i] if notes and i < len(notes) else None
        blocks.append("\n".join(_decorate(_document(doc), comments)) + "\n")
    return "\n".join(blocks)


def _document(data: dict[str, Any]) -> Iterator[Line]:
    kind = next(k for k in ("deployment", "flow", "module") if k in data)
    header = f"{kind} {dsl_value(data[kind])}"
    paths: list[Path] = [(kind,)]
    if data.get("description"):
        header += f" {_quote(str(data['description']))}"
        paths.append(("description",))
    yield header, paths
    rest = {k: v for k, v in data.items() if k not in (kind, "description")}
    if kind == "deployment":
        yield from _deployment(rest)
    else:
        yield from _unit(rest)


def _properties(data: dict[str, Any], depth: int, path: Path) -> Iterator[Line]:
    pad = INDENT * depth
    for key, value in data.items():
        here = (*path, key)
        if isinstance(value, dict):
            yield f"{pad}{dsl_value(key)}", [here]
            yield from _properties(value, depth + 1, here)
        else:
            yield f"{pad}{dsl_value(key)} {dsl_value(value, key in _TEXT_FIELDS)}".rstrip(), [here]


def _deployment(data: dict[str, Any]) -> Iterator[Line]:
    for key, value in data.items():
        if key == "entries" and isinstance(value, dict):
            for number, flow in value.items():
                yield from _entry(number, flow)
        elif key in _SECTION_KEYS and isinstance(value, dict):
            for name, body in value.items():
                head, paths = (
                    f"{INDENT}{_SECTION_KEYS[key]} {dsl_value(name)}",
                    [(key,), (key, name)],
                )
                if key == "boards" and isinstance(body, dict) and isinstance(body.get("name"), str):
                    body = dict(body)  # a board's display name is on its line
                    head += f" {_quote(body.pop('name'))}"
                    paths.append((key, name, "name"))
                yield head, paths
                if key == "schedules" and isinstance(body, dict):
                    yield from _schedule(body, (key, name))
                elif isinstance(body, dict):
                    yield from _properties(body, 2, (key, name))
        else:
            yield from _properties({key: value}, 1, ())


def _entry(number: str, value: Any) -> Iterator[Line]:
    """`entry NUMBER -> FLOW`; the long form's other keys (its fallback) in its block."""
    path: Path = ("entries", number)
    body = value if isinstance(value, dict) else {"flow": value}
    head = f"{INDENT}entry {dsl_value(number)} -> {dsl_value(body.get('flow'))}"
    yield head, [("entries",), path, (*path, "flow")]
    yield from _properties({k: v for k, v in body.items() if k != "flow"}, 2, path)


def _schedule(body: dict[str, Any], path: Path) -> Iterator[Line]:
    for key, value in body.items():
        if key == "weekly" and isinstance(value, dict):
            for days, ranges in value.items():
                yield (
                    f"{INDENT * 2}weekly {dsl_value(days)} {dsl_value(ranges)}",
                    [(*path, key), (*path, key, days)],
                )
        else:
            yield from _properties({key: value}, 2, path)


def _unit(data: dict[str, Any]) -> Iterator[Line]:
    found = data.get("nodes")
    nodes: dict[str, Any] = found if isinstance(found, dict) else {}
    first = next(iter(nodes), None)
    for key, value in data.items():
        if key == "nodes" or (key == "start" and value == first):
            continue  # the DSL's start is its first node
        if key == "params" and isinstance(value, dict):
            for name, spec in value.items():
                spec = spec if isinstance(spec, dict) else {"type": spec}
                line = f"{INDENT}param {dsl_value(name)} {dsl_value(spec.get('type'))}"
                if spec.get("default") is not None:
                    line += f" default {dsl_value(spec['default'])}"
                yield line, [(key,), (key, name), (key, name, "type"), (key, name, "default")]
            continue
        yield from _properties({key: value}, 1, ())
    for i, (node_id, body) in enumerate(nodes.items()):
        for number, (text, paths) in enumerate(_node(node_id, body)):
            # the nodes' group has no line of its own in the DSL: its first node stands for it
            yield text, ([("nodes",), *paths] if i == 0 and number == 0 else paths)


def _node(node_id: str, body: dict[str, Any]) -> Iterator[Line]:
    path: Path = ("nodes", node_id)
    kind = next(k for k in body if k in KIND_NAMES)
    head = f"{INDENT}{node_id}: {kind}"
    paths: list[Path] = [path, (*path, kind)]
    rest = dict(body)
    main = rest.pop(kind)
    if kind in ("ring", "queue"):
        head += f" {dsl_value(main)}"
        if kind == "ring" and "strategy" in rest:
            head += " at once" if rest.pop("strategy") == "simultaneous" else " in order"
            paths.append((*path, "strategy"))
        field = "timeout" if kind == "ring" else "max_wait"
        if field in rest:
            head += f" for {dsl_value(rest.pop(field))}"
            paths.append((*path, field))
    elif kind not in ("branch", "set") and main is not None:
        head += f" {dsl_value(main, kind in _TEXT_FIELDS)}"
    if kind in NEXT_KINDS and rest.get("next") is not None:
        head += f" -> {dsl_value(rest.pop('next'))}"
        paths.append((*path, "next"))
    yield head, paths
    pad = INDENT * 2
    if kind == "branch":
        for i, case in enumerate(main or []):
            here = (*path, kind, i)
            yield (
                f"{pad}when {case['when']} -> {dsl_value(case['then'])}",
                [here, (*here, "when"), (*here, "then")],
            )
    if kind == "set":
        for name, value in (main or {}).items():
            yield f"{pad}{dsl_value(name)} = {dsl_value(value)}", [(*path, kind, name)]
    group = GROUPS.get(kind)
    transitions = rest.pop(group, None) if group else None
    direct = {k: rest.pop(k) for k in DIRECT.get(kind, ()) if k in rest}
    if kind == "use":
        for name, value in (rest.pop("with", None) or {}).items():
            yield (
                f"{pad}{dsl_value(name)} = {dsl_value(value)}",
                [(*path, "with"), (*path, "with", name)],
            )
    for outcome, target in (transitions or {}).items():
        yield (
            f"{pad}{dsl_value(outcome)} -> {dsl_value(target)}",
            [(*path, str(group)), (*path, str(group), outcome)],
        )
    yield from _bound(rest, path)
    for key, value in rest.items():
        if key == "escalate" and kind in ("ticket", "voicemail") and isinstance(value, list):
            yield from _escalations(value, (*path, key))
        else:
            yield from _properties({key: value}, 2, path)
    for outcome, target in direct.items():
        yield f"{pad}{outcome} -> {dsl_value(target)}", [(*path, outcome)]


def _bound(rest: dict[str, Any], path: Path) -> Iterator[Line]:
    """`attempts N -> NODE`: a node's `attempts` and `exhausted` on one line (taken from
    `rest`); either alone is written as it stands, for the builder to report."""
    if "attempts" not in rest and "exhausted" not in rest:
        return
    line, paths = f"{INDENT * 2}attempts", [(*path, "attempts")]
    if "attempts" in rest:
        line += f" {dsl_value(rest.pop('attempts'))}"
    if "exhausted" in rest:
        line += f" -> {dsl_value(rest.pop('exhausted'))}"
        paths.append((*path, "exhausted"))
    yield line, paths


def _escalations(steps: list[Any], path: Path) -> Iterator[Line]:
    """One `escalate after DURATION notify CONTACT, ...` line per step, in order."""
    for i, step in enumerate(steps):
        here = (*path, i)
        words = ["escalate"]
        paths: list[Path] = [path, here]
        for key, value in (step if isinstance(step, dict) else {}).items():
            words.append(f"{dsl_value(key)} {_step_value(value)}")
            paths.append((*here, key))
        yield f"{INDENT * 2}{' '.join(words)}", paths


def _step_value(value: Any) -> str:
    """A value in an escalation line: quoted when it would read as one of the line's words."""
    if isinstance(value, list):
        return ", ".join(_step_value(item) for item in value)
    return _quote(str(value)) if str(value) in ESCALATION_WORDS else dsl_value(value)


# --- YAML ----------------------------------------------------------------------------------------

_YAML_PLAIN = re.compile(r"[A-Za-z0-9_./+$][A-Za-z0-9 _./+:@$-]*")
_YAML_SPECIAL = re.compile(
    r"^(~|null|Null|NULL|true|True|TRUE|false|False|FALSE|y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF"
    r"|[-+]?(\d[\d_]*(\.\d*)?([eE][-+]?\d+)?|\.\d+|0x[0-9a-fA-F]+|0o[0-7]+|\.inf|\.nan))$"
)


# Fields whose value is a number or a boolean: written bare, as editors' schemas expect.
_TYPED_FIELDS = frozenset({"max_steps", "retries", "priority", "capacity", "available", "attempts"})


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
    from routing_engine.sources import model, model_values

    kind = next((k for k in ("deployment", "flow", "module") if k in data), None)
    spec: dict[str, type[model_values.Spec]] = {
        "deployment": model.DeploymentDocument,
        "flow": model.FlowDocument,
        "module": model.ModuleDocument,
    }
    if kind is None:
        return data
    order = [info.alias or name for name, info in spec[kind].model_fields.items()]
    rank = {key: i for i, key in enumerate(order)}
    return dict(sorted(data.items(), key=lambda item: rank.get(item[0], len(order))))


def write_yaml(
    documents: list[dict[str, Any]], schema: str | None = None, notes: list[Comments] | None = None
) -> str:
    """Documents -> YAML text, `---` between them; `schema` adds the editor's modeline."""
    out = [f"# yaml-language-server: $schema={schema}"] if schema else []
    for i, doc in enumerate(documents):
        if i:
            out.append("---")
        comments = notes[i] if notes and i < len(notes) else None
        out.extend(_decorate(_yaml_mapping(_canonical(doc), 0, ()), comments))
    return "\n".join(out) + "\n"


def _yaml_mapping(data: dict[str, Any], depth: int, path: Path) -> Iterator[Line]:
    pad = "  " * depth
    for key, value in data.items():
        name = yaml_scalar(key)
        here = (*path, key)
        if isinstance(value, dict):
            if not value:
                yield f"{pad}{name}: {{}}", [here]
                continue
            yield f"{pad}{name}:", [here]
            yield from _yaml_mapping(value, depth + 1, here)
        elif isinstance(value, list):
            if all(not isinstance(item, (dict, list)) for item in value):
                yield (
                    f"{pad}{name}: [{', '.join(yaml_scalar(item) or '~' for item in value)}]",
                    [here],
                )
                continue
            yield f"{pad}{name}:", [here]
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    lines = list(_yaml_mapping(item, depth + 2, (*here, i)))
                else:
                    lines = [(yaml_scalar(item), [(*here, i)])]
                (first, first_paths), *more = lines
                yield f"{pad}  - {first.strip()}", [(*here, i), *first_paths]
                yield from more
        else:
            typed = key in _TYPED_FIELDS and isinstance(value, str) and _YAML_SPECIAL.match(value)
            scalar = value if typed else yaml_scalar(value)
            yield f"{pad}{name}:{' ' + scalar if scalar else ''}", [here]
