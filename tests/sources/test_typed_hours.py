"""Hours typed the way people say them (`8am-5pm`) are reported as hours, not as names, with the
24-hour form to write instead, at the value's position, in both syntaxes."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_files

from routing_engine import check
from routing_engine.sources.build_schedules import typed_range

YAML_FILES = {
    "deployment.yaml": """
        deployment: test
        fallback:
          ring: desk
        entries:
          "+12125550100": main
        targets:
          desk:
            uri: sip:desk@example.com
        schedules:
          office:
            timezone: America/New_York
            weekly:
              mon-fri: 8am-5pm
              sat: [09:00-12:00, 1pm to 3pm]
            open: [2026-12-27 9am-1pm]
        """,
    "main.yaml": """
        flow: main
        start: check
        nodes:
          check:
            hours: office
            open: ring-desk
            closed: bye
          ring-desk:
            ring: desk
            on:
              no-answer: bye
          bye:
            hangup:
        """,
}

DSL_FILES = {
    "deployment.flow": """
        deployment test
          fallback
            ring desk
          entry +12125550100 -> main
          target desk
            uri sip:desk@example.com
          schedule office
            timezone America/New_York
            weekly mon-fri 8am-5pm
            weekly sat 09:00-12:00, 1pm to 3pm
            open 2026-12-27 9am-1pm
        """,
    "main.flow": """
        flow main
          check: hours office
            open -> ring-desk
            closed -> bye
          ring-desk: ring desk
            no-answer -> bye
          bye: hangup
        """,
}


@pytest.mark.parametrize(
    ("files", "where"),
    [
        (YAML_FILES, [(13, 16), (14, 26), (15, 12)]),
        (DSL_FILES, [(9, 20), (10, 29), (11, 10)]),
    ],
    ids=["yaml", "dsl"],
)
def test_hours_typed_on_a_12_hour_clock_get_the_24_hour_form_at_their_position(
    tmp_path: Path, files: dict[str, str], where: list[tuple[int, int]]
) -> None:
    result = check(write_files(tmp_path, files))
    found = [(d.code, d.span.line, d.span.column, d.message, d.hint) for d in result.diagnostics]
    assert [(code, line, column) for code, line, column, _, _ in found] == [
        ("S105", line, column) for line, column in where
    ], result.diagnostics
    messages = [message for _, _, _, message, _ in found]
    hints = [hint for _, _, _, _, hint in found]
    assert messages[0] == (
        "'8am-5pm' is not a time range written HH:MM-HH:MM (schedule 'office', mon-fri)"
    )
    assert not any("name" in message for message in messages)
    assert hints == [
        "write hours on a 24-hour clock: 08:00-17:00",
        "write hours on a 24-hour clock: 13:00-15:00",
        "write hours on a 24-hour clock: 2026-12-27 09:00-13:00",
    ]


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("8am-5pm", "08:00-17:00"),
        ("8:30 a.m. - 5:30 p.m.", "08:30-17:30"),
        ("12am-12pm", "00:00-12:00"),
        ("12pm-11:59pm", "12:00-23:59"),
        ("8-17", "08:00-17:00"),
        ("8h30-17h", "08:30-17:00"),
        ("8.00 to 17.00", "08:00-17:00"),
        ("8:00-17:00", "08:00-17:00"),
    ],
)
def test_common_ways_of_typing_hours_read_as_one_24_hour_range(typed: str, meant: str) -> None:
    assert typed_range(typed) == meant


@pytest.mark.parametrize("typed", ["9-5", "5pm-8am", "13pm-2pm", "8:75-9", "noon-5pm", "8am"])
def test_hours_that_cannot_be_read_unambiguously_get_no_rewrite(typed: str) -> None:
    assert typed_range(typed) == ""


def test_unreadable_hours_get_the_general_form(tmp_path: Path) -> None:
    files = dict(YAML_FILES)
    files["deployment.yaml"] = files["deployment.yaml"].replace("8am-5pm", "9-5")
    result = check(write_files(tmp_path, files))
    first = result.diagnostics[0]
    assert (first.code, first.span.line, first.span.column) == ("S105", 13, 16)
    assert first.hint == "write hours on a 24-hour clock as HH:MM-HH:MM, e.g. 08:00-17:00"
