"""Where outbound requests may go: the address policy of webhooks, as pure functions.

A webhook is refused when it points at this machine or at an internal network: a loopback,
link-local, private, shared, multicast, unspecified or reserved address, in whatever form the
address is written (`127.0.0.1`, `2130706433`, `0x7f000001`, `0177.1`, `::ffff:127.0.0.1`,
`[::1]`, `fe80::1%25eth0`), unless the deployment allows its network by name
(`allow_webhook_networks`). The validator applies this to URLs with a literal address; the
delivery worker applies it to every address a name resolves to, just before connecting.
A path (`/notifications/inbox`) is the engine's own server and always allowed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# The names that are this machine by definition (RFC 6761), whatever a resolver says.
LOCAL_NAMES = ("localhost", "localhost.localdomain")


def networks(written: Iterable[str]) -> tuple[Network, ...]:
    """The networks a deployment allows; a malformed one raises ValueError naming it."""
    return tuple(ipaddress.ip_network(text.strip(), strict=False) for text in written)


def network_text(value: object) -> str:
    """A network as a deployment writes it, checked (`10.20.0.0/16`; an address alone is a
    network of one); a malformed one raises ValueError saying what is expected."""
    text = str(value).strip() if isinstance(value, (str, int)) else ""
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a network: write an address and a prefix length, such as "
            "10.20.0.0/16 or fd00::/8"
        ) from None


def parse_ip(host: str) -> IP | None:
    """The address `host` spells, in any of the forms resolvers accept (dotted, a decimal,
    hex or octal number, fewer than four parts, IPv6 with brackets or a zone id), else None
    (a name)."""
    text = host.strip().removeprefix("[").removesuffix("]").replace("%25", "%")
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            return None
    return _ipv4_any_form(text.removesuffix("."))


def _ipv4_any_form(text: str) -> ipaddress.IPv4Address | None:
    """inet_aton's forms: `a.b.c.d`, `a.b.c` (c 16 bits), `a.b` (b 24 bits), `a` (32 bits),
    each part decimal, `0x` hex or `0` octal."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers = []
    for part in parts:
        number = _number(part)
        if number is None:
            return None
        numbers.append(number)
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for index, number in enumerate(leading):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _number(part: str) -> int | None:
    lowered = part.lower()
    try:
        if lowered.startswith("0x"):
            return int(lowered[2:] or "0", 16)
        if len(lowered) > 1 and lowered.startswith("0"):
            return int(lowered[1:], 8)
        return int(lowered, 10) if lowered.isdigit() else None
    except ValueError:
        return None


def refusal(address: IP, allowed: Iterable[Network] = ()) -> str | None:
    """Why a request may not go to `address` ("a loopback address", ...), or None when it may:
    a public address, or one in a network the deployment allows. An IPv6 address that carries
    an IPv4 one (mapped, 6to4) is judged by that too."""
    allowed = tuple(allowed)
    if any(address.version == net.version and address in net for net in allowed):
        return None
    plain = _plain(address)
    if plain != address:
        return refusal(plain, allowed)
    for kind, found in (
        ("an unspecified", address.is_unspecified),
        ("a loopback", address.is_loopback),
        ("a link-local", address.is_link_local),
        ("a multicast", address.is_multicast),
        ("a reserved", address.is_reserved),
        ("a private", address.is_private),
    ):
        if found:
            return f"{address} is {kind} address"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


@dataclass(frozen=True, slots=True)
class Refused:
    """Why a webhook URL is refused, and the network that allowing would take ("" when no
    network would do, as for credentials)."""

    reason: str
    network: str = ""


def _plain(address: IP) -> IP:
    """The address without its zone id, or the IPv4 address an IPv6 one carries (mapped,
    6to4)."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    bare = ipaddress.IPv6Address(address.compressed.partition("%")[0])
    return bare.ipv4_mapped or bare.sixtofour or bare


def webhook_problem(url: str, allowed: Iterable[Network] = ()) -> Refused | None:
    """What is wrong with a webhook URL as written, or None: credentials in it, or a host that
    is an address (or a name) of this machine or an internal network. A name is checked again
    when a delivery resolves it."""
    if url.startswith("/"):
        return None  # a path of the engine's own server
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError as error:
        return Refused(f"it cannot be read as a URL ({error})")
    if parts.username is not None or parts.password is not None:
        return Refused("it holds credentials (user:password@)")
    name = host.rstrip(".").lower()
    local = any(name == n or name.endswith("." + n) for n in LOCAL_NAMES)
    if local and not _allows_loopback(allowed):
        return Refused(f"'{host}' is this machine", "127.0.0.0/8")
    address = parse_ip(host)
    reason = None if address is None else refusal(address, allowed)
    if address is None or reason is None:
        return None
    plain = _plain(address)
    return Refused(reason, f"{plain}/{plain.max_prefixlen}")


def _allows_loopback(allowed: Iterable[Network]) -> bool:
    return any(net.version == 4 and ipaddress.IPv4Address("127.0.0.1") in net for net in allowed)
