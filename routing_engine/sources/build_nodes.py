"""Nodes as written -> IR: each node of a flow or module is validated on its own, then built by
its kind, so one broken node is reported and the rest of its flow is still built."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from routing_engine.core import ir
from routing_engine.core.diagnostics import Diagnostic, Severity, did_you_mean
from routing_engine.sources import model as m
from routing_engine.sources.format_errors import errors_to_diagnostics
from routing_engine.sources.model_values import NAME_PATTERN
from routing_engine.sources.raw import Path, RawDocument

_DIGITS = re.compile(r"^[0-9*#]{1,8}$")


def ref_at(doc: RawDocument, path: Path, name: str) -> ir.Ref:
    """A reference by name, pointing at where the name is written."""
    return ir.Ref(name, doc.value_span(path))


def duration_at(doc: RawDocument, path: Path, value: ir.Duration) -> ir.Duration:
    """A validated duration, pointing at where it is written."""
    return ir.Duration(value.amount, value.unit, doc.value_span(path), value.param)


def refs_at(doc: RawDocument, base: Path, key: str, names: list[str]) -> tuple[ir.Ref, ...]:
    """References written as one name or as a list: each points at its own item if listed."""
    listed = (*base, key, 0) in doc.value_spans
    return tuple(
        ref_at(doc, (*base, key, i) if listed else (*base, key), n) for i, n in enumerate(names)
    )


def typed_value(text: str | None) -> str | int | float | bool:
    """`set` values: `true`/`false`, integers and decimals are typed; the rest stays text."""
    if text is None:
        return ""
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?\d{1,15}", text):
        return int(text)
    if re.fullmatch(r"-?\d{1,15}\.\d{1,15}", text):
        return float(text)
    return text


def nodes_of(
    doc: RawDocument, diags: list[Diagnostic]
) -> tuple[tuple[ir.Node, ...], frozenset[str]]:
    """Every node of a flow or module document, and the ids of those that were broken."""
    nodes_raw = doc.data.get("nodes")
    nodes: list[ir.Node] = []
    broken: set[str] = set()
    if isinstance(nodes_raw, dict):
        for node_id, body in nodes_raw.items():
            path: Path = ("nodes", node_id)
            if not re.match(NAME_PATTERN, node_id):
                diags.append(
                    Diagnostic(
                        "S105",
                        Severity.ERROR,
                        f"'{node_id}' is not a valid node id",
                        doc.key_span(path),
                        "ids use letters, digits, '-', '_' and '.', and start with a "
                        "letter or digit",
                    )
                )
                continue
            before = len(diags)
            spec = _node_spec(doc, path, body, diags)
            nodes.append(
                _placeholder(doc, node_id)
                if spec is None
                else build_node(doc, node_id, spec, diags)
            )
            if len(diags) > before:  # something of this node was dropped: its links are unknown
                broken.add(node_id)
    return tuple(nodes), frozenset(broken)


def _node_spec(doc: RawDocument, path: Path, body: Any, diags: list[Diagnostic]) -> Any | None:
    """Validate one node. On errors, report them all, then try again without the fields in
    error (they take their defaults), so the node's links still count in later checks."""
    kinds = [key for key in body if key in m.NODE_SPECS] if isinstance(body, dict) else []
    if len(kinds) > 1:
        diags.append(
            Diagnostic(
                "S106",
                Severity.ERROR,
                f"node '{path[-1]}' has {len(kinds)} kinds: {', '.join(kinds)}",
                doc.key_span((*path, kinds[1])),
                "a node does one thing; split it into nodes linked by 'next'",
            )
        )
        return None
    try:
        return m.NODE_ADAPTER.validate_python(body)
    except ValidationError as error:
        diags.extend(errors_to_diagnostics(doc, m.FlowDocument, path, error, "flow"))
        kind = m.node_kind_of(body)
        if kind is None or not isinstance(body, dict):
            return None
        bad = {str(err["loc"][1]) for err in error.errors() if len(err["loc"]) > 1}
        if kind.removeprefix(m.TAG_PREFIX) in bad:
            return None
        try:
            return m.NODE_ADAPTER.validate_python({k: v for k, v in body.items() if k not in bad})
        except ValidationError:
            return None


def _placeholder(doc: RawDocument, node_id: str) -> ir.Node:
    """A node that could not be built still exists, so references to it resolve and no second,
    misleading 'unknown reference' is reported; it hangs up, and has no edges."""
    return ir.Hangup(node_id, "invalid node", doc.key_span(("nodes", node_id)))


