"""The examples the language docs show (docs.py renders each in YAML and, converted, the DSL)."""

from __future__ import annotations

DEPLOYMENT = """
deployment: hospital
description: Mercy General Hospital
ring_cadence: 6s             # one ring; "2 rings" = 12 s
caller_max_wait: 2m          # longest a caller may wait unanswered (G205)
max_steps: 100
wrap_up: 30m                 # an agent may still report this long after the caller hangs up
modules: [../../flows]
fallback:
  ring: [front-desk]
  timeout: 30s
entries:
  "+12125550100": er
  "+12125550199":            # a line with its own fallback
    flow: main
    fallback:
      ring: [front-desk, night-desk]
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
    trunk: carrier           # how a SIP proxy dials the number
trunks:
  carrier:
    uri: "sip:{number}@gateway.mercy.example;transport=tls"
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
boards:
  billing:
    name: Billing office
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
fallback:
  ring: [er-nurse, er-nurse-backup]
  timeout: 30s
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
