"""`allow_webhook_networks` in both syntaxes: the same networks in the model, malformed ones
reported where they are written, lossless conversion, and S115's hint in the syntax of the
file it points at (the rule itself has its fixture in fixtures/diagnostics)."""

from __future__ import annotations

from pathlib import Path

from conftest import write_files

from routing_engine import check, load_deployment
from routing_engine.sources.convert import convert_text

FLOW = "flow main\n  bye: hangup\n"
DSL = """
deployment d
  allow_webhook_networks {networks}
  fallback
    ring desk
  entry +12125550100 -> main
  target desk
    uri sip:desk@example.com
  contact ops
    webhook {hook}
"""
YAML = """
deployment: d
allow_webhook_networks: [{networks}]
fallback:
  ring: desk
entries:
  "+12125550100": main
targets:
  desk:
    uri: sip:desk@example.com
contacts:
  ops:
    webhook: {hook}
"""


def deployment(root: Path, syntax: str, networks: str, hook: str) -> Path:
    text = (DSL if syntax == "dsl" else YAML).format(networks=networks, hook=hook)
    suffix = "flow" if syntax == "dsl" else "yaml"
    return write_files(root, {f"deployment.{suffix}": text, "main.flow": FLOW})


def test_both_syntaxes_allow_the_same_networks(tmp_path: Path) -> None:
    written = "10.20.0.0/16, fd00:20::/32, 192.168.7.7"
    found = [
        load_deployment(
            deployment(tmp_path / syntax, syntax, written, "http://10.20.1.2/hook")
        ).compiled.deployment.allow_webhook_networks
        for syntax in ("dsl", "yaml")
    ]
    assert found[0] == found[1] == ("10.20.0.0/16", "fd00:20::/32", "192.168.7.7/32")


def test_a_malformed_network_is_reported_where_it_is_written(tmp_path: Path) -> None:
    for syntax, column in (("dsl", 40), ("yaml", 40)):
        root = deployment(tmp_path / syntax, syntax, "10.20.0.0/16, 10.0.0.0/40", "/hook")
        (problem,) = [d for d in check(root).diagnostics if d.is_error]
        assert problem.code == "S105" and "'10.0.0.0/40' is not a network" in problem.message
        assert (problem.span.line, problem.span.column) == (2, column)


def test_conversion_keeps_the_networks(tmp_path: Path) -> None:
    text = DSL.format(networks="10.20.0.0/16, fd00:20::/32", hook="http://10.20.1.2/hook")
    as_yaml, problems = convert_text(text, "deployment.flow", "dsl", "yaml")
    assert problems == [] and as_yaml is not None
    assert "allow_webhook_networks: [10.20.0.0/16, fd00:20::/32]" in as_yaml
    back, _ = convert_text(as_yaml, "deployment.yaml", "yaml", "dsl")
    assert back is not None and "  allow_webhook_networks 10.20.0.0/16, fd00:20::/32\n" in back
    again, _ = convert_text(back, "deployment.flow", "dsl", "yaml")
    assert again == as_yaml


def test_the_hint_of_a_refused_webhook_is_in_the_syntax_of_its_file(tmp_path: Path) -> None:
    hints = {}
    for syntax in ("dsl", "yaml"):
        root = deployment(tmp_path / syntax, syntax, "10.20.0.0/16", "http://169.254.169.254/x")
        (problem,) = [d for d in check(root).diagnostics if d.is_error]
        assert problem.code == "S115" and "169.254.169.254 is a link-local" in problem.message
        assert problem.span.line == (9 if syntax == "dsl" else 12)
        hints[syntax] = problem.hint
    assert "'allow_webhook_networks 169.254.169.254/32'" in hints["dsl"]
    assert "'allow_webhook_networks: [169.254.169.254/32]'" in hints["yaml"]