def build_node(doc: RawDocument, node_id: str, spec: Any, diags: list[Diagnostic]) -> ir.Node:
    """One validated node spec -> its IR node."""
    at = _At(doc, node_id)
    match spec:
        case m.MenuSpec():
            return _menu(at, spec, diags)
        case m.RingSpec():
            return _ring(at, spec, diags)
        case m.QueueSpec():
            return _queue(at, spec, diags)
        case m.BranchSpec():
            return _branch(at, spec)
        case m.HoursSpec():
            schedule, open_ = at.ref(spec.hours, "hours"), at.ref(spec.open, "open")
            closed = at.ref(spec.closed, "closed")
            holiday = None if spec.holiday is None else at.ref(spec.holiday, "holiday")
            return ir.Hours(node_id, schedule, open_, closed, holiday, at.span)
        case m.SaySpec():
            return ir.Say(node_id, spec.say, at.next(spec.next), at.span)
        case m.SetSpec():
            values = tuple(
                ir.Assignment(name, typed_value(value), doc.key_span((*at.base, "set", name)))
                for name, value in spec.set.items()
            )
            return ir.SetVars(node_id, values, at.next(spec.next), at.span)
        case m.TicketSpec():
            return _ticket(at, spec)
        case m.VoicemailSpec():
            return _voicemail(at, spec)
        case m.UseSpec():
            return _use(at, spec)
        case m.HangupSpec():
            return ir.Hangup(node_id, spec.hangup or "", at.span)
    raise TypeError(f"no IR for {type(spec).__name__}")  # pragma: no cover - closed union


class _At:
    """Where a node is written: what its parts point at."""

    def __init__(self, doc: RawDocument, node_id: str) -> None:
        self.doc, self.id = doc, node_id
        self.base: Path = ("nodes", node_id)
        self.span = doc.key_span(self.base)

    def ref(self, name: str, *sub: str | int) -> ir.Ref:
        return ref_at(self.doc, (*self.base, *sub), name)

    def next(self, value: str | None) -> ir.Ref | None:
        return None if value is None else self.ref(value, "next")

    def duration(self, key: str, value: ir.Duration) -> ir.Duration:
        return duration_at(self.doc, (*self.base, key), value)

    def maybe_duration(self, key: str, value: ir.Duration | None) -> ir.Duration | None:
        return None if value is None else self.duration(key, value)


def _menu(at: _At, spec: m.MenuSpec, diags: list[Diagnostic]) -> ir.Menu:
    options = []
    for digits, to in spec.options.items():
        path = (*at.base, "options", digits)
        if not _DIGITS.match(digits):
            diags.append(
                Diagnostic(
                    "S105",
                    Severity.ERROR,
                    f"menu option '{digits}' of node '{at.id}' is not digits",
                    at.doc.key_span(path),
                    "options are keys made of 0-9, * and #, e.g. '1' or '#'",
                )
            )
            continue
        options.append(ir.MenuOption(digits, ref_at(at.doc, path, to), at.doc.key_span(path)))
    return ir.Menu(
        at.id,
        spec.menu,
        tuple(options),
        at.ref(spec.fallback, "fallback"),
        spec.retries,
        at.duration("timeout", spec.timeout),
        max((len(o.digits) for o in options), default=1),
        at.span,
        _bound(at, spec, "menu", diags),
    )


def _ring(at: _At, spec: m.RingSpec, diags: list[Diagnostic]) -> ir.Ring:
    reports = tuple(spec.reports)
    outcomes = (*ir.RING_OUTCOMES, *reports)
    handlers = _handlers(at, spec.on, outcomes, f"ring node '{at.id}'", diags)
    prefer = spec.prefer
    return ir.Ring(
        at.id,
        refs_at(at.doc, at.base, "ring", spec.ring),
        ir.RingStrategy(spec.strategy),
        at.duration("timeout", spec.timeout),
        reports,
        handlers,
        None
        if prefer is None
        else ir.Preference(
            tuple(prefer.skills),
            prefer.region.strip(),
            at.doc.key_span((*at.base, "prefer")),
            tuple(r.span for r in refs_at(at.doc, (*at.base, "prefer"), "skills", prefer.skills)),
        ),
        at.span,
        _bound(at, spec, "ring", diags),
    )


def _queue(at: _At, spec: m.QueueSpec, diags: list[Diagnostic]) -> ir.Queue:
    reports = tuple(spec.reports)
    outcomes = (*ir.QUEUE_OUTCOMES, *reports)
    return ir.Queue(
        at.id,
        at.ref(spec.queue, "queue"),
        tuple(spec.skills),
        spec.priority,
        at.duration("max_wait", spec.max_wait),
        reports,
        _handlers(at, spec.on, outcomes, f"queue node '{at.id}'", diags),
        spec.region.strip(),
        at.span,
        _bound(at, spec, "queue", diags),
    )


