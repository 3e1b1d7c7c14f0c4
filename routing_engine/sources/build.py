"""The one builder: raw documents (from any reader) -> IR, with every problem as a diagnostic.

Defaults and normalisation live here and in `sources/model.py` only; readers do syntax and
nothing else. A broken node is reported and left out, and the rest of its flow is still built,
so later checks still run and every problem is reported in one pass.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from routing_engine.core import ir
from routing_engine.core.diagnostics import Diagnostic, Severity, did_you_mean
from routing_engine.sources import model as m
from routing_engine.sources.build_nodes import duration_at, nodes_of, ref_at, refs_at
from routing_engine.sources.build_schedules import build_schedule
from routing_engine.sources.format_errors import errors_to_diagnostics
from routing_engine.sources.model_fallbacks import EntrySpec, FallbackSpec
from routing_engine.sources.raw import Path, RawDocument


@dataclass(slots=True)
class Built:
    """What the builder made of a set of documents."""

    deployment_doc: tuple[RawDocument, m.DeploymentDocument] | None = None
    extra_deployments: list[RawDocument] = field(default_factory=list)
    flows: list[ir.Flow] = field(default_factory=list)
    modules: list[ir.Module] = field(default_factory=list)
    deployment_broken: bool = False  # some of the deployment document was left out
    diagnostics: list[Diagnostic] = field(default_factory=list)


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


def _start(doc: RawDocument, start: str) -> ir.Ref:
    return ref_at(doc, ("start",), start if isinstance(doc.data.get("start"), str) else "")


def build_flow(doc: RawDocument, diags: list[Diagnostic]) -> ir.Flow | None:
    head = _header(doc, m.FlowDocument, "flow", diags)
    if head is None:
        return None
    nodes, broken = nodes_of(doc, diags)
    limit = getattr(head, "resolve_within", None)
    notify = getattr(head, "notify", None) or []
    own = getattr(head, "fallback", None)
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
        None if limit is None else duration_at(doc, ("resolve_within",), limit),
        refs_at(doc, (), "notify", notify),
        None if own is None else build_fallback(doc, (), own),
    )


def build_module(doc: RawDocument, diags: list[Diagnostic]) -> ir.Module | None:
    head = _header(doc, m.ModuleDocument, "module", diags)
    if head is None:
        return None
    params = tuple(
        ir.Param(
            name,
            spec.type,
            spec.default,
            doc.key_span(("params", name)),
            doc.value_span(("params", name, "default")),
        )
        for name, spec in (head.params or {}).items()
    )
    nodes, broken = nodes_of(doc, diags)
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


def build_documents(documents: Iterable[RawDocument]) -> Built:
    """Sort documents into the deployment and its flows; validate each against the format."""
    built = Built()
    for doc in documents:
        match _kind_of(doc, built.diagnostics):
            case "flow":
                flow = build_flow(doc, built.diagnostics)
                if flow is not None:
                    built.flows.append(flow)
            case "module":
                module = build_module(doc, built.diagnostics)
                if module is not None:
                    built.modules.append(module)
            case "deployment":
                _add_deployment(built, doc)
    return built


def _kind_of(doc: RawDocument, diags: list[Diagnostic]) -> str | None:
    """The document's kind (deployment, flow or module), or None when it has none (reported,
    unless the document is empty: a file of comments only is allowed)."""
    data = doc.data
    if data is None:
        return None
    if not isinstance(data, dict):
        diags.append(
            Diagnostic(
                "S106",
                Severity.ERROR,
                "a document must be a mapping starting with 'deployment:' or 'flow:'",
                doc.span,
            )
        )
        return None
    kinds = [k for k in m.DOCUMENT_KINDS if k in data]
    if len(kinds) == 1:
        return kinds[0]
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
    diags.append(Diagnostic("S106", Severity.ERROR, message, doc.span, hint))
    return None


def _add_deployment(built: Built, doc: RawDocument) -> None:
    """The first deployment document is the deployment; the others are reported later."""
    if built.deployment_doc is not None:
        built.extra_deployments.append(doc)
        return
    try:
        built.deployment_doc = (doc, m.DeploymentDocument.model_validate(doc.data))
    except ValidationError as error:
        built.diagnostics.extend(
            errors_to_diagnostics(doc, m.DeploymentDocument, (), error, "deployment")
        )
        recovered = _without_errors(doc.data, error)
        if recovered is None:
            built.extra_deployments.append(doc)  # seen, so no 'missing deployment' on top
        else:  # reported; the rest still counts, so the flows are checked against it
            built.deployment_doc = (doc, recovered)
            built.deployment_broken = True


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
        elif len(loc) == 3 and loc[0] == "entries":  # an entry without its flow: left out
            written = trimmed.get("entries")
            if isinstance(written, dict):
                written.pop(loc[1], None)
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


def build_fallback(doc: RawDocument, base: Path, fb: FallbackSpec) -> ir.Fallback:
    """A `fallback:` mapping (the deployment's, a flow's or an entry's) at `base`."""
    return ir.Fallback(
        refs_at(doc, (*base, "fallback"), "ring", fb.ring),
        duration_at(doc, (*base, "fallback", "timeout"), fb.timeout),
        fb.say,
        doc.key_span((*base, "fallback")),
    )


def _entry(doc: RawDocument, number: str, entry: EntrySpec) -> ir.Entry:
    """`NUMBER: FLOW`, or `NUMBER: {flow: FLOW, fallback: {...}}` with the line's fallback."""
    here = ("entries", number)
    written = doc.data.get("entries") if isinstance(doc.data, dict) else None
    long_form = isinstance(written, dict) and isinstance(written.get(number), dict)
    flow = ref_at(doc, (*here, "flow") if long_form else here, entry.flow)
    fallback = None if entry.fallback is None else build_fallback(doc, here, entry.fallback)
    return ir.Entry(number, flow, doc.key_span(here), fallback)


def _targets(doc: RawDocument, spec: m.DeploymentDocument) -> tuple[ir.Target, ...]:
    """The targets, each with the trunk its number goes through when it names one."""
    return tuple(
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
            None if t.trunk is None else ref_at(doc, ("targets", name, "trunk"), t.trunk),
            doc.value_span(("targets", name, "uri")),
        )
        for name, t in spec.targets.items()
    )


