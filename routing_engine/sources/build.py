"""The one builder: raw documents (from any reader) -> IR, with every problem as a diagnostic.

Defaults and normalisation live here and in `sources/model.py` only; readers do syntax and
nothing else. A broken node is reported and left out, and the rest of its flow is still built,
so later checks still run and every problem is reported in one pass.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from routing_engine.core import ir
from routing_engine.core.diagnostics import Diagnostic, Severity, did_you_mean
from routing_engine.sources import model as m
from routing_engine.sources.build_schedules import build_schedule
from routing_engine.sources.format_errors import errors_to_diagnostics
from routing_engine.sources.raw import Path, RawDocument

_DIGITS = re.compile(r"^[0-9*#]{1,8}$")


@dataclass(slots=True)
class Built:
    """What the builder made of a set of documents."""

    deployment_doc: tuple[RawDocument, m.DeploymentDocument] | None = None
    extra_deployments: list[RawDocument] = field(default_factory=list)
    flows: list[ir.Flow] = field(default_factory=list)
    modules: list[ir.Module] = field(default_factory=list)
    deployment_broken: bool = False  # some of the deployment document was left out
    diagnostics: list[Diagnostic] = field(default_factory=list)


def _ref(doc: RawDocument, path: Path, name: str) -> ir.Ref:
    return ir.Ref(name, doc.value_span(path))


def _duration(doc: RawDocument, path: Path, value: ir.Duration) -> ir.Duration:
    return ir.Duration(value.amount, value.unit, doc.value_span(path), value.param)


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


def _handlers(
    doc: RawDocument,
    base: Path,
    on: Mapping[str, str],
    outcomes: tuple[str, ...],
    what: str,
    diags: list[Diagnostic],
) -> tuple[ir.Handler, ...]:
    handlers = []
    for outcome, target in on.items():
        path = (*base, "on", outcome)
        if outcome not in outcomes:
            diags.append(
                Diagnostic(
                    "S110",
                    Severity.ERROR,
                    f"{what} cannot produce the outcome '{outcome}'",
                    doc.key_span(path),
                    did_you_mean(outcome, outcomes)
                    or f"its outcomes are: {', '.join(outcomes)}; an "
                    "outcome the answering party reports must be listed under 'reports'",
                )
            )
            continue
        handlers.append(ir.Handler(outcome, _ref(doc, path, target), doc.key_span(path)))
    return tuple(handlers)


def build_node(doc: RawDocument, node_id: str, spec: Any, diags: list[Diagnostic]) -> ir.Node:
    """One validated node spec -> its IR node."""
    base: Path = ("nodes", node_id)
    span = doc.key_span(base)

    def ref(name: str, *sub: str | int) -> ir.Ref:
        return _ref(doc, (*base, *sub), name)

    def nxt(value: str | None) -> ir.Ref | None:
        return None if value is None else ref(value, "next")

    match spec:
        case m.MenuSpec():
            options = []
            for digits, to in spec.options.items():
                path = (*base, "options", digits)
                if not _DIGITS.match(digits):
                    diags.append(
                        Diagnostic(
                            "S105",
                            Severity.ERROR,
                            f"menu option '{digits}' of node '{node_id}' is not digits",
                            doc.key_span(path),
                            "options are keys made of 0-9, * and #, e.g. '1' or '#'",
                        )
                    )
                    continue
                options.append(ir.MenuOption(digits, _ref(doc, path, to), doc.key_span(path)))
            return ir.Menu(
                node_id,
                spec.menu,
                tuple(options),
                ref(spec.fallback, "fallback"),
                spec.retries,
                _duration(doc, (*base, "timeout"), spec.timeout),
                max((len(o.digits) for o in options), default=1),
                span,
            )
        case m.RingSpec():
            what = f"ring node '{node_id}'"
            reports = tuple(spec.reports)
            handlers = _handlers(doc, base, spec.on, (*ir.RING_OUTCOMES, *reports), what, diags)
            return ir.Ring(
                node_id,
                _refs(doc, base, "ring", spec.ring),
                ir.RingStrategy(spec.strategy),
                _duration(doc, (*base, "timeout"), spec.timeout),
                reports,
                handlers,
                None
                if spec.prefer is None
                else ir.Preference(
                    tuple(spec.prefer.skills),
                    spec.prefer.region.strip(),
                    doc.key_span((*base, "prefer")),
                ),
                span,
            )
        case m.QueueSpec():
            what = f"queue node '{node_id}'"
            reports = tuple(spec.reports)
            handlers = _handlers(doc, base, spec.on, (*ir.QUEUE_OUTCOMES, *reports), what, diags)
            return ir.Queue(
                node_id,
                ref(spec.queue, "queue"),
                tuple(spec.skills),
                spec.priority,
                _duration(doc, (*base, "max_wait"), spec.max_wait),
                reports,
                handlers,
                spec.region.strip(),
                span,
            )
        case m.BranchSpec():
            cases = tuple(
                ir.Case(
                    _condition(doc, (*base, "branch", i, "when"), case.when),
                    ref(case.then, "branch", i, "then"),
                    doc.value_span((*base, "branch", i)),
                )
                for i, case in enumerate(spec.branch)
            )
            return ir.Branch(node_id, cases, ref(spec.else_, "else"), span)
        case m.HoursSpec():
            holiday = None if spec.holiday is None else ref(spec.holiday, "holiday")
            return ir.Hours(
                node_id,
                ref(spec.hours, "hours"),
                ref(spec.open, "open"),
                ref(spec.closed, "closed"),
                holiday,
                span,
            )
        case m.SaySpec():
            return ir.Say(node_id, spec.say, nxt(spec.next), span)
        case m.SetSpec():
            values = tuple(
                ir.Assignment(name, typed_value(value), doc.key_span((*base, "set", name)))
                for name, value in spec.set.items()
            )
            return ir.SetVars(node_id, values, nxt(spec.next), span)
        case m.TicketSpec():
            return ir.Ticket(
                node_id,
                spec.ticket,
                None if spec.sla is None else _duration(doc, (*base, "sla"), spec.sla),
                _refs(doc, base, "managers", spec.managers),
                spec.summary,
                nxt(spec.next),
                None if spec.sla_from is None else ref(spec.sla_from, "sla_from"),
                _escalations(doc, base, spec.escalate),
                span,
            )
        case m.VoicemailSpec():
            return ir.Voicemail(
                node_id,
                spec.voicemail,
                spec.prompt,
                _duration(doc, (*base, "max_length"), spec.max_length),
                None if spec.sla is None else _duration(doc, (*base, "sla"), spec.sla),
                _refs(doc, base, "managers", spec.managers),
                nxt(spec.next),
                None if spec.sla_from is None else ref(spec.sla_from, "sla_from"),
                _escalations(doc, base, spec.escalate),
                span,
            )
        case m.UseSpec():
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
                    name,
                    _ref(doc, (*base, "exits", name), to),
                    doc.key_span((*base, "exits", name)),
                )
                for name, to in spec.exits.items()
            )
            return ir.Use(node_id, ref(spec.use, "use"), args, exits, span)
        case m.HangupSpec():
            return ir.Hangup(node_id, spec.hangup or "", span)
    raise TypeError(f"no IR for {type(spec).__name__}")  # pragma: no cover - closed union


def _escalations(
    doc: RawDocument, base: Path, steps: list[m.EscalationSpec]
) -> tuple[ir.Escalation, ...]:
    """A ticket's escalation steps, levels 1, 2, ... in the order written."""
    out = []
    for i, step in enumerate(steps):
        path = (*base, "escalate", i)
        out.append(
            ir.Escalation(
                _duration(doc, (*path, "after"), step.after),
                _refs(doc, path, "notify", step.notify),
                doc.value_span(path),
            )
        )
    return tuple(out)