def _bound(
    at: _At, spec: m.MenuSpec | m.RingSpec | m.QueueSpec, kind: str, diags: list[Diagnostic]
) -> ir.Bound | None:
    """A node's `attempts` and `exhausted`, which come together (S102 when one is alone)."""
    if spec.attempts is not None and spec.exhausted is not None:
        span = at.doc.key_span((*at.base, "attempts"))
        return ir.Bound(spec.attempts, at.ref(spec.exhausted, "exhausted"), span)
    if spec.attempts is None and spec.exhausted is None:
        return None
    given, missing = ("attempts", "exhausted")
    if spec.attempts is None:
        given, missing = missing, given
    if at.doc.file.endswith(".flow"):
        hint = "write the line as 'attempts N -> NODE': at most N entries, then NODE"
    elif missing == "exhausted":
        hint = "add 'exhausted: NODE', where the call goes once the attempts are used up"
    else:
        hint = "add 'attempts: N', how many times the call may enter the node"
    message = f"{kind} node '{at.id}' has '{given}' but no '{missing}': they come together"
    span = at.doc.key_span((*at.base, given))
    diags.append(Diagnostic("S102", Severity.ERROR, message, span, hint))
    return None


def _handlers(
    at: _At, on: Mapping[str, str], outcomes: tuple[str, ...], what: str, diags: list[Diagnostic]
) -> tuple[ir.Handler, ...]:
    handlers = []
    for outcome, target in on.items():
        path = (*at.base, "on", outcome)
        if outcome not in outcomes:
            diags.append(
                Diagnostic(
                    "S110",
                    Severity.ERROR,
                    f"{what} cannot produce the outcome '{outcome}'",
                    at.doc.key_span(path),
                    did_you_mean(outcome, outcomes)
                    or f"its outcomes are: {', '.join(outcomes)}; an "
                    "outcome the answering party reports must be listed under 'reports'",
                )
            )
            continue
        handlers.append(ir.Handler(outcome, ref_at(at.doc, path, target), at.doc.key_span(path)))
    return tuple(handlers)


def _branch(at: _At, spec: m.BranchSpec) -> ir.Branch:
    cases = tuple(
        ir.Case(
            _condition(at.doc, (*at.base, "branch", i, "when"), case.when),
            at.ref(case.then, "branch", i, "then"),
            at.doc.value_span((*at.base, "branch", i)),
        )
        for i, case in enumerate(spec.branch)
    )
    return ir.Branch(at.id, cases, at.ref(spec.else_, "else"), at.span)


def _condition(doc: RawDocument, path: Path, source: str) -> ir.Condition:
    raw = doc.raw(path)
    if raw is None:
        return ir.Condition(source, doc.value_span(path))
    return ir.Condition(source, doc.value_span(path), raw[0], raw[1])


def _ticket(at: _At, spec: m.TicketSpec) -> ir.Ticket:
    return ir.Ticket(
        at.id,
        at.ref(spec.ticket, "ticket"),
        at.maybe_duration("sla", spec.sla),
        refs_at(at.doc, at.base, "managers", spec.managers),
        spec.summary,
        at.next(spec.next),
        None if spec.sla_from is None else at.ref(spec.sla_from, "sla_from"),
        _escalations(at, spec.escalate),
        at.span,
    )


def _voicemail(at: _At, spec: m.VoicemailSpec) -> ir.Voicemail:
    return ir.Voicemail(
        at.id,
        at.ref(spec.voicemail, "voicemail"),
        spec.prompt,
        at.duration("max_length", spec.max_length),
        at.maybe_duration("sla", spec.sla),
        refs_at(at.doc, at.base, "managers", spec.managers),
        at.next(spec.next),
        None if spec.sla_from is None else at.ref(spec.sla_from, "sla_from"),
        _escalations(at, spec.escalate),
        at.span,
    )


def _escalations(at: _At, steps: list[m.EscalationSpec]) -> tuple[ir.Escalation, ...]:
    """A ticket's escalation steps, levels 1, 2, ... in the order written."""
    out = []
    for i, step in enumerate(steps):
        path = (*at.base, "escalate", i)
        out.append(
            ir.Escalation(
                duration_at(at.doc, (*path, "after"), step.after),
                refs_at(at.doc, path, "notify", step.notify),
                at.doc.value_span(path),
            )
        )
    return tuple(out)


def _use(at: _At, spec: m.UseSpec) -> ir.Use:
    doc, base = at.doc, at.base
    args = tuple(
        ir.Arg(
            name,
            "" if value is None else value,
            doc.value_span((*base, "with", name)),
            doc.key_span((*base, "with", name)),
        )
        for name, value in spec.with_.items()
    )
    exits = tuple(
        ir.Handler(
            name, ref_at(doc, (*base, "exits", name), to), doc.key_span((*base, "exits", name))
        )
        for name, to in spec.exits.items()
    )
    return ir.Use(at.id, at.ref(spec.use, "use"), args, exits, at.span)
