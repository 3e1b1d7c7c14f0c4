"""Pydantic's validation errors -> diagnostics with spans and plain-words messages.

The builder validates raw documents against the file-format models (`model.py`); this module
says what each error means where it stands: a missing or unknown field (with "did you mean"), a
bad duration, a node without a kind, a value of the wrong form.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from routing_engine.core.diagnostics import Diagnostic, Severity, did_you_mean
from routing_engine.sources import model as m
from routing_engine.sources.build_schedules import date_problem, hours_problem
from routing_engine.sources.raw import Path, RawDocument

# --- pydantic errors -> diagnostics -----------------------------------------------------------


def _unwrap(tp: Any) -> list[Any]:
    """The concrete types an annotation may stand for."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(tp) for t in _unwrap(arg)]
    return [tp]


def _model_at(root: type[BaseModel], loc: Path) -> type[BaseModel] | None:
    """The model class that the value at `loc` (below `root`) is validated by."""
    candidates: list[Any] = [root]
    for item in loc:
        following: list[Any] = []
        for tp in candidates:
            origin = typing.get_origin(tp)
            if isinstance(item, str) and item.startswith(m.TAG_PREFIX):
                following.append(m.NODE_SPECS[item.removeprefix(m.TAG_PREFIX)])
                break
            if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(item, str):
                for name, info in tp.model_fields.items():
                    if item in (name, info.alias):
                        following.extend(_unwrap(info.annotation))
            elif origin is dict:
                following.extend(_unwrap(typing.get_args(tp)[1]))
            elif origin is list:
                following.extend(_unwrap(typing.get_args(tp)[0]))
        candidates = [t for c in following for t in _unwrap(c)]
    for tp in candidates:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return tp
    return None


def _field_names(model_cls: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model_cls.model_fields.items()]


def _what(doc_kind: str, doc_name: str, path: Path) -> str:
    """Say in words what a path points at: `ring node 'x'`, `target 'y'`, `flow 'z'`."""
    if len(path) >= 2 and path[0] == "nodes":
        return f"node '{path[1]}'"
    if len(path) >= 2 and path[0] in ("targets", "contacts"):
        return f"{str(path[0])[:-1]} '{path[1]}'"
    if path and path[0] == "fallback":
        return "the fallback"
    if len(path) >= 2 and path[0] == "entries":
        return f"entry '{path[1]}'"
    return f"{doc_kind} '{doc_name}'" if doc_name else doc_kind


def _node_kind_label(data: Any, path: Path) -> str:
    if len(path) >= 2 and path[0] == "nodes" and isinstance(data, dict):
        node = data.get("nodes", {}).get(path[1]) if isinstance(data.get("nodes"), dict) else None
        kind = m.node_kind_of(node)
        if kind:
            return kind.removeprefix(m.TAG_PREFIX) + " "
    return ""


def errors_to_diagnostics(
    doc: RawDocument, root: type[BaseModel], base: Path, error: ValidationError, doc_kind: str
) -> list[Diagnostic]:
    """Turn one pydantic ValidationError (all its errors) into diagnostics with spans."""
    errors = error.errors()
    # an unknown field that is a misspelling of a missing one is reported once, as unknown
    misspelt = {
        (tuple(e["loc"][:-1]), str(e["loc"][-1])) for e in errors if e["type"] == "extra_forbidden"
    }
    where = _Document(doc, root, base, doc_kind)
    return [
        where.diagnostic(err)
        for err in errors
        if not (
            err["type"] == "missing"
            and any(
                parent == tuple(err["loc"][:-1]) and did_you_mean(name, [str(err["loc"][-1])])
                for parent, name in misspelt
            )
        )
    ]