def _condition(doc: RawDocument, path: Path, source: str) -> ir.Condition:
    raw = doc.raw(path)
    if raw is None:
        return ir.Condition(source, doc.value_span(path))
    return ir.Condition(source, doc.value_span(path), raw[0], raw[1])


def _refs(doc: RawDocument, base: Path, key: str, names: list[str]) -> tuple[ir.Ref, ...]:
    listed = (*base, key, 0) in doc.value_spans
    return tuple(
        _ref(doc, (*base, key, i) if listed else (*base, key), n) for i, n in enumerate(names)
    )


def _header(doc: RawDocument, model: Any, kind: str, diags: list[Diagnostic]) -> Any | None:
    """Validate a flow's or module's fields other than its nodes (those are validated one by
    one); None when even its name is unusable."""
    data: dict[str, Any] = doc.data
    nodes_raw = data.get("nodes")
    header = (
        {**data, "nodes": {"placeholder": {"hangup": None}}}
        if isinstance(nodes_raw, dict) and nodes_raw
        else data
    )
    try:
        return model.model_validate(header)
    except ValidationError as error:
        diags.extend(errors_to_diagnostics(doc, model, (), error, kind))
        if not isinstance(data.get(kind), str):
            return None
        bad = {str(e["loc"][0]) for e in error.errors() if e["loc"]}
        try:  # keep the fields that are valid; those in error take their defaults
            return model.model_validate({k: v for k, v in header.items() if k not in bad})
        except ValidationError:
            start = data.get("start")
            fields = {kind: data[kind], "start": start if isinstance(start, str) else ""}
            return model.model_construct(**fields, description="", nodes={})


