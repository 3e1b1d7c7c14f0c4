"""Flow versions in the service: calls stay on the version they started on; publishing by
reload or by API; a failed publish changes nothing; roll back; versions survive a restart."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from conftest import StoreAt, copy_hospital
from test_service import Server, event, new_call


@pytest.fixture
def deployment(tmp_path: Path) -> Path:
    return copy_hospital(tmp_path)


def serve(deployment: Path, database: Path | str) -> Server:
    return Server(database, deployment=str(deployment))


def cardiology_rings(deployment: Path, rings: str) -> None:
    path = deployment / "flows" / "cardiology.yaml"
    text = path.read_text()
    path.write_text(
        text.replace(
            "      manager: cardiology-manager",
            f"      manager: cardiology-manager\n      rings: {rings}",
        )
    )


def test_calls_stay_on_their_version_across_a_publish_and_a_restart(
    deployment: Path, tmp_path: Path, store_at: StoreAt
) -> None:
    database = store_at("v.db")
    server = serve(deployment, database)
    try:
        before = server.client.get("/healthz").json()["version"]
        new_call(server, "pinned", to="+12125550120")  # cardiology, 2 rings
        cardiology_rings(deployment, "3 rings")
        reloaded = server.client.post("/v1/flows/reload").json()
        assert reloaded["published"] is True and reloaded["version"] != before
        fresh = new_call(server, "fresh", to="+12125550120").json()
        assert fresh["actions"][0]["timeout_s"] == 18.0  # new calls: the new version
        assert fresh["flow"]["version"] == reloaded["version"]
        old = event(server, "pinned", "e1", 1, "dial.no-answer").json()
        assert old["flow"]["version"] == before  # the old call: still its version
        versions = server.client.get("/v1/flows/versions").json()
        assert [v["current"] for v in versions] == [False, True]
    finally:
        server.stop()
    server = serve(deployment, database)  # the directory now holds the new version
    try:
        after_restart = event(server, "pinned", "e2", 2, "dial.no-answer").json()
        assert after_restart["flow"]["version"] == before  # rebuilt from the store's copy
        assert after_restart["actions"][0]["type"] == "voicemail"
    finally:
        server.stop()


def test_a_failed_publish_changes_nothing(
    deployment: Path, tmp_path: Path, store_at: StoreAt
) -> None:
    server = serve(deployment, store_at("f.db"))
    try:
        before = server.client.get("/healthz").json()["version"]
        cardiology_rings(deployment, "3 ringz")
        refused = server.client.post("/v1/flows/reload")
        assert refused.status_code == 422
        body = refused.json()
        assert body["error"] == "invalid-deployment"
        assert any(
            d["code"] == "S114" and "not a duration" in d["message"] for d in body["diagnostics"]
        )
        assert server.client.get("/healthz").json()["version"] == before
        assert len(server.client.get("/v1/flows/versions").json()) == 1
    finally:
        server.stop()


def test_publish_validate_and_roll_back_by_api(
    deployment: Path, tmp_path: Path, store_at: StoreAt
) -> None:
    server = serve(deployment, store_at("a.db"))
    try:
        first = server.client.get("/healthz").json()["version"]
        files = {str(p.relative_to(deployment)): p.read_text() for p in deployment.rglob("*.yaml")}
        files |= {
            f"modules/{p.name}": p.read_text() for p in (deployment.parent / "flows").glob("*.yaml")
        }
        files["flows/er.yaml"] = files["flows/er.yaml"].replace(
            "timeout: 3 rings", "timeout: 4 rings", 1
        )
        checked = server.client.post("/v1/flows/validate", json={"files": files}).json()
        assert checked["ok"] is True and server.client.get("/healthz").json()["version"] == first
        broken = {
            **files,
            "flows/er.yaml": files["flows/er.yaml"].replace("ring: er-nurse", "ring: er-nurze", 1),
        }
        refused = server.client.post("/v1/flows/publish", json={"files": broken})
        assert refused.status_code == 422 and "did you mean 'er-nurse'?" in str(refused.json())
        published = server.client.post("/v1/flows/publish", json={"files": files}).json()
        assert published["published"] is True
        er = new_call(server, "er-after", to="+12125550100").json()
        assert er["actions"][0]["timeout_s"] == 24.0
        back = server.client.post("/v1/flows/rollback", json={"hash": first}).json()
        assert back["version"] == first
        assert (
            new_call(server, "er-back", to="+12125550100").json()["actions"][0]["timeout_s"] == 18.0
        )
        assert server.client.post("/v1/flows/rollback", json={"hash": "nope"}).status_code == 404
        assert server.client.post("/v1/flows/publish", json={"files": "x"}).status_code == 422
    finally:
        server.stop()


def test_sighup_reloads(deployment: Path, tmp_path: Path, store_at: StoreAt) -> None:
    server = serve(deployment, store_at("s.db"))
    try:
        before = server.client.get("/healthz").json()["version"]
        cardiology_rings(deployment, "4 rings")
        os.kill(server.process.pid, signal.SIGHUP)
        for _ in range(50):
            if server.client.get("/healthz").json()["version"] != before:
                break
            time.sleep(0.1)
        call = new_call(server, "after-hup", to="+12125550120").json()
        assert call["actions"][0]["timeout_s"] == 24.0
    finally:
        server.stop()