def _deployment(
    doc: RawDocument, spec: m.DeploymentDocument, flows: list[ir.Flow], diags: list[Diagnostic]
) -> ir.Deployment:
    entries = tuple(_entry(doc, number, entry) for number, entry in spec.entries.items())
    targets = _targets(doc, spec)
    contacts = tuple(
        ir.Contact(
            name,
            c.name,
            c.email,
            c.webhook,
            doc.key_span(("contacts", name)),
            doc.value_span(("contacts", name, "webhook")),
        )
        for name, c in spec.contacts.items()
    )
    fallback = build_fallback(doc, (), spec.fallback)
    return ir.Deployment(
        name=spec.deployment,
        flows=tuple(flows),
        entries=entries,
        targets=targets,
        contacts=contacts,
        schedules=tuple(build_schedule(doc, name, s, diags) for name, s in spec.schedules.items()),
        fallback=fallback,
        ring_cadence=duration_at(doc, ("ring_cadence",), spec.ring_cadence),
        caller_max_wait=duration_at(doc, ("caller_max_wait",), spec.caller_max_wait),
        caller_max_wait_severity=spec.caller_max_wait_severity,
        max_steps=spec.max_steps,
        wrap_up=duration_at(doc, ("wrap_up",), spec.wrap_up),
        allow_webhook_networks=tuple(spec.allow_webhook_networks),
        description=spec.description,
        span=doc.key_span(("deployment",)),
        boards=tuple(
            ir.Board(name, b.name, doc.key_span(("boards", name)))
            for name, b in spec.boards.items()
        ),
        trunks=tuple(
            ir.Trunk(
                name, t.uri, doc.key_span(("trunks", name)), doc.value_span(("trunks", name, "uri"))
            )
            for name, t in spec.trunks.items()
        ),
        default_trunk=(
            None
            if spec.default_trunk is None
            else ref_at(doc, ("default_trunk",), spec.default_trunk)
        ),
    )
