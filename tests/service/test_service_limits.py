"""A hostile deployment through a real server: reloaded from its directory or published as file
texts while calls arrive, it is refused (S101, `sources/limits.py`), the version serving stays,
and every call meanwhile gets its real decision within the deadline, never the fallback."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from conftest import copy_hospital
from test_service import AT, CALLER, Server

ER = "+12125550100"  # the emergency line: rings a nurse at once


def calls_meanwhile(server: Server, work: Callable[[], httpx.Response]) -> tuple[Any, list[Any]]:
    """Run `work` while two callers keep starting calls (until it is answered, and a few
    after); its response and every call's decision."""
    done = threading.Event()
    prefix = f"c{threading.get_ident()}-{id(work)}"

    def caller(number: int) -> list[dict[str, Any]]:
        decisions = []
        with httpx.Client(base_url=server.url, timeout=10) as client:
            i = 0
            while not done.is_set() or i < 3:
                body = {"call_id": f"{prefix}-{number}-{i}", "from": CALLER, "to": ER, "at": AT}
                answer = client.post("/v1/calls", json=body)
                assert answer.status_code == 200, answer.text
                decisions.append(answer.json())
                i += 1
        return decisions

    with ThreadPoolExecutor(2) as pool:
        callers = [pool.submit(caller, n) for n in range(2)]
        try:
            response = work()
        finally:
            done.set()
        decisions = [decision for future in callers for decision in future.result()]
    return response, decisions


def refused(response: httpx.Response, code: str = "S101") -> list[dict[str, Any]]:
    """The diagnostics of `code` of a refused deployment."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid-deployment"
    return [d for d in body["diagnostics"] if d["code"] == code]


def test_a_hostile_reload_and_publish_are_refused_and_calls_keep_their_decisions(
    tmp_path: Path,
) -> None:
    deployment = copy_hospital(tmp_path)
    server = Server(tmp_path / "limits.db", deployment=str(deployment))
    try:
        before = server.client.get("/healthz").json()["version"]
        files = {
            str(p.relative_to(deployment)): p.read_text()
            for p in deployment.rglob("*.yaml")
            if p.parent.name != "scenarios"
        }
        files |= {
            f"modules/{p.name}": p.read_text() for p in (deployment.parent / "flows").glob("*.yaml")
        }
        hostile = deployment / "flows" / "hostile.yaml"
        decisions: list[Any] = []
        for text, limit in (
            ("---\n" * 1_000_000, "documents"),  # a million empty documents in 4 MB
            ("".join(f"k{i:08d}: vvvv\n" for i in range(229_000)), "keys"),  # 3.7 MB
        ):
            hostile.write_text(text)
            response, seen = calls_meanwhile(
                server, lambda: server.client.post("/v1/flows/reload", timeout=60)
            )
            decisions += seen
            (refusal,) = refused(response)
            assert refusal["file"].endswith("hostile.yaml") and limit in refusal["message"]
        hostile.unlink()
        # published as file texts (what a body may hold is limited too: these fit in 64 KB)
        for text, code in (("---\n" * 5_000, "S101"), ("a: 1\n" * 7_000, "S107")):
            sent = {**files, "flows/hostile.yaml": text}
            response, seen = calls_meanwhile(
                server,
                lambda sent=sent: server.client.post("/v1/flows/publish", json={"files": sent}),
            )
            decisions += seen
            assert refused(response, code)[0]["file"] == "flows/hostile.yaml"
        # 6,999 duplicate keys and the document's own problem (no kind): 100 shown, one counts
        shown = [d for d in response.json()["diagnostics"] if d["file"] == "flows/hostile.yaml"]
        assert len(shown) == 101 and shown[-1]["code"] == "S116"
        assert "and 6,900 more" in shown[-1]["message"]
        assert decisions and all(d["fallback_reason"] is None for d in decisions), [
            d["fallback_reason"] for d in decisions if d["fallback_reason"]
        ]
        assert all(d["flow"]["version"] == before for d in decisions)
        assert server.client.get("/healthz").json()["version"] == before
        assert len(server.client.get("/v1/flows/versions").json()) == 1
    finally:
        server.stop()
