"""G205 and W302: how long a caller may wait unanswered, against the deployment's
`caller_max_wait` (the figures are worked out in `core/waits.py`)."""

from __future__ import annotations

import math
from collections.abc import Iterator

from routing_engine.core import ir
from routing_engine.core.context import Context
from routing_engine.core.diagnostics import Severity
from routing_engine.core.waits import Wait, Waits, say_seconds
from routing_engine.validate.registry import Finding, rule

_HINT = (
    "shorten the timeouts, ring fewer targets one by one, lower the attempts, or raise "
    "caller_max_wait"
)


@rule("G205", "wait-over-limit")
def wait_over_limit(ctx: Context) -> Iterator[Finding]:
    """A dialed number whose caller may ring, queue and listen unanswered longer than the
    deployment's `caller_max_wait` (2 minutes unless set).

    The worst case adds up, along the worst way from the number: each ring node's timeout
    (times its targets when rung one by one), each queue's `max_wait`, each menu's prompt and
    timeout (times `retries + 1`), and each announcement and voicemail prompt (read at 150
    words a minute); a loop counts as often as its `attempts` let it. Someone answering ends
    the wait. It is reported at the ring or queue where the wait passes the limit (in the
    module's file when that node is a module's), and `validate --verbose` and `paths` show
    every number's figure. With `caller_max_wait_severity: warning` it is W302 instead. It is
    not reported while a name of the map is unknown or a node broken (the worst way is not
    known then), nor for a loop without a bound (G203 reports that).
    Example: `caller_max_wait: 60s`, and a number that rings the office 4 rings (24 s), then
    the offshore center 60 s: 84 s.
    """
    if ctx.deployment.caller_max_wait_severity != "warning":
        yield from _over_limit(ctx)


@rule("W302", "ring-budget", Severity.WARNING)
def ring_budget(ctx: Context) -> Iterator[Finding]:
    """A dialed number whose caller may wait unanswered longer than `caller_max_wait`, in a
    deployment that asks for a warning (`caller_max_wait_severity: warning`) rather than an
    error (G205, which explains the figures).

    Example: `caller_max_wait: 60s` with `caller_max_wait_severity: warning`, and a number that
    rings the office 30 s, plays an announcement, then rings the offshore center 70 s.
    """
    if ctx.deployment.caller_max_wait_severity == "warning":
        yield from _over_limit(ctx)


def _over_limit(ctx: Context) -> Iterator[Finding]:
    if (
        ctx.deployment.broken
        or ctx.deployment.incomplete
        or any(unit.broken for _, unit in ctx.index.units())
        or any(t is None for _, _, t in ctx.index.edges())
    ):
        return  # past a broken node or a misspelt name, the worst way is not known
    cadence = ctx.deployment.ring_cadence.seconds(6.0)
    limit = ctx.deployment.caller_max_wait.seconds(cadence)
    waits = Waits(ctx)
    for entry, wait in waits.entries():
        if math.isinf(wait.seconds) or wait.seconds <= limit:
            continue  # a wait without end is a loop without a bound: G203 reports it
        node = _where(ctx, wait, limit)
        yield Finding(
            f"a caller of {entry.number} may wait unanswered {say_seconds(wait.seconds)} "
            f"(ringing, queueing and prompts), over the caller_max_wait of "
            f"{say_seconds(limit)}: it is passed at node '{node.id}'",
            node.span,
            _HINT,
        )


def _where(ctx: Context, wait: Wait, limit: float) -> ir.Node:
    """The ring or queue of the worst way where the wait passes the limit (else the node
    where it does)."""
    passed: ir.Node | None = None
    for step in wait.steps:
        node = ctx.index.nodes.get(step.key)
        if node is None or step.seconds <= limit:
            continue
        passed = passed or node
        if isinstance(node, (ir.Ring, ir.Queue)):
            return node
    assert passed is not None  # the way's last step holds its whole wait, over the limit
    return passed
