"""Loops and waits inside a module are reported once, in the module's file, at the node or
line concerned: not at the flow's `use` node, and not once more for each use's copy."""

from __future__ import annotations

from pathlib import Path

from conftest import write_files

from routing_engine import check

DEPLOYMENT = """
    deployment: test
    caller_max_wait: 30s
    modules: [modules]
    fallback:
      ring: desk
    entries:
      "+12125550100": main
    targets:
      desk:
        uri: sip:desk@example.com
"""

MAIN = """
    flow: main
    start: first
    nodes:
      first:
        use: spin
        with:
          wait: 20s
        exits:
          done: second
      second:
        use: spin
        with:
          wait: 40s
        exits:
          done: bye
      bye:
        hangup:
"""

SPIN = """
    module: spin
    params:
      wait: duration
    exits: [done]
    start: ring
    nodes:
      ring:
        ring: desk
        timeout: $wait
        on:
          no-answer: done
          busy: check
      check:
        branch:
          - when: vars.x == 1
            then: done
        else: again
      again:
        say: again
        next: check
"""


def found(root: Path) -> list[tuple[str, str, int, int]]:
    return [
        (d.code, Path(d.span.file).name, d.span.line, d.span.column)
        for d in check(root).diagnostics
    ]


def test_a_loop_in_a_module_is_reported_once_in_the_modules_file(tmp_path: Path) -> None:
    root = write_files(
        tmp_path / "d",
        {"deployment.yaml": DEPLOYMENT, "main.yaml": MAIN, "modules/spin.yaml": SPIN},
    )
    assert found(root) == [("G203", "spin.yaml", 13, 3)]  # at `check`, the loop's first node


def test_a_wait_over_the_limit_in_a_module_is_reported_at_the_modules_ring(
    tmp_path: Path,
) -> None:
    spin = SPIN.replace("busy: check", "busy: done").split("      check:")[0]
    root = write_files(
        tmp_path / "d",
        {"deployment.yaml": DEPLOYMENT, "main.yaml": MAIN, "modules/spin.yaml": spin},
    )
    # 20 s in the first use, 40 s in the second: the limit of 30 s is passed at the second
    # use's ring, which is written in the module
    assert found(root) == [("G205", "spin.yaml", 7, 3)]
    [diagnostic] = check(root).diagnostics
    assert "1m" in diagnostic.message and "'ring'" in diagnostic.message


ASK = """
    module: ask
    exits: [again, done]
    start: choose
    nodes:
      choose:
        menu: Press 1 to go on, 9 to hear this again.
        options:
          "1": done
          "9": again
        fallback: done
"""

ASKING = """
    flow: main
    start: first
    nodes:
      first:
        use: ask
        exits:
          again: first
          done: bye
      bye:
        hangup:
"""


def test_a_loop_through_a_modules_exit_is_reported_at_the_flows_exit_line(
    tmp_path: Path,
) -> None:
    files = {"deployment.yaml": DEPLOYMENT, "main.yaml": ASKING, "modules/ask.yaml": ASK}
    root = write_files(tmp_path / "d", files)
    assert found(root) == [("G203", "main.yaml", 7, 14)]  # `again: first`, at `first`
    [diagnostic] = check(root).diagnostics
    assert "'choose', 'first'" in diagnostic.message
    assert diagnostic.hint.startswith("add 'attempts: 3' and 'exhausted: <node>' to 'choose'")
    bound = "\n        attempts: 3\n        exhausted: done"
    bounded = ASK.replace("fallback: done", "fallback: done" + bound)
    write_files(root, {"modules/ask.yaml": bounded})
    # bounded, the loop is counted: 3 plays of the menu (5 s and its prompt, 3 times each) are
    # over the limit of 30 s, which is reported at the menu, in the module's file
    assert found(root) == [("G205", "ask.yaml", 5, 3)]