def _nodes(doc: RawDocument, diags: list[Diagnostic]) -> tuple[tuple[ir.Node, ...], frozenset[str]]:
    """Every node of a flow or module document, and the ids of those that were broken."""
    nodes_raw = doc.data.get("nodes")
    nodes: list[ir.Node] = []
    broken: set[str] = set()
    if isinstance(nodes_raw, dict):
        for node_id, body in nodes_raw.items():
            path: Path = ("nodes", node_id)
            if not re.match(m.NAME_PATTERN, node_id):
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


def _start(doc: RawDocument, start: str) -> ir.Ref:
    return _ref(doc, ("start",), start if isinstance(doc.data.get("start"), str) else "")


def build_flow(doc: RawDocument, diags: list[Diagnostic]) -> ir.Flow | None:
    head = _header(doc, m.FlowDocument, "flow", diags)
    if head is None:
        return None
    nodes, broken = _nodes(doc, diags)
    limit = getattr(head, "resolve_within", None)
    notify = getattr(head, "notify", None) or []
    if limit is not None and not notify:
        diags.append(
            Diagnostic(
                "S102",
                Severity.ERROR,
                f"flow '{head.flow}' has 'resolve_within' but nobody to notify",
                doc.key_span(("resolve_within",)),
                "add 'notify: [CONTACT]': the contacts told when a call is not resolved in time",
            )
        )
    elif limit is None and notify:
        diags.append(
            Diagnostic(
                "S102",
                Severity.ERROR,
                f"flow '{head.flow}' names contacts to notify but has no 'resolve_within'",
                doc.key_span(("notify",)),
                "add 'resolve_within: DURATION': how long a call may take to be resolved",
            )
        )
    return ir.Flow(
        head.flow,
        _start(doc, head.start),
        nodes,
        head.description,
        doc.key_span(("flow",)),
        broken,
        None if limit is None else _duration(doc, ("resolve_within",), limit),
        _refs(doc, (), "notify", notify),
    )


def build_module(doc: RawDocument, diags: list[Diagnostic]) -> ir.Module | None:
    head = _header(doc, m.ModuleDocument, "module", diags)
    if head is None:
        return None
    params = tuple(
        ir.Param(name, spec.type, spec.default, doc.key_span(("params", name)))
        for name, spec in (head.params or {}).items()
    )
    nodes, broken = _nodes(doc, diags)
    return ir.Module(
        head.module,
        params,
        tuple(head.exits or ()),
        _start(doc, head.start),
        nodes,
        head.description,
        doc.key_span(("module",)),
        broken,
    )


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


def build_documents(documents: Iterable[RawDocument]) -> Built:
    """Sort documents into the deployment and its flows; validate each against the format."""
    built = Built()
    for doc in documents:
        data = doc.data
        if data is None:
            continue  # an empty document (a file of comments only) is allowed
        if not isinstance(data, dict):
            built.diagnostics.append(
                Diagnostic(
                    "S106",
                    Severity.ERROR,
                    "a document must be a mapping starting with 'deployment:' or 'flow:'",
                    doc.span,
                )
            )
            continue
        kinds = [k for k in m.DOCUMENT_KINDS if k in data]
        if len(kinds) != 1:
            hint = (
                "a document is a deployment ('deployment: NAME'), a flow ('flow: NAME') "
                "or a module ('module: NAME')"
            )
            for key in data:
                suggestion = did_you_mean(str(key), m.DOCUMENT_KINDS)
                if suggestion:
                    hint = suggestion
                    break
            message = (
                f"a document cannot be both a {kinds[0]} and a {kinds[1]}"
                if kinds
                else "this document is neither a deployment, a flow nor a module"
            )
            built.diagnostics.append(Diagnostic("S106", Severity.ERROR, message, doc.span, hint))
            continue
        if kinds[0] == "flow":
            flow = build_flow(doc, built.diagnostics)
            if flow is not None:
                built.flows.append(flow)
            continue
        if kinds[0] == "module":
            module = build_module(doc, built.diagnostics)
            if module is not None:
                built.modules.append(module)
            continue
        if built.deployment_doc is not None:
            built.extra_deployments.append(doc)
            continue
        try:
            built.deployment_doc = (doc, m.DeploymentDocument.model_validate(data))
        except ValidationError as error:
            built.diagnostics.extend(
                errors_to_diagnostics(doc, m.DeploymentDocument, (), error, "deployment")
            )
            recovered = _without_errors(data, error)
            if recovered is None:
                built.extra_deployments.append(doc)  # seen, so no 'missing deployment' on top
            else:  # reported; the rest still counts, so the flows are checked against it
                built.deployment_doc = (doc, recovered)
                built.deployment_broken = True
    return built


