"""The hospital over real SIP: SIPp callers dial through Kamailio running the shipped
configuration (examples/telephony/kamailio/kamailio.cfg, only its addresses changed), which asks
the engine (`POST /v1/route`) and rings SIPp phones on their own ports. Each test checks where
the call landed in the SIP trace (which phone got the INVITE, with which headers) and that the
engine's call record shows the same path.

The engine's clock is set with `serve --now` (office hours: a Monday morning; after hours: a
Sunday evening, both in New York), never today's date."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sipstack import (
    PHONES,
    Engine,
    Proxy,
    call,
    engine,
    free_port,
    hospital_for_sip,
    kamailio,
    phone_uri,
    phones,
)

pytestmark = pytest.mark.telephony

MONDAY_MORNING = "2026-11-23T10:15:00-05:00"  # every office open
SUNDAY_EVENING = "2026-11-22T20:00:00-05:00"  # every office closed
ER = "+12125550100"
CARDIOLOGY = "+12125550120"
BILLING = "+12125550140"
NEW_YORKER = "+12125550123"
CALIFORNIAN = "+14155550123"


@dataclass
class Site:
    """The hospital's engine and its proxy, and the ports its phones answer on."""

    work: Path
    ports: dict[str, int]
    engine: Engine | None
    proxy: Proxy


def sites(work: Path, now: str | None) -> Iterator[Site]:
    ports = {name: free_port() for name in PHONES}
    deployment = hospital_for_sip(work, ports)
    front_desk = phone_uri("front-desk-office", ports)
    if now is None:  # no engine: nothing listens on its port
        with kamailio(work, f"http://127.0.0.1:{free_port()}", front_desk) as proxy:
            yield Site(work, ports, None, proxy)
        return
    with (
        engine(deployment, work, now) as running,
        kamailio(work, running.url, front_desk) as proxy,
    ):
        yield Site(work, ports, running, proxy)


@pytest.fixture(scope="module")
def open_hours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from sites(tmp_path_factory.mktemp("open"), MONDAY_MORNING)


@pytest.fixture(scope="module")
def after_hours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from sites(tmp_path_factory.mktemp("closed"), SUNDAY_EVENING)


@pytest.fixture(scope="module")
def no_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from sites(tmp_path_factory.mktemp("down"), None)


def header(invite: str, name: str) -> str | None:
    for line in invite.splitlines():
        if line.lower().startswith(name.lower() + ":"):
            return line.split(":", 1)[1].strip()
    return None


def steps(record: dict[str, Any]) -> list[str]:
    return [str(step) for step in record.get("trace", [])]


def test_an_er_call_lands_on_the_nurse(open_hours: Site) -> None:
    site = open_hours
    with phones(site.work, site.ports, {"er-nurse": "answer"}) as rung:
        caller = call(site.work, site.proxy, "sip-er-1", NEW_YORKER, ER)
        assert caller.finish() == 0, caller.output.read_text()
        assert rung["er-nurse"].finish() == 0
    [invite] = rung["er-nurse"].invites()
    assert header(invite, "X-Route-Target") == "er-nurse"
    assert header(invite, "X-Call-Seq") == "1"
    assert site.engine is not None
    record = site.engine.call("sip-er-1")
    print(record)
    assert record["status"] == "ended"
