"""Live targets over real HTTP: a change applies to the next decision, in every process that
shares the store."""

from __future__ import annotations

from pathlib import Path

from conftest import StoreAt
from test_service import Server, event, new_call


def ringing(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        t["name"] for a in response.json()["actions"] if a["type"] == "ring" for t in a["targets"]
    ]


def test_availability_changes_the_next_decision_across_processes(
    tmp_path: Path, store_at: StoreAt
) -> None:
    database = store_at("t.db")
    one, two = Server(database), Server(database)
    try:
        listed = one.client.get("/v1/targets").json()
        nurse = next(t for t in listed if t["name"] == "er-nurse")
        assert (nurse["available"], nurse["skills"]) == (True, ["nursing", "triage"])
        assert ringing(new_call(two, "er-1", to="+12125550100")) == ["er-nurse"]
        changed = one.client.patch("/v1/targets/er-nurse", json={"available": False})
        assert changed.status_code == 200 and changed.json()["available"] is False
        # the other process sees it at once: the nurse is skipped, the backup rings
        assert ringing(new_call(two, "er-2", to="+12125550100")) == ["er-nurse-backup"]
        # and an event of a call already ringing: the next sequential step skips her too
        assert ringing(event(two, "er-1", "e1", 1, "dial.no-answer")) == ["er-nurse-backup"]
        one.client.patch("/v1/targets/er-nurse", json={"available": True, "skills": ["nursing"]})
        back = two.client.get("/v1/targets").json()
        assert next(t for t in back if t["name"] == "er-nurse")["skills"] == ["nursing"]
        assert ringing(new_call(two, "er-3", to="+12125550100")) == ["er-nurse"]
    finally:
        one.stop()
        two.stop()


def test_bad_target_changes_are_refused(tmp_path: Path, store_at: StoreAt) -> None:
    server = Server(store_at("b.db"))
    try:
        assert (
            server.client.patch("/v1/targets/nobody", json={"available": False}).status_code == 404
        )
        for body in ({"available": "false"}, {"skills": "billing"}, {"colour": "red"}, {}):
            response = server.client.patch("/v1/targets/er-nurse", json=body)
            assert response.status_code == 422, body
        assert server.client.get("/v1/targets").json()[0]["available"] is True  # unchanged
    finally:
        server.stop()
