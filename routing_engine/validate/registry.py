"""The rule registry: each rule is a small function, declared with its code, severity and
docstring (its user documentation: what it finds, why it matters, an example)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from routing_engine.core.diagnostics import Diagnostic, Severity
from routing_engine.core.ir import Span

DSL_SUFFIX = ".flow"  # the text DSL's files; everything else is YAML

if TYPE_CHECKING:
    from routing_engine.core.context import Context


@dataclass(frozen=True, slots=True)
class Finding:
    """What a rule reports; the registry adds the rule's code and severity.

    `hint` is written in YAML terms; a hint that shows syntax gives the DSL's wording too
    (`dsl_hint`), and the diagnostic carries the one for the file the span points at."""

    message: str
    span: Span
    hint: str = ""
    dsl_hint: str = ""

    def hint_for_file(self) -> str:
        if self.dsl_hint and self.span.file.endswith(DSL_SUFFIX):
            return self.dsl_hint
        return self.hint


Check = Callable[["Context"], Iterator[Finding]]


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    name: str
    severity: Severity
    doc: str
    check: Check | None = field(default=None, compare=False)

    @property
    def summary(self) -> str:
        """The doc's first paragraph, on one line."""
        first = self.doc.strip().split("\n\n")[0]
        return " ".join(first.split()) if first else self.name


RULES: dict[str, Rule] = {}


def _register(rule: Rule) -> None:
    if rule.code in RULES:
        raise RuntimeError(f"rule code {rule.code} declared twice")
    RULES[rule.code] = rule


def rule(code: str, name: str, severity: Severity = Severity.ERROR) -> Callable[[Check], Check]:
    """Declare a rule over the IR: `@rule("G201", "unreachable-node")` above its function."""

    def register(check: Check) -> Check:
        _register(Rule(code, name, severity, inspect.getdoc(check) or "", check))
        return check

    return register


def reader_rule(code: str, name: str, doc: str, severity: Severity = Severity.ERROR) -> None:
    """Declare a rule that the readers and the builder report (syntax, fields, values): it has
    no function over the IR, but it is listed and explained like every other rule."""
    _register(Rule(code, name, severity, inspect.cleandoc(doc)))


def run_rules(context: Context) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for rule_ in sorted(RULES.values(), key=lambda r: r.code):
        if rule_.check is None:
            continue
        for finding in rule_.check(context):
            out.append(
                Diagnostic(
                    rule_.code,
                    rule_.severity,
                    finding.message,
                    finding.span,
                    finding.hint_for_file(),
                )
            )
    return out