@dataclass(frozen=True, slots=True)
class _Document:
    """The document whose errors are reported, and where its errors' locations start."""

    doc: RawDocument
    root: type[BaseModel]
    base: Path
    kind: str

    def _what(self, loc: Path) -> str:
        """What `loc` points at in words, with the node's kind: `ring node 'x'`."""
        data = self.doc.data if isinstance(self.doc.data, dict) else {}
        what = _what(self.kind, str(data.get(self.kind, "") or ""), loc)
        return f"{_node_kind_label(data, loc)}{what}" if what.startswith("node") else what

    def diagnostic(self, err: Any) -> Diagnostic:
        """One pydantic error as a diagnostic, by its type."""
        raw_loc = tuple(err["loc"])
        is_key = bool(raw_loc) and raw_loc[-1] == "[key]"
        model_loc: Path = tuple(i for i in raw_loc if i != "[key]")
        loc: Path = self.base + tuple(
            i for i in model_loc if not (isinstance(i, str) and i.startswith(m.TAG_PREFIX))
        )
        doc, field_name = self.doc, str(loc[-1]) if loc else self.kind
        match err["type"]:
            case "missing":
                span = doc.key_span(loc[:-1]) if len(loc) > 1 else doc.span
                message = f"{self._what(loc[:-1])} is missing '{field_name}'"
                return Diagnostic(
                    "S102", Severity.ERROR, message, span, f"add '{field_name}: ...' to it"
                )
            case "extra_forbidden":
                parent = _model_at(self.root, model_loc[:-1])
                hint = did_you_mean(field_name, _field_names(parent)) if parent else ""
                if not hint and parent is not None:
                    hint = "known fields: " + ", ".join(_field_names(parent))
                message = f"unknown field '{field_name}' in {self._what(loc)}"
                return Diagnostic("S103", Severity.ERROR, message, doc.key_span(loc), hint)
            case "bad_duration":
                message = f"{err['msg']} ('{field_name}' of {self._what(loc)})"
                hint = "write a number and a unit: '2 rings', '20s', '15m', '1h'"
                return Diagnostic("S104", Severity.ERROR, message, doc.value_span(loc), hint)
            case "no_kind":
                return _no_kind(doc, loc, self._what(loc), err["input"])
        span = doc.key_span(loc) if is_key else doc.value_span(loc)
        message, hint = _invalid_value(err, field_name, self._what(loc), is_key, loc)
        return Diagnostic("S105", Severity.ERROR, message, span, hint)


def _invalid_value(
    err: Any, field_name: str, what: str, is_key: bool, loc: Path
) -> tuple[str, str]:
    value = err.get("input")
    shown = (
        f"'{value}'"
        if isinstance(value, str)
        else ("nothing" if value is None else "a " + type(value).__name__)
    )
    if err["type"] == "string_pattern_mismatch":
        pattern = str(err.get("ctx", {}).get("pattern", ""))
        if pattern == m.E164_OR_PREFIX:
            return (
                f"{shown} is not an E.164 number or prefix (entries of {what})",
                "write '+', the country code and the number, e.g. +12125550100, or a prefix "
                "ending in '*'",
            )
        if pattern == m.WEBHOOK_PATTERN:
            return (
                f"{shown} is not a webhook URL ({what})",
                "write an http:// or https:// URL, or a path of this server such as "
                "/notifications/inbox",
            )
        if pattern == m.EMAIL_PATTERN:
            return f"{shown} is not an e-mail address ({what})", "write NAME@DOMAIN"
        if pattern == m.RANGE_PATTERN:
            return hours_problem(str(value), _hours_of(what, loc))
        if pattern == m.DATE_PATTERN:
            return date_problem(str(value), _hours_of(what, loc))
        kind = "key" if is_key else f"'{field_name}'"
        return (
            f"{shown} is not a valid name ({kind} of {what})",
            "names use letters, digits, '-', '_' and '.', and start with a letter or digit",
        )
    if err["type"] == "value_error":  # a validator's own words (they name the value)
        named = next((p for p in reversed(loc) if isinstance(p, str)), field_name)
        return f"{err['ctx']['error']} ('{named}' of {what})", ""
    message = str(err["msg"])
    message = message[0].lower() + message[1:]
    return f"'{field_name}' of {what}: {message}, got {shown}", ""


def _hours_of(what: str, loc: Path) -> str:
    """`schedule 'office', mon-fri` for hours at (schedules, office, weekly, mon-fri, 0)."""
    if len(loc) >= 4 and loc[0] == "schedules":
        return f"schedule '{loc[1]}', {loc[3] if loc[2] == 'weekly' else loc[2]}"
    return what


def _no_kind(doc: RawDocument, loc: Path, what: str, value: Any) -> Diagnostic:
    kinds = ", ".join(m.NODE_SPECS)
    hint = f"a node starts with one of: {kinds}"
    if isinstance(value, dict):
        for key in value:
            suggestion = did_you_mean(str(key), m.NODE_SPECS)
            if suggestion:
                hint = suggestion
                return Diagnostic(
                    "S106",
                    Severity.ERROR,
                    f"{what} has no kind: '{key}' is not a node kind",
                    doc.key_span((*loc, key)),
                    hint,
                )
        return Diagnostic("S106", Severity.ERROR, f"{what} has no kind", doc.key_span(loc), hint)
    return Diagnostic(
        "S106",
        Severity.ERROR,
        f"{what} must be a mapping with a kind, e.g. 'say: Hello'",
        doc.value_span(loc),
        hint,
    )
