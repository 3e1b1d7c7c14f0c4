"""S117, S118: every target a SIP proxy may be told to ring is dialable. A trunk's template
must make a SIP URI of any number (S117); a target must be a SIP URI, or a number with a trunk
to go through when the deployment dials over SIP (S118). An unknown trunk is S108's."""

from __future__ import annotations

from collections.abc import Iterator

from routing_engine.core import ir
from routing_engine.core.context import Context
from routing_engine.core.trunks import number_of, sip_problem, template_problem
from routing_engine.validate.registry import Finding, rule

TEMPLATE_HINT = "write a SIP URI with the number as its user part: sip:{number}@gateway.example"


@rule("S117", "bad-trunk")
def bad_trunks(ctx: Context) -> Iterator[Finding]:
    """A trunk whose `uri` template cannot make a SIP URI a proxy can dial.

    A trunk (`trunks:` in the deployment) is how a SIP proxy reaches phone numbers: its `uri`
    is a SIP or SIPS URI in which `{number}` stands for the E.164 number with its '+'
    (`{digits}`: without it), once, as the user part, before '@' and the gateway's host. The
    rest is checked as SIP: a host name or an address, a port in 1-65535, `;param=value`
    parameters (a `transport` of udp, tcp, tls, sctp, ws or wss), and no password.

    Why it matters: `/v1/route` answers the proxy this URI for every external number; a bad
    one fails every call that overflows to it, at the worst moment.
    Example: `uri: gateway.example` (no scheme, no `{number}`).
    """
    for trunk in ctx.deployment.trunks:
        problem = template_problem(trunk.uri)
        if problem is not None:
            yield Finding(
                f"trunk '{trunk.name}': uri '{trunk.uri}' cannot be dialed: {problem}",
                trunk.uri_span,
                TEMPLATE_HINT + ";transport=tls",
                f'{TEMPLATE_HINT} (quoted when it holds "="): '
                'uri "sip:{number}@gateway.example;transport=tls"',
            )


@rule("S118", "undialable-target")
def undialable_targets(ctx: Context) -> Iterator[Finding]:
    """A target that a SIP proxy could not be told to ring.

    A target's `uri` is a SIP or SIPS URI, or an E.164 number (`+443005550100`, or
    `tel:+443005550100`). A number is dialed over SIP through a trunk: the target's `trunk`,
    else the deployment's `default_trunk`, else its only trunk. With several trunks and no
    default, a number target must name its trunk. A deployment with no trunks at all dials
    numbers directly (Twilio, Amazon Connect): its numbers are fine, and a SIP proxy's
    `/v1/route` leaves them out. A `trunk` on a target whose `uri` is a SIP URI is an error
    too: trunks dial numbers.

    Why it matters: the proxy gets only URIs it can dial; a target it cannot reach would be a
    silent gap in the routing, found when a caller is dropped.
    Example: `uri: er-nurse@mercy.example` (no `sip:`).
    """
    deployment = ctx.deployment
    trunks = [trunk.name for trunk in deployment.trunks]
    for target in deployment.targets:
        number = number_of(target.uri)
        if number is None:
            yield from _not_a_number(target)
        elif len(trunks) > 1 and target.trunk is None and deployment.default_trunk is None:
            choices = ", ".join(trunks)
            yield Finding(
                f"target '{target.name}': number {number} has no trunk to be dialed through "
                f"(the deployment has several: {choices}, and no default_trunk)",
                target.uri_span,
                f"name it: 'trunk: {trunks[0]}', or set the deployment's 'default_trunk'",
                f"name it: 'trunk {trunks[0]}', or set the deployment's 'default_trunk'",
            )


def _not_a_number(target: ir.Target) -> Iterator[Finding]:
    problem = sip_problem(target.uri)
    if problem is not None:
        yield Finding(
            f"target '{target.name}': uri '{target.uri}' cannot be dialed: {problem}, nor an "
            "E.164 number",
            target.uri_span,
            "write a SIP URI (sip:desk@example.com) or an E.164 number (+12125550100)",
        )
    elif target.trunk is not None:
        yield Finding(
            f"target '{target.name}' names trunk '{target.trunk.name}', but its uri is a SIP "
            "URI already: trunks dial numbers",
            target.trunk.span,
            "leave the trunk out, or write the target's uri as its E.164 number",
        )
