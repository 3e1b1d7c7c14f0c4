"""Caller geography: the shipped area-code table, other numbers through phonenumbers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT

from routing_engine.core.geography import area_codes, caller_info


@pytest.mark.parametrize(
    ("number", "kind", "country", "region", "state", "timezone"),
    [
        ("+12125550123", "geographic", "US", "US-NY", "NY", "America/New_York"),
        ("+17185550123", "geographic", "US", "US-NY", "NY", "America/New_York"),
        ("+15185550123", "geographic", "US", "US-NY", "NY", "America/New_York"),  # Albany
        ("+14155550123", "geographic", "US", "US-CA", "CA", "America/Los_Angeles"),
        ("+13125550123", "geographic", "US", "US-IL", "IL", "America/Chicago"),
        ("+12015550123", "geographic", "US", "US-NJ", "NJ", "America/New_York"),
        ("+14165550123", "geographic", "CA", "CA-ON", "ON", "America/Toronto"),
        ("+18005550123", "toll-free", "", "", "", ""),
        ("+18885550123", "toll-free", "", "", "", ""),
        ("+17875550123", "nanp", "PR", "", "", ""),
        ("+442079460000", "international", "GB", "", "", ""),
        ("+4420794600", "unknown", "", "", "", ""),  # too short for the UK
        ("+19995550123", "unknown", "", "", "", ""),  # no such area code
        ("+12121550123", "unknown", "", "", "", ""),  # exchanges never start with 1
        ("anonymous", "anonymous", "", "", "", ""),
    ],
)
def test_caller_info(
    number: str, kind: str, country: str, region: str, state: str, timezone: str
) -> None:
    info = caller_info(number)
    assert (info.type, info.country, info.region, info.state, info.timezone) == (
        kind,
        country,
        region,
        state,
        timezone,
    )


def test_a_region_from_the_telephony_system_wins() -> None:
    info = caller_info("+14155550123", "US-NY")
    assert (info.region, info.state, info.country) == ("US-NY", "NY", "US")
    assert info.timezone == ""  # the number's zone is California's, no longer known to apply
    same = caller_info("+12125550123", "us-ny")
    assert same.timezone == "America/New_York"
    assert caller_info("+14155550123", "nonsense!").region == "US-CA"  # malformed: ignored


def test_shipped_table_is_what_the_generator_makes(tmp_path) -> None:
    """Regenerated from the installed phonenumbers, the table is the shipped one (run
    `make area-codes` after upgrading phonenumbers)."""
    shipped = ROOT / "routing_engine" / "data" / "nanp_area_codes.json"
    fresh = tmp_path / "fresh.json"
    script = ROOT / "scripts" / "gen_area_codes.py"
    result = subprocess.run(
        [sys.executable, str(script), str(fresh)], capture_output=True, text=True, check=True
    )
    assert "area codes" in result.stdout
    assert (
        json.loads(fresh.read_text())["area_codes"] == json.loads(shipped.read_text())["area_codes"]
    )
    assert area_codes() == json.loads(shipped.read_text())["area_codes"]


def test_the_runtime_never_loads_the_geocoder() -> None:
    code = (
        "import sys; from routing_engine import load_deployment;"
        "h = load_deployment('examples/hospital');"
        "h.start_call({'call_id': 'c', 'from': '+442079460000', 'to': '+12125550140',"
        " 'at': '2026-11-23T10:00:00-05:00'});"
        "h.start_call({'call_id': 'd', 'from': '+12125550123', 'to': '+12125550140',"
        " 'at': '2026-11-23T10:00:00-05:00'});"
        "print(sorted(m for m in sys.modules if m.startswith('phonenumbers.geodata')"
        " or m.startswith('phonenumbers.tzdata')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
