"""S115: where notifications may be sent. A webhook's URL is checked as written (its literal
address, its credentials); a name is checked again, resolved, at each delivery."""

from __future__ import annotations

from collections.abc import Iterator

from routing_engine.core.context import Context
from routing_engine.core.outbound import networks, webhook_problem
from routing_engine.validate.registry import Finding, rule

HINT = (
    "point it at a public address or name; to reach an internal network on purpose, allow it "
    "in the deployment: 'allow_webhook_networks: [{network}]'"
)
DSL_HINT = (
    "point it at a public address or name; to reach an internal network on purpose, allow it "
    "in the deployment: 'allow_webhook_networks {network}'"
)
CREDENTIALS_HINT = (
    "leave 'user:password@' out of the URL: a receiver checks the X-Routing-Signature header "
    "instead (or takes a token in the path)"
)

URL_HINT = "write an http:// or https:// URL, or a path of this server such as /notifications/inbox"


@rule("S115", "unsafe-webhook")
def unsafe_webhooks(ctx: Context) -> Iterator[Finding]:
    """A webhook that points at this machine or an internal network, or carries credentials.

    Refused: loopback (`127.0.0.1`, `[::1]`, `localhost`), link-local (`169.254.169.254`, the
    cloud metadata service), private (`10.0.0.1`), shared, multicast, unspecified and reserved
    addresses, in any form (`2130706433`, `0x7f000001`, `0177.1`, `::ffff:127.0.0.1`), unless
    the deployment names the network in `allow_webhook_networks`; and `user:password@` in the
    URL. A path of the engine's own server (`/notifications/inbox`) is always fine.

    Why it matters: a flow file could otherwise make the server POST to services that trust
    requests from inside (databases, cloud metadata), with whatever the URL carries.
    Example: `webhook: http://169.254.169.254/latest/meta-data`.
    """
    allowed = networks(ctx.deployment.allow_webhook_networks)
    for contact in ctx.deployment.contacts:
        refused = webhook_problem(contact.webhook, allowed) if contact.webhook else None
        if refused is None:
            continue
        message = f"contact '{contact.name}': webhook refused: {refused.reason}"
        if not refused.network:
            hint = CREDENTIALS_HINT if "credentials" in refused.reason else URL_HINT
            yield Finding(message, contact.webhook_span, hint)
            continue
        yield Finding(
            message,
            contact.webhook_span,
            HINT.format(network=refused.network),
            DSL_HINT.format(network=refused.network),
        )
