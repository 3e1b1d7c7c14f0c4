"""The publish API answers the diff: a dry run publishes nothing and answers the diff against
the current version with the hashes to confirm; a publish that carries them back is refused
when the files or the current version changed since; every publish answers its diff."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import copy_hospital, in_process
from test_service import Server, new_call

from routing_engine.core.clock import ManualClock
from routing_engine.service.app import create_app
from routing_engine.sources.loader import deployment_files

NY_ANSWERED = ['when caller.state == "NY"', "office-hours open", "answered"]  # past the number


@pytest.fixture
def hospital_copy(tmp_path: Path) -> Path:
    return copy_hospital(tmp_path)


@pytest.fixture
def server(hospital_copy: Path, tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path / "d.db", deployment=str(hospital_copy))
    yield running
    running.stop()


@pytest.fixture
def files(hospital_copy: Path) -> dict[str, str]:
    """The copy's flow files, as a publish request sends them (modules included)."""
    found = {
        str(p.relative_to(hospital_copy)): p.read_text() for p in deployment_files(hospital_copy)
    }
    modules = (hospital_copy.parent / "flows").glob("*.yaml")
    return found | {f"modules/{p.name}": p.read_text() for p in modules}


RING_BOTH = "strategy: simultaneous\n    timeout: "  # ring-both's timeout, not the fallback's


def changed(files: dict[str, str], name: str, old: str, new: str) -> dict[str, str]:
    assert old in files[name]
    return {**files, name: files[name].replace(old, new, 1)}


def current(server: Server) -> str:
    [version] = [v for v in server.client.get("/v1/flows/versions").json() if v["current"]]
    return str(version["hash"])


def publish(server: Server, **body: Any) -> Any:
    return server.client.post("/v1/flows/publish", json=body)


def review_hash_prefix(server: Server) -> str:
    """The current version's short form (12 digits): not enough to confirm against."""
    return str(server.client.get("/healthz").json()["version"])


def test_a_dry_run_answers_the_diff_and_a_confirmed_publish_publishes_it(
    server: Server, files: dict[str, str]
) -> None:
    before = current(server)
    files = changed(files, "flows/billing.yaml", "office: billing-ny", "office: pharmacy-office")
    files = changed(files, "flows/er.yaml", f"{RING_BOTH}30s", f"{RING_BOTH}40s")
    dry = publish(server, files=files, dry_run=True)
    assert dry.status_code == 200, dry.text
    review = dry.json()
    assert (review["dry_run"], review["published"], review["base"]) == (True, False, before)
    assert review["hash"] != before
    diff = review["diff"]
    assert (diff["old"]["hash"], diff["new"]["hash"]) == (before, review["hash"])
    assert [(o["key"], o["old"], o["new"]) for o in diff["outcomes"]["changed"]] == [
        ([number, *digit, *NY_ANSWERED], "connected to billing-ny", "connected to pharmacy-office")
        for number, digit in (
            ("+12125550111", ["digit 3"]),  # the main line's menu, and the front desk's
            ("+12125550199", ["digit 3"]),
            ("+12125550140", []),  # billing's own number
        )
    ]
    assert [(n["unit"], n["node"]) for n in diff["nodes"]["changed"]] == [
        ("billing", "new-york"),
        ("er", "ring-both"),
    ]
    assert current(server) == before  # nothing was published
    assert len(server.client.get("/v1/flows/versions").json()) == 1

    done = publish(server, files=files, confirm=review["hash"], base=review["base"])
    assert done.status_code == 200, done.text
    published = done.json()
    assert published["published"] is True and published["hash"] == review["hash"]
    assert published["diff"] == diff  # what was reviewed is what was published
    assert current(server) == review["hash"]
    er = new_call(server, "after", to="+12125550100").json()
    assert er["flow"]["version"] == review["version"]


def test_a_publish_is_refused_when_the_files_or_the_current_version_changed(
    server: Server, files: dict[str, str]
) -> None:
    before = current(server)
    mine = changed(files, "flows/er.yaml", f"{RING_BOTH}30s", f"{RING_BOTH}40s")
    review = publish(server, files=mine, dry_run=True).json()
    edited_since = changed(mine, "flows/er.yaml", "timeout: 40s", "timeout: 50s")
    refused = publish(server, files=edited_since, confirm=review["hash"])
    assert refused.status_code == 409
    assert refused.json()["error"] == "confirm-mismatch"
    assert review["hash"] in refused.json()["message"] and current(server) == before

    theirs = changed(files, "flows/billing.yaml", "office: billing-ny", "office: er-nurse")
    other = publish(server, files=theirs).json()  # someone else publishes meanwhile
    assert other["published"] is True
    assert other["diff"]["old"]["hash"] == before  # the diff against the version it replaced
    assert other["diff"]["outcomes"]["changed"][0]["new"] == "connected to er-nurse"
    stale = publish(server, files=mine, confirm=review["hash"], base=review["base"])
    assert stale.status_code == 409
    body = stale.json()
    assert body["error"] == "base-changed" and other["version"] in body["message"]
    assert current(server) == other["hash"]  # theirs stays

    again = publish(server, files=mine, dry_run=True).json()
    assert again["base"] == other["hash"] and again["hash"] == review["hash"]
    assert again["diff"]["outcomes"]["changed"][0]["new"] == "connected to billing-ny"
    ok = publish(server, files=mine, confirm=again["hash"], base=again["base"])
    assert ok.status_code == 200 and current(server) == review["hash"]


def test_bad_options_and_broken_files_are_refused(server: Server, files: dict[str, str]) -> None:
    bad = publish(server, files=files, dry_run="yes", confirm=5)
    misspelt = publish(server, files=files, dryRun=True, base=review_hash_prefix(server))
    assert misspelt.status_code == 422  # a misspelt dry run must not publish for real
    assert {p["field"] for p in misspelt.json()["problems"]} == {"dryRun", "base"}
    assert bad.status_code == 422
    assert {p["field"] for p in bad.json()["problems"]} == {"dry_run", "confirm"}
    broken = changed(files, "flows/er.yaml", "ring: er-nurse", "ring: er-nurze")
    dry = publish(server, files=broken, dry_run=True)
    assert dry.status_code == 422 and dry.json()["error"] == "invalid-deployment"
    assert len(server.client.get("/v1/flows/versions").json()) == 1


@pytest.mark.parametrize(
    ("now", "moved"),
    [("2026-11-23T10:00:00-05:00", False), ("2026-11-22T10:00:00-05:00", True)],
    ids=["monday-open", "sunday-closed"],
)
def test_the_diff_reads_rewritten_conditions_at_the_services_time(
    hospital_copy: Path, files: dict[str, str], tmp_path: Path, now: str, moved: bool
) -> None:
    """A branch rewritten to also ask whether billing is open moves New York's callers only
    when the service's clock says it is closed (a Sunday), whatever the machine's date."""
    files = changed(
        files,
        "flows/billing.yaml",
        """when: 'caller.state == "NY"'""",
        """when: 'caller.state == "NY" and open("office-hours")'""",
    )
    clock = ManualClock(datetime.fromisoformat(now))
    app = create_app(hospital_copy, f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", clock=clock)

    async def dry_run(client: httpx.AsyncClient) -> Any:
        answer = await client.post("/v1/flows/publish", json={"files": files, "dry_run": True})
        assert answer.status_code == 200, answer.text
        return answer.json()["diff"]["outcomes"]["callers"]

    callers = in_process(app, dry_run)
    assert any("US-NY" in move["callers"] for move in callers) is moved, callers