def _without_errors(data: dict[str, Any], error: ValidationError) -> m.DeploymentDocument | None:
    """The deployment document with every value in error left out, or None when that is not
    enough (a required field is missing or wrong)."""
    trimmed = copy.deepcopy(data)
    for err in error.errors():
        loc = [part for part in err["loc"] if part != "[key]"]
        container: Any = trimmed
        for part in loc[:-1]:
            container = container.get(part) if isinstance(container, dict) else None
        if isinstance(container, dict) and loc and loc[-1] in container:
            del container[loc[-1]]
    try:
        return m.DeploymentDocument.model_validate(trimmed)
    except ValidationError:
        return None


def build_deployment(
    documents: Iterable[RawDocument], unreadable: bool = False
) -> tuple[ir.Deployment | None, list[Diagnostic]]:
    """Raw documents of one deployment -> its IR (None when no usable deployment document).
    `unreadable`: some file could not be read (already reported), so the deployment document
    may be in it, and its absence is not reported again."""
    built = build_documents(documents)
    diags = built.diagnostics
    seen_broken = bool(built.extra_deployments) and built.deployment_doc is None
    if built.deployment_doc is None and built.modules and not built.flows and not seen_broken:
        return _library(built.modules), diags  # a module library, checked on its own
    if built.deployment_doc is None:
        if not seen_broken and not unreadable:
            diags.append(
                Diagnostic(
                    "S109",
                    Severity.ERROR,
                    "no deployment document found",
                    built.flows[0].span if built.flows else ir.NOWHERE,
                    "a deployment directory needs a deployment.yaml starting with "
                    "'deployment: NAME' (entries, targets, fallback)",
                )
            )
        return None, diags
    doc, spec = built.deployment_doc
    for extra in built.extra_deployments:
        diags.append(
            Diagnostic(
                "S109",
                Severity.ERROR,
                "a second deployment document",
                extra.span,
                f"the deployment is already declared at {doc.span}; keep one",
            )
        )
    deployment = _deployment(doc, spec, built.flows, diags)
    deployment = replace(
        deployment,
        modules=tuple(built.modules),
        broken=built.deployment_broken,
        incomplete=unreadable,
    )
    return deployment, diags


def _library(modules: list[ir.Module]) -> ir.Deployment:
    """A deployment that holds only modules (a folder like flows/), so they can be checked
    without one: parameters stand for what a real deployment will give them."""
    seconds = ir.Duration(30, ir.DurationUnit.SECONDS)
    return ir.Deployment(
        name="modules",
        flows=(),
        entries=(),
        targets=(),
        contacts=(),
        schedules=(),
        fallback=ir.Fallback((), seconds, ""),
        ring_cadence=ir.Duration(6, ir.DurationUnit.SECONDS),
        caller_max_wait=ir.Duration(2, ir.DurationUnit.MINUTES),
        max_steps=100,
        span=modules[0].span,
        modules=tuple(modules),
    )


def _deployment(
    doc: RawDocument, spec: m.DeploymentDocument, flows: list[ir.Flow], diags: list[Diagnostic]
) -> ir.Deployment:
    entries = tuple(
        ir.Entry(number, _ref(doc, ("entries", number), flow), doc.key_span(("entries", number)))
        for number, flow in spec.entries.items()
    )
    targets = tuple(
        ir.Target(
            name,
            ir.TargetKind(t.kind),
            t.uri,
            t.site,
            t.region,
            tuple(t.skills),
            t.capacity,
            t.available,
            doc.key_span(("targets", name)),
        )
        for name, t in spec.targets.items()
    )
    contacts = tuple(
        ir.Contact(name, c.name, c.email, c.webhook, doc.key_span(("contacts", name)))
        for name, c in spec.contacts.items()
    )
    fb = spec.fallback
    fallback = ir.Fallback(
        _refs(doc, ("fallback",), "ring", fb.ring),
        _duration(doc, ("fallback", "timeout"), fb.timeout),
        fb.say,
        doc.key_span(("fallback",)),
    )
    return ir.Deployment(
        name=spec.deployment,
        flows=tuple(flows),
        entries=entries,
        targets=targets,
        contacts=contacts,
        schedules=tuple(build_schedule(doc, name, s, diags) for name, s in spec.schedules.items()),
        fallback=fallback,
        ring_cadence=_duration(doc, ("ring_cadence",), spec.ring_cadence),
        caller_max_wait=_duration(doc, ("caller_max_wait",), spec.caller_max_wait),
        max_steps=spec.max_steps,
        description=spec.description,
        span=doc.key_span(("deployment",)),
    )
