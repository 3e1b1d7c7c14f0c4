"""The language docs' section on bounded loops and waits (see docs.py, which renders it)."""

from __future__ import annotations

from collections.abc import Callable

from routing_engine.core.waits import WORDS_PER_SECOND

EXAMPLE = """
flow: example
nodes:
  ring-desk:
    ring: front-desk
    timeout: 20s
    attempts: 3
    exhausted: take-message
    on:
      no-answer: ring-nurse
  ring-nurse:
    ring: er-nurse
    timeout: 20s
    on:
      no-answer: ring-desk
  take-message:
    voicemail: front-desk
"""


def loops_section(pair: Callable[[str], str]) -> list[str]:
    """`pair` turns a YAML example into its YAML and DSL blocks."""
    return [
        "## Loops and waits",
        "",
        "Every loop must pass through a bound the engine counts: a `menu`, `ring` or `queue`",
        "node with `attempts: N` and `exhausted: NODE` (in the DSL, a line `attempts N -> NODE`",
        "under the node). A call enters that node at most N times; entering it once more, it",
        "goes to `exhausted` instead, and its trace and ticket story say so. A loop without a",
        "bound is an error (G203), reported at the line that closes it.",
        "",
        pair(EXAMPLE),
        "From the bounds, `validate` works out each dialed number's worst case: the longest a",
        "caller may ring, queue and listen before a person answers. A ring node counts its",
        "timeout (times its targets when rung one by one), a queue its `max_wait`, a menu its",
        "prompt and timeout times `retries + 1`, and an announcement or voicemail prompt its",
        f"words at {WORDS_PER_SECOND:g} a second; a loop counts as often as its attempts let it.",
        "`validate --verbose` and `paths` show the figures. A number over the deployment's",
        "`caller_max_wait` (2 minutes unless set) is an error (G205), or a warning (W302) with",
        "`caller_max_wait_severity: warning`.",
        "",
    ]
