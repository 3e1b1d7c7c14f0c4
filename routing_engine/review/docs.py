"""Generates docs/language.md: every concept with YAML and DSL side by side, the condition
language, durations, modules, and every diagnostic code from the rule registry.

The DSL half of each example is not written by hand: it is the YAML half converted by the
same writer `cli.py convert` uses, so the two can never disagree.
`python -m routing_engine.review.docs` (or `make docs`) rewrites the file; a test fails while it
is stale.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from routing_engine.core.conditions import CALLER_FIELDS, ROOTS
from routing_engine.core.functions import FUNCTIONS
from routing_engine.review.docs_loops import loops_section
from routing_engine.sources import model
from routing_engine.sources.convert import convert_text
from routing_engine.validate import RULES

OUT = Path(__file__).resolve().parents[2] / "docs" / "language.md"

DEPLOYMENT = """
deployment: hospital
description: Mercy General Hospital
ring_cadence: 6s             # one ring; "2 rings" = 12 s
caller_max_wait: 2m          # longest a caller may wait unanswered (G205)
max_steps: 100
modules: [../../flows]
fallback:
  ring: [front-desk]
  timeout: 30s
entries:
  "+12125550100": er
  "+1212555*": main          # a prefix: every other number that starts so
targets:
  er-nurse:
    uri: sip:er-nurse@mercy.example
    region: US-NY
    skills: [nursing, triage]
  offshore:
    kind: external
    uri: "+443005550100"
    capacity: 40
contacts:
  billing-manager:
    name: Billing office manager
    email: billing-manager@mercy.example
    webhook: https://chat.mercy.example/hooks/billing
  duty-manager:
    name: Duty manager
    webhook: /notifications/inbox   # the engine's own inbox
schedules:
  office-hours:
    timezone: America/New_York
    weekly:
      mon-fri: 08:00-18:00
      sat: [09:00-12:00, 13:00-15:00]
    holidays: US
    closed: [2026-12-24]
"""

NODES: dict[str, str] = {
    "menu": """
main-menu:
  menu: For billing press 1, for the pharmacy press 2.
  options:
    "1": billing
    "2": pharmacy
  retries: 2
  timeout: 5s
  fallback: front-desk
""",
    "ring": """
ring-office:
  ring: [billing-ny, billing-backup]
  strategy: sequential
  timeout: 2 rings
  reports: [handled, needs-office]
  prefer:
    skills: [billing]
    region: caller
  on:
    no-answer: ring-offshore
    needs-office: office-ticket
""",
    "queue": """
wait:
  queue: billing-queue
  skills: [billing]
  priority: 5
  max_wait: 90s
  on:
    timeout: take-message
""",
    "branch": """
route:
  branch:
    - when: caller.state == "NY" and available("billing-ny")
      then: ring-new-york
    - when: caller.type in ["toll-free", "international"]
      then: ring-central
  else: ring-central
""",
    "hours": """
check-hours:
  hours: office-hours
  open: ring-office
  closed: after-hours
  holiday: holiday-message
""",
    "say": """
tell-callback:
  say: The office will call you back shortly.
  next: done
""",
    "set": """
remember:
  set:
    language: en
    tries: 0
  next: route
""",
    "ticket": """
office-ticket:
  ticket: billing
  sla: 15m
  managers: [billing-manager]
  escalate:
    - after: 30m
      notify: duty-manager
  summary: The offshore center could not resolve this call.
  next: tell-callback
""",
    "voicemail": """
after-hours:
  voicemail: billing
  prompt: The office is closed. Please leave a message.
  max_length: 2m
  sla_from: office-hours
  managers: [billing-manager]
""",
    "use": """
billing:
  use: office-ringover
  with:
    office: billing-ny
    office_name: Billing
    board: billing
    manager: billing-manager
""",
    "hangup": """
done:
  hangup: caller helped
""",
}

FLOW = """
flow: er
description: Emergency calls go straight to a nurse
resolve_within: 20m
notify: [duty-manager]
start: ring-nurse
nodes:
  ring-nurse:
    ring: er-nurse
    timeout: 3 rings
"""

MODULE = """
module: try-office
description: Ring an office; leave through 'nobody' when it does not answer
params:
  office: target
  rings: {type: duration, default: 2 rings}
  name: {type: text, default: the office}
exits: [nobody]
start: ring
nodes:
  ring:
    ring: $office
    timeout: $rings
    on:
      no-answer: sorry
  sorry:
    say: Nobody at ${name} could answer.
    next: nobody
