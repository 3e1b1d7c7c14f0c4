"""SIP trunks: how a target's phone number becomes a SIP URI a proxy can dial.

A deployment declares the trunks (or gateways) external numbers are dialed through, each a SIP
URI template in which `{number}` stands for the E.164 number with its '+' and `{digits}` for
it without: `sip:{number}@gateway.example;transport=tls`. A target whose `uri` is a number
goes through its own `trunk`, else the deployment's `default_trunk`, else its only trunk.
Validation (S117, S118) says what cannot be dialed; the compiler works every target's SIP URI
out once (`dial_uris`), so the per-request path does no parsing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from routing_engine.core import ir

# Each placeholder, and how much of the E.164 number it takes: all of it, or past its '+'.
PLACEHOLDERS = {"{number}": 0, "{digits}": 1}
SAMPLE_NUMBER = "+15555550100"  # what a template is checked with
TRANSPORTS = frozenset({"udp", "tcp", "tls", "sctp", "ws", "wss"})

_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_UNRESERVED = r"A-Za-z0-9\-_.!~*'()"
_USER = rf"(?:[{_UNRESERVED}&=+$,;?/]|%[0-9A-Fa-f]{{2}})+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
_HOST = rf"(?:(?:{_LABEL}\.)*{_LABEL}\.?|\[[0-9A-Fa-f:.]+\])"
_PARAM_CHARS = rf"(?:[{_UNRESERVED}\[\]/:&+$]|%[0-9A-Fa-f]{{2}})+"
_SIP_URI = re.compile(
    rf"(?P<scheme>sips?):(?:(?P<user>{_USER})(?P<password>:[^@]*)?@)?(?P<host>{_HOST})"
    rf"(?::(?P<port>[0-9]{{1,5}}))?(?P<params>(?:;{_PARAM_CHARS}(?:={_PARAM_CHARS})?)*)"
    rf"(?:\?(?P<headers>{_PARAM_CHARS}=(?:{_PARAM_CHARS})?(?:&{_PARAM_CHARS}=(?:{_PARAM_CHARS})?)*))?",
    re.IGNORECASE,
)


def number_of(uri: str) -> str | None:
    """The E.164 number a target's `uri` is (`+443005550100`, `tel:+443005550100`), else
    None."""
    bare = uri[4:] if uri.lower().startswith("tel:") else uri
    return bare if _E164.fullmatch(bare) else None


def sip_problem(uri: str) -> str | None:
    """What keeps `uri` from being a SIP or SIPS URI a proxy can dial, or None."""
    if not uri.lower().startswith(("sip:", "sips:")):
        return "it is no SIP URI (sip: or sips:)"
    found = _SIP_URI.fullmatch(uri)
    if found is None:
        return "it is no valid SIP URI (sip:user@host[:port][;param=value])"
    if found["password"] is not None:
        return "it carries a password (user:password@)"
    port = found["port"]
    if port is not None and not 0 < int(port) <= 65535:
        return f"port {port} is out of range (1-65535)"
    for param in found["params"].split(";")[1:]:
        name, _, value = param.partition("=")
        if name.lower() == "transport" and value.lower() not in TRANSPORTS:
            return f"transport '{value}' is none of {', '.join(sorted(TRANSPORTS))}"
    return None


def is_sip_uri(uri: str) -> bool:
    return sip_problem(uri) is None


def template_problem(template: str) -> str | None:
    """What is wrong with a trunk's URI template, or None: it must hold one placeholder,
    `{number}` or `{digits}`, in its user part, and be a valid SIP URI once it is filled."""
    if not template.lower().startswith(("sip:", "sips:")):
        return "it is no SIP URI (sip: or sips:)"
    held = [p for p in PLACEHOLDERS if p in template]
    count = sum(template.count(p) for p in PLACEHOLDERS)
    if count == 0:
        return "it has no {number} (or {digits}) where the number goes"
    if count > 1:
        return "it has more than one placeholder; write {number} (or {digits}) once"
    at = template.find("@")
    if at < 0 or template.find(held[0]) > at:
        return "{number} must be the user part, before '@' and the gateway's host"
    filled = fill(template, SAMPLE_NUMBER)
    if "{" in filled or "}" in filled:
        return "only {number} and {digits} may stand in braces"
    problem = sip_problem(filled)
    return None if problem is None else f"filled with a number, {problem}"


def fill(template: str, number: str) -> str:
    """The template with the number put in."""
    for placeholder, skip in PLACEHOLDERS.items():
        template = template.replace(placeholder, number[skip:])
    return template


def trunk_of(deployment: ir.Deployment, target: ir.Target) -> ir.Trunk | None:
    """The trunk a target's number is dialed through: its own, else the deployment's
    default, else its only trunk; None when none is declared or the choice is unclear."""
    trunks = {trunk.name: trunk for trunk in deployment.trunks}
    if target.trunk is not None:
        return trunks.get(target.trunk.name)
    if deployment.default_trunk is not None:
        return trunks.get(deployment.default_trunk.name)
    return deployment.trunks[0] if len(deployment.trunks) == 1 else None


def dial_uris(deployment: ir.Deployment) -> Mapping[str, str]:
    """Each number target's SIP URI through its trunk (targets whose `uri` is a SIP URI
    already, and numbers with no usable trunk, are left out)."""
    uris: dict[str, str] = {}
    for target in deployment.targets:
        number = number_of(target.uri)
        trunk = None if number is None else trunk_of(deployment, target)
        if number is not None and trunk is not None and template_problem(trunk.uri) is None:
            uris[target.name] = fill(trunk.uri, number)
    return uris
