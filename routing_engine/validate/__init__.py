"""Validation: every rule over a deployment, every problem collected (never the first only)."""

from __future__ import annotations

from routing_engine.core import ir
from routing_engine.core.context import Context
from routing_engine.core.diagnostics import Diagnostic
from routing_engine.validate import (  # noqa: F401  (importing a rule module registers its rules)
    graph,
    loops,
    modules,
    references,
    sla,
    structure,
    trunks,
    waits,
    warnings,
    webhooks,
)
from routing_engine.validate.registry import RULES, Finding, Rule, reader_rule, rule, run_rules

__all__ = ["RULES", "Context", "Finding", "Rule", "reader_rule", "rule", "validate"]


def validate(deployment: ir.Deployment) -> tuple[Context, list[Diagnostic]]:
    """Run every rule; return the analysis context (reused by the compiler) and the findings."""
    context = Context.of(deployment)
    # A module's node is checked once, but its copies for each use can find the same problem
    # at the same place: keep one of each.
    return context, list(dict.fromkeys(run_rules(context)))
