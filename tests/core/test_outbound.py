"""The address policy of outbound requests, as pure functions: every way of writing an
internal address is read as that address and refused; public ones and allowed networks pass;
webhook URLs are judged as written."""

from __future__ import annotations

import ipaddress

import pytest

from routing_engine.core.outbound import (
    network_text,
    networks,
    parse_ip,
    refusal,
    webhook_problem,
)

LOOPBACK_FORMS = [
    "127.0.0.1",
    "127.1",  # fewer parts: the last fills the rest
    "127.0.1",
    "2130706433",  # one decimal number
    "0x7f000001",  # hex
    "0X7F000001",
    "0x7f.0x0.0x0.0x1",
    "0177.0.0.1",  # octal
    "0177.1",
    "017700000001",
    "127.0.0.1.",  # a trailing dot
    "[::1]",
    "::1",
    "0:0:0:0:0:0:0:1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "[::ffff:7f00:1]",
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
]


@pytest.mark.parametrize("host", LOOPBACK_FORMS)
def test_every_form_of_a_loopback_address_is_read_and_refused(host: str) -> None:
    address = parse_ip(host)
    assert address is not None
    reason = refusal(address)
    assert reason is not None and "loopback" in reason


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("fe80::1", "link-local"),
        ("fe80::1%25eth0", "link-local"),  # a zone id, as a URL writes it
        ("[fe80::1%eth0]", "link-local"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("0xa000001", "private"),  # 10.0.0.1
        ("::ffff:10.0.0.1", "private"),
        ("fd00::1", "private"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "not a public"),  # shared address space (carrier NAT)
    ],
)
def test_internal_addresses_are_refused_saying_what_they_are(host: str, kind: str) -> None:
    address = parse_ip(host)
    assert address is not None
    reason = refusal(address)
    assert reason is not None and kind in reason


@pytest.mark.parametrize("host", ["8.8.8.8", "93.184.216.34", "2606:4700::1111", "0x08080808"])
def test_public_addresses_pass(host: str) -> None:
    address = parse_ip(host)
    assert address is not None and refusal(address) is None


@pytest.mark.parametrize(
    "host", ["example.com", "hooks.example.com", "1.2.3.4.5", "256.1.1.1", "08.1", "x1", "::g"]
)
def test_names_and_what_no_resolver_reads_as_an_address_are_names(host: str) -> None:
    assert parse_ip(host) is None


def test_an_allowed_network_lets_its_addresses_through_and_no_others() -> None:
    allowed = networks(["10.20.0.0/16", "127.0.0.0/8", "fd00:1::/32"])
    assert refusal(ipaddress.ip_address("10.20.3.4"), allowed) is None
    assert refusal(ipaddress.ip_address("::ffff:10.20.3.4"), allowed) is None
    assert refusal(ipaddress.ip_address("127.0.0.1"), allowed) is None
    assert refusal(ipaddress.ip_address("fd00:1::5"), allowed) is None
    assert refusal(ipaddress.ip_address("10.21.0.1"), allowed) is not None
    assert refusal(ipaddress.ip_address("169.254.169.254"), allowed) is not None


def test_webhook_urls_are_judged_as_written() -> None:
    assert webhook_problem("/notifications/inbox") is None
    assert webhook_problem("https://hooks.example.com/T000/B000?token=x") is None
    credentials = webhook_problem("http://user:pass@10.0.0.1:6379/")
    assert credentials is not None and "credentials" in credentials.reason
    assert credentials.network == ""
    token_only = webhook_problem("https://token@hooks.example.com/")
    assert token_only is not None and "credentials" in token_only.reason
    metadata = webhook_problem("http://169.254.169.254/latest/meta-data")
    assert metadata is not None and metadata.network == "169.254.169.254/32"
    mapped = webhook_problem("http://[::ffff:10.0.0.1]/")
    assert mapped is not None and mapped.network == "10.0.0.1/32"
    ipv6 = webhook_problem("http://[::1]:22/")
    assert ipv6 is not None and ipv6.network == "::1/128"
    local = webhook_problem("http://localhost:8080/")
    assert local is not None and local.network == "127.0.0.0/8"
    assert webhook_problem("http://api.localhost/") is not None
    assert webhook_problem("http://notlocalhost.example/") is None
    allowed = networks(["127.0.0.0/8"])
    assert webhook_problem("http://localhost:8080/", allowed) is None
    assert webhook_problem("http://0x7f000001/", allowed) is None
    bad = webhook_problem("http://[::1/")
    assert bad is not None and "cannot be read" in bad.reason


def test_networks_are_checked_as_written() -> None:
    assert network_text("10.20.0.0/16") == "10.20.0.0/16"
    assert network_text("10.20.1.1/16") == "10.20.0.0/16"  # host bits set: its network
    assert network_text("127.0.0.1") == "127.0.0.1/32"
    for wrong in ("10.20.0.0/33", "ten", "", "10.20/16x"):
        with pytest.raises(ValueError, match="is not a network"):
            network_text(wrong)
