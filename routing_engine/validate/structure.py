"""S1xx: structure. Most are reported by the readers and the builder as they read; the rules
with functions here check names, conditions, target kinds and schedules across the whole
deployment (references are checked in `references.py`, module uses in `modules.py`)."""

from __future__ import annotations

from collections.abc import Iterator

from routing_engine.core import ir
from routing_engine.core.analysis import Unit
from routing_engine.core.context import Context
from routing_engine.validate.registry import Finding, reader_rule, rule

reader_rule(
    "S100",
    "syntax-error",
    """
    The file is not valid YAML (or DSL): it cannot be read at all.

    Why it matters: nothing in the file can be checked until it parses.
    Example: a quoted string that is never closed, `say: "Welcome`.
""",
)
reader_rule(
    "S101",
    "refused-input",
    """
    The file was refused before reading: too large, nested too deeply, not UTF-8 text, or using
    YAML anchors, aliases or tags; or it crossed a limit while being read: over 1,000
    documents, 20,000 keys or 40,000 values in one file, or over 32 MiB or 2,000,000 values
    in the whole deployment (module folders included). The diagnostic points where the limit
    was crossed.

    Why it matters: flow files are data. Aliases can expand a tiny file into gigabytes, tags can
    ask a YAML loader to build objects, and deep nesting crashes parsers. Four bytes (`---`)
    make a YAML document and a few more a key, each worth hundreds of bytes once read: the
    limits keep a hostile file from costing the service gigabytes and seconds.
    Example: `defaults: &d {timeout: 20s}` (an anchor), or a file of a million `---` lines.
""",
)
reader_rule(
    "S102",
    "missing-field",
    """
    A required field is missing.

    Why it matters: the node cannot do its job without it.
    Example: a `menu` node without `fallback`, or a deployment without `fallback`. A node's
    `attempts` and `exhausted` come together: one without the other is reported here.
""",
)
reader_rule(
    "S103",
    "unknown-field",
    """
    A field that this node kind (or document) does not have; often a typo.

    Why it matters: an unknown field is silently ignored by lax tools, so a misspelt
    `timout: 2 rings` would leave the default timeout in place. We refuse it and suggest the
    closest real field.
    Example: `timout: 2 rings` on a ring node (did you mean 'timeout'?).
""",
)
reader_rule(
    "S104",
    "bad-duration",
    """
    A duration that cannot be read.

    Durations are a number and a unit: `2 rings`, `20s`, `90 seconds`, `15m`, `1h`. Rings are
    turned into seconds with the deployment's `ring_cadence` (6 s by default).
    Example: `timeout: 2 ringz`.
""",
)
reader_rule(
    "S105",
    "invalid-value",
    """
    A value of the wrong type or form: a word where a number belongs, an invalid name, a menu
    option that is not digits, a dialed number that is not E.164.

    Example: `retries: twice`, or an entry `"212-555-0100": main`.
""",
)
reader_rule(
    "S106",
    "unknown-kind",
    """
    A node (or document) whose kind cannot be told: none of the node kinds (menu, ring, queue,
    branch, say, set, ticket, voicemail, hangup) is among its keys, or a document is neither a
    deployment nor a flow.

    Example: `rng: cardiology-office` (did you mean 'ring'?).
""",
)
reader_rule(
    "S109",
    "deployment-document",
    """
    A deployment needs exactly one deployment document (`deployment: NAME`, usually in
    deployment.yaml) with its entries, targets and fallback.

    Example: a directory of flow files with no deployment.yaml, or two of them.
""",
)
reader_rule(
    "S110",
    "unknown-outcome",
    """
    A handler for an outcome that the node cannot produce.

    A ring node produces `answered`, `no-answer`, `busy` and `failed`, plus whatever the
    answering party reports, which must be listed under `reports`. A queue produces `answered`
    and `timeout`.
    Example: `on: {no-anwser: voicemail}`, or `on: {needs-office: ...}` without
    `reports: [needs-office]`.
""",
)
reader_rule(
    "S116",
    "more-problems",
    """
    The file has more problems than are shown: only its first 100 diagnostics are listed, then
    this one counts the rest ("and N more").

    Why it matters: a generated or broken file (a hundred thousand duplicate keys) would bury
    the first, useful problems under a wall of the same one, and cost memory and time to
    report. Fix the ones shown and check again. It is an error when any problem left out is.
    Example: a file with 150 duplicate keys shows 100 S107 diagnostics and "and 50 more".
""",
)