"""


def _flow(node_yaml: str) -> str:
    body = textwrap.indent(node_yaml.strip("\n"), "  ")
    return f"flow: example\nnodes:\n{body}\n"


def _pair(yaml_text: str) -> str:
    """A YAML example and the DSL the writer makes of it."""
    yaml_text = yaml_text.strip("\n") + "\n"
    dsl, problems = convert_text(yaml_text, "example.yaml", "yaml", "dsl")
    if dsl is None:
        raise ValueError(f"a documentation example does not read: {problems}")
    return f"YAML:\n\n```yaml\n{yaml_text}```\n\nDSL:\n\n```\n{dsl}```\n"


def _node_doc(kind: str) -> str:
    spec = model.NODE_SPECS[kind]
    doc = " ".join((spec.__doc__ or "").split())
    fields = []
    for name, info in spec.model_fields.items():
        key = info.alias or name
        required = info.is_required()
        value = None if required else info.get_default(call_default_factory=True)
        default = "" if required else (" (optional)" if value is None else f" (default: `{value}`)")
        what = f" {info.description}." if info.description else ""
        fields.append(f"- `{key}`{' (required)' if required else default}:{what}".rstrip(":"))
    return f"### `{kind}`\n\n{doc}\n\n" + "\n".join(fields) + "\n\n" + _pair(_flow(NODES[kind]))


def render() -> str:
    """The whole of docs/language.md, section by section."""
    sections = (
        _introduction,
        _deployment,
        _flows,
        _node_kinds,
        _loops,
        _escalation,
        _durations,
        _conditions,
        _modules,
        _diagnostics,
    )
    parts = [line for section in sections for line in section()]
    return "\n".join(parts).rstrip() + "\n"


def _introduction() -> list[str]:
    return [
        "# The flow language",
        "",
        "<!-- Generated by `python -m routing_engine.review.docs` (`make docs`); "
        "do not edit by hand. -->",
        "",
        "A deployment is a folder of flow files in YAML (`.yaml`) or the text DSL (`.flow`),",
        "freely mixed: one deployment document (numbers, targets, contacts, schedules,",
        "fallback, settings), flows (one call type each), and modules (reusable pieces). Both",
        "syntaxes are read into the same model; `python cli.py convert FILE --to yaml|dsl`",
        "turns one into the other, comments included, and `python cli.py fmt` writes either in",
        "its canonical form. In the DSL, a block is what is indented under a line, `#` starts a",
        "comment, `NAME -> NODE` says where an outcome leads, and a flow starts at its first node.",
        "",
    ]


def _deployment() -> list[str]:
    return [
        "## The deployment",
        "",
        _pair(DEPLOYMENT),
        "A contact is told by webhook (`webhook`: an http(s) URL, or a path of the engine's own",
        "server such as `/notifications/inbox`, its built-in inbox) and by e-mail (`email`) where",
        "the server has SMTP configured; see docs/notifications.md.",
        "",
    ]


def _flows() -> list[str]:
    return [
        "## Flows",
        "",
        "A flow has a name, a start and its nodes. It may set a time limit: a call that enters",
        "the flow and is not resolved `resolve_within` after (counted from when it entered) is",
        "reported to the contacts under `notify`. A call is resolved when it has ended (hung up,",
        "a hangup node, a recorded voicemail without `next`, the fallback) and every ticket it",
        "raised is resolved; a call still connected to a person, or whose ticket is still open,",
        "is not. Each flow's limit starts once per call, the first time the call enters it.",
        "",
        _pair(FLOW),
    ]


def _node_kinds() -> list[str]:
    return [
        "## Node kinds",
        "",
        "Each node has exactly one kind. A name that a node leads to is a node of the same flow,",
        "else another flow (the call goes on at that flow's start). An unhandled `busy` or",
        "`failed` goes where `no-answer` goes; an unhandled `holiday`, where `closed` goes.",
        "",
        *(_node_doc(kind) for kind in model.NODE_SPECS),
    ]


def _loops() -> list[str]:
    return loops_section(_pair)


def _escalation() -> list[str]:
    return [
        "## Escalation",
        "",
        "A `ticket` or `voicemail` node's SLA (`sla`, or `sla_from` a schedule's next opening)",
        "is level 0: when it passes and the ticket is unresolved, its `managers` are notified.",
        "Each `escalate` step is a further level, counted the same way (from the ticket's",
        "creation, or from the opening): if the ticket is still unresolved `after` that long,",
        "its `notify` contacts are told. Resolving a ticket stops the steps still to come. In",
        "the DSL each step is a line: `escalate after 30m notify duty-manager, director`. In a",
        "module, `after` and `notify` may be parameters (`$escalate_after`, `$duty_manager`).",
        "",
    ]


def _durations() -> list[str]:
    return [
        "## Durations",
        "",
        "A number and a unit: `2 rings`, `20s` (or `20 seconds`), `15m`, `1h`. Rings are turned",
        "into seconds by the deployment's `ring_cadence` (6 s unless set). At most a year.",
        "",
    ]


def _conditions() -> list[str]:
    return [
        "## Conditions",
        "",
        "Used by `branch` nodes. Our own small language, compiled once into closures; never",
        "Python. Comparisons `==` `!=` `<` `<=` `>` `>=`, `in`, `not in`, `has`, joined with",
        "`and`, `or`, `not` and parentheses. Literals: quoted strings, numbers, `true`, `false`,",
        "lists `[...]`. A number written as text compares as a number.",
        "",
        f"Names start with one of: {', '.join(f'`{r}`' for r in ROOTS)}. `caller` has",
        f"{', '.join(f'`caller.{f}`' for f in CALLER_FIELDS)}; `caller.type` is one of",
        "`geographic`, `toll-free`, `nanp`, `international`, `unknown`, `anonymous`.",
        "",
        "Functions:",
        "",
        *(f'- `{f.name}("{f.params[0]}")`: {f.doc}' for f in FUNCTIONS.values()),
        "",
    ]


def _modules() -> list[str]:
    return [
        "## Modules",
        "",
        "A module has parameters (`target`, `contact`, `schedule`, `board`, `text`, `duration`),",
        "a start, nodes and named exits. `$name` stands for a parameter as a whole value, and",
        "`${name}` inside text. A reference to an exit leaves the module; a `use` maps each exit",
        "to a node of its flow.",
        "",
        _pair(MODULE),
    ]


def _diagnostics() -> list[str]:
    """Every rule of the registry, in code order, with its documentation."""
    parts = [
        "## Diagnostics",
        "",
        "Every problem has a code: `S1xx` structure, `G2xx` the shape of the map, `W3xx`",
        "warnings. `python cli.py rules --explain CODE` prints the same text.",
        "",
    ]
    for rule in sorted(RULES.values(), key=lambda r: r.code):
        parts += [f"### {rule.code} {rule.name} ({rule.severity.value})", "", rule.doc, ""]
    return parts


def main() -> int:
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT.relative_to(OUT.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
