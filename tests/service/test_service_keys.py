"""API keys and roles over real HTTP, and the loopback rule when no key is set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest import ROOT
from test_service import Server

from routing_engine.service.auth import Keys, KeysError, required_roles

TELEPHONY = "tel-0123456789abcdef"
ADMIN = "adm-0123456789abcdef"
STAFF = "stf-0123456789abcdef"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Server:
    os.environ["ROUTING_API_KEYS"] = f"telephony:{TELEPHONY},admin:{ADMIN},staff:{STAFF}"
    try:
        server = Server(tmp_path_factory.mktemp("keys") / "k.db")
    finally:
        del os.environ["ROUTING_API_KEYS"]
    yield server
    server.stop()


def call(server: Server, key: str | None, call_id: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    body = {"call_id": call_id, "from": "+12125550123", "to": "+12125550111"}
    return server.client.post("/v1/calls", json=body, headers=headers)


@pytest.mark.parametrize(
    ("key", "status"),
    [(TELEPHONY, 200), (ADMIN, 403), (STAFF, 403), (None, 401), ("wrong-0123456789abcdef", 401)],
)
def test_only_telephony_keys_route_calls(keyed: Server, key: str | None, status: int) -> None:
    response = call(keyed, key, f"k-{status}-{key}")
    assert response.status_code == status, response.text
    if status == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("key", "status"), [(ADMIN, 200), (TELEPHONY, 403), (STAFF, 403), (None, 401)]
)
def test_only_admin_keys_manage_flows(keyed: Server, key: str | None, status: int) -> None:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    assert keyed.client.get("/v1/flows/versions", headers=headers).status_code == status


def test_health_needs_no_key(keyed: Server) -> None:
    assert keyed.client.get("/healthz").status_code == 200
    assert keyed.client.get("/readyz").status_code == 200


def test_the_permission_table() -> None:
    assert required_roles("POST", "/v1/calls/x/events") == {"telephony"}
    assert required_roles("GET", "/v1/calls/x") == {"telephony", "admin"}
    assert required_roles("PATCH", "/v1/targets/x") == {"admin"}
    assert required_roles("GET", "/healthz") is None


def test_keys_are_kept_hashed_and_checked() -> None:
    keys = Keys.parse(f"# comment\ntelephony {TELEPHONY}\nadmin:{ADMIN}\n", "keys")
    assert all(TELEPHONY.encode() not in digest for digest, _ in keys.hashed)
    assert keys.role_of(TELEPHONY) == "telephony" and keys.role_of(ADMIN) == "admin"
    assert keys.role_of("nope") is None
    with pytest.raises(KeysError, match="keys:1"):
        Keys.parse("boss 0123456789abcdef", "keys")
    with pytest.raises(KeysError, match="at least 16"):
        Keys.parse("admin short", "keys")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "telefony:0123456789abcdef",
            "keys:1: unknown role 'telefony': a line is 'ROLE KEY' with a role among "
            "telephony, admin, staff; did you mean 'telephony'?",
        ),
        ("admin:short-key", "keys:1: the admin key has 9 characters; a key needs at least 16"),
        ("staff   tiny", "keys:1: the staff key has 4 characters; a key needs at least 16"),
        (
            "0123456789abcdef0123",
            "keys:1: expected 'ROLE KEY': a role (telephony, admin, staff), a space, then the key",
        ),
    ],
)
def test_a_bad_keys_line_is_named_with_what_is_wrong_and_never_the_key(
    line: str, message: str
) -> None:
    with pytest.raises(KeysError) as refused:
        Keys.parse(f"# comment\n{line}", "keys")
    assert str(refused.value) == message.replace("keys:1", "keys:2")
    assert "0123456789abcdef" not in str(refused.value)


def test_a_key_may_hold_a_colon_in_the_role_space_key_form() -> None:
    keys = Keys.parse("admin abc:0123456789abcdef", "keys")
    assert keys.role_of("abc:0123456789abcdef") == "admin"


def test_without_keys_only_loopback_may_be_served(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ROUTING_API_KEYS"}
    result = subprocess.run(
        [
            sys.executable,
            "cli.py",
            "serve",
            "examples/hospital",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "only loopback may be served" in result.stderr