@rule("S107", "duplicate-id")
def duplicate_ids(ctx: Context) -> Iterator[Finding]:
    """Two things of the same sort share a name: flows, nodes of one flow, targets, contacts,
    or dialed numbers.

    Why it matters: a reference to that name would be ambiguous, and one of the two would be
    silently lost.
    Example: two files that both say `flow: billing`.
    """

    def dups(kind: str, items: list[tuple[str, ir.Span]]) -> Iterator[Finding]:
        first: dict[str, ir.Span] = {}
        for name, span in items:
            if name in first:
                yield Finding(
                    f"duplicate {kind} '{name}' (first at {first[name]})",
                    span,
                    f"rename one of the two {kind}s",
                )
            else:
                first[name] = span

    d = ctx.deployment
    yield from dups("flow", [(f.name, f.span) for f in d.flows])
    yield from dups("module", [(m.name, m.span) for m in d.modules])
    units: list[Unit] = [*d.flows, *d.modules]
    for unit in units:
        yield from dups("node", [(n.id, n.span) for n in unit.nodes])
    for key, use_key in ctx.index.clashes.items():
        yield Finding(
            f"node '{key[1]}' has the name of a node of module use '{use_key[1]}'",
            ctx.index.nodes[key].span,
            f"rename it: '{use_key[1]}.NODE' names the nodes that use copies from its module",
        )
    yield from dups("target", [(t.name, t.span) for t in d.targets])
    yield from dups("contact", [(c.name, c.span) for c in d.contacts])
    yield from dups("schedule", [(s.name, s.span) for s in d.schedules])
    yield from dups("entry", [(e.number, e.span) for e in d.entries])


@rule("S111", "bad-condition")
def bad_conditions(ctx: Context) -> Iterator[Finding]:
    """A `when` condition that cannot be read: a syntax error, an unknown name or function,
    or an expression too long or too deeply nested.

    Conditions are our own small language (never Python): comparisons (`==`, `!=`, `<`, `<=`,
    `>`, `>=`), `in`, `not in`, `has`, `and`, `or`, `not`, parentheses, over names such as
    `caller.state`, `dialed` and `vars.x`, and a fixed set of functions such as
    `available("target")`.
    Example: `when: caller.state = "NY"` (compare with '==').
    """
    for problem in ctx.condition_problems:
        yield Finding(problem.message, problem.span, problem.hint)


@rule("S112", "wrong-target-kind")
def wrong_target_kind(ctx: Context) -> Iterator[Finding]:
    """A ring node that rings a queue target, or a queue node whose target is not a queue.

    Why it matters: a queue is waited in, not rung; the telephony system would be asked to do
    something it cannot.
    Example: `queue: billing-office` where billing-office is a `line`.
    """
    for node in ctx.index.nodes.values():
        match node:
            case ir.Ring():
                for ref in node.targets:
                    target = ctx.index.targets.get(ref.name)
                    if target is not None and target.kind is ir.TargetKind.QUEUE:
                        yield Finding(
                            f"ring node '{node.id}' rings '{ref.name}', which is a queue",
                            ref.span,
                            "use a queue node for queue targets",
                        )
            case ir.Queue():
                target = ctx.index.targets.get(node.queue.name)
                if target is not None and target.kind is not ir.TargetKind.QUEUE:
                    yield Finding(
                        f"queue node '{node.id}' waits in '{node.queue.name}', which is a "
                        f"{target.kind.value}, not a queue",
                        node.queue.span,
                        "use a ring node, or declare the target with 'kind: queue'",
                    )
            case _:
                pass


@rule("S113", "bad-schedule")
def bad_schedules(ctx: Context) -> Iterator[Finding]:
    """A schedule whose time zone or holiday calendar does not exist.

    Time zones are IANA names (`America/New_York`, `Europe/London`); holiday calendars are a
    country code, optionally with a subdivision (`US`, `US-NY`, `GB-SCT`), as the `holidays`
    package knows them.
    Example: `timezone: America/NewYork`.
    """
    for schedule in ctx.deployment.schedules:
        problem = ctx.schedule_problems.get(schedule.name)
        if problem is not None:
            zone = "time zone" in problem
            hint = (
                "use an IANA name such as America/New_York"
                if zone
                else "use a country code, optionally with a subdivision: US, US-NY"
            )
            span = schedule.timezone_span if zone else schedule.holidays_span
            yield Finding(f"{problem} (schedule '{schedule.name}')", span, hint)
