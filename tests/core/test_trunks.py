"""Trunks: a number target becomes the SIP URI of its trunk's template at compile time, the
template and the targets are checked at publish (S117, S118, S108), in both syntaxes."""

from __future__ import annotations

import pytest

from routing_engine import LoadedDeployment
from routing_engine.api import check_texts
from routing_engine.core.trunks import fill, number_of, sip_problem, template_problem

pytestmark = pytest.mark.telephony

GATEWAY = "sip:+443005550100@gateway.mercy.example;transport=tls"


@pytest.mark.parametrize(
    "template",
    [
        "sip:{number}@gateway.example.com",
        "sips:{number}@gateway.example.com:5061;transport=tls",
        "sip:{digits}@203.0.113.5;user=phone",
        "sip:{number}@[2001:db8::1]:5060;transport=udp",
        "SIP:{number}@Gateway.Example.com",
    ],
)
def test_a_sip_uri_with_the_number_as_its_user_part_is_a_trunk(template: str) -> None:
    assert template_problem(template) is None


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("gateway.example.com", "no SIP URI"),
        ("tel:{number}", "no SIP URI"),
        ("sip:gateway.example.com", "no {number}"),
        ("sip:{number}@gw.example.com;x={digits}", "more than one"),
        ("sip:gw@{number}.example.com", "user part"),
        ("sip:{number}", "user part"),
        ("sip:{number}@gw.example.com;region={region}", "only {number} and {digits}"),
        ("sip:{number}:secret@gw.example.com", "password"),
        ("sip:{number}@gw.example.com:70000", "port 70000"),
        ("sip:{number}@gw.example.com;transport=carrier-pigeon", "transport"),
        ("sip:{number}@gw .example.com", "no valid SIP URI"),
    ],
)
def test_a_template_that_cannot_make_a_dialable_uri_says_why(template: str, why: str) -> None:
    problem = template_problem(template)
    assert problem is not None and why in problem


def test_numbers_are_e164_bare_or_as_tel_uris_and_fill_the_template() -> None:
    assert number_of("+443005550100") == number_of("tel:+443005550100") == "+443005550100"
    assert number_of("443005550100") is None and number_of("sip:+4430@gw.example") is None
    assert fill("sip:{number}@gw.example", "+443005550100") == "sip:+443005550100@gw.example"
    assert fill("sip:{digits}@gw.example", "+443005550100") == "sip:443005550100@gw.example"
    assert sip_problem("sip:er-nurse@mercy.example") is None
    assert sip_problem("er-nurse@mercy.example") is not None


def test_the_hospitals_offshore_number_is_dialed_through_its_carrier(
    hospital: LoadedDeployment,
) -> None:
    compiled = hospital.compiled
    assert compiled.targets["offshore-center"].sip_uri == GATEWAY
    assert compiled.targets["er-nurse"].sip_uri == ""  # a SIP URI is dialed as it is
    overflow = compiled.nodes[("cardiology", "office.ring-overflow")]
    assert [t.to_json() for t in overflow.targets] == [  # type: ignore[attr-defined]
        {"name": "offshore-center", "uri": "+443005550100", "sip_uri": GATEWAY}
    ]


DEPLOYMENT = """\
deployment test
  fallback
    ring desk
  entry +12125550100 -> main
  {trunks}
  target desk
    uri sip:desk@example.com
  target abroad
    uri +443005550100
    {trunk}

flow main
  ring-desk: ring desk, abroad for 20s
    no-answer -> bye
  bye: hangup "nobody answered"
"""


def texts(trunks: str, trunk: str = "") -> dict[str, str]:
    return {"deployment.flow": DEPLOYMENT.format(trunks=trunks, trunk=trunk)}


def dialed(trunks: str, trunk: str = "") -> str:
    result = check_texts(texts(trunks, trunk))
    assert result.compiled is not None, result.diagnostics
    return result.compiled.targets["abroad"].sip_uri


def test_a_number_takes_its_own_trunk_else_the_default_else_the_only_one() -> None:
    only = 'trunk carrier\n    uri "sip:{number}@carrier.example"'
    assert dialed(only) == "sip:+443005550100@carrier.example"
    two = only + '\n  trunk backup\n    uri "sip:{digits}@backup.example"'
    assert dialed(two, "trunk backup") == "sip:443005550100@backup.example"
    assert dialed(two + "\n  default_trunk backup") == "sip:443005550100@backup.example"
    assert dialed("") == ""  # no trunks: numbers are dialed directly (Twilio, Connect)


def problems(trunks: str, trunk: str = "") -> list[tuple[str, int, int, str]]:
    result = check_texts(texts(trunks, trunk))
    return [(d.code, d.span.line, d.span.column, d.hint) for d in result.diagnostics]


def test_the_dsl_gets_the_same_checks_with_hints_in_its_own_words() -> None:
    bad = problems("trunk carrier\n    uri sip:gateway.example.com")
    assert bad == [("S117", 6, 9, bad[0][3])]
    assert 'uri "sip:{number}@gateway.example;transport=tls"' in bad[0][3]
    two = 'trunk a\n    uri "sip:{number}@a.example"\n  trunk b\n    uri "sip:{number}@b.example"'
    (code, line, column, hint), *more = problems(two)
    assert (code, line, column, more) == ("S118", 12, 9, [])
    assert hint == "name it: 'trunk a', or set the deployment's 'default_trunk'"
    typo = problems('trunk carrier\n    uri "sip:{number}@c.example"', "trunk carier")
    assert typo == [("S108", 11, 11, "did you mean 'carrier'?")]
    none = problems("", "trunk carrier")
    assert none[0][:3] == ("S108", 10, 11) and "trunk carrier, with uri" in none[0][3]


def test_an_unquoted_template_with_parameters_is_told_to_be_quoted_in_the_dsl() -> None:
    """A SIP URI's `;transport=tls` holds '=', which the DSL reads as `name = value`."""
    (code, line, column, hint), *more = problems(
        "trunk carrier\n    uri sip:{number}@gw.example;transport=tls"
    )
    assert (code, line, column, more) == ("S100", 6, 42, [])
    assert hint.startswith("quote a value that holds '='")
