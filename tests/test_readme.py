"""The README's Python example runs as written, and its claims about it hold."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ROOT, in_process, run_cli

from routing_engine.core.clock import ManualClock
from routing_engine.service.app import create_app
from routing_engine.service.auth import MIN_KEY_LENGTH, Keys
from routing_engine.service.sessions import MIN_SECRET_LENGTH, Sessions


def test_the_python_api_example_runs(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    (example,) = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    scope: dict[str, object] = {}
    exec(compile(example, "README.md", "exec"), scope)
    ring = scope["ring"]
    assert isinstance(ring, dict)
    assert ring["targets"][0]["name"] == "billing-ny"
    assert ring["timeout_s"] == 12.0


def readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_broken_example_prints_what_the_readme_quotes() -> None:
    (quoted,) = re.findall(
        r"A problem looks like this \(`python cli.py validate examples/broken`[^)]*\):\n\n```\n"
        r"(.*?)```",
        readme(),
        re.DOTALL,
    )
    result = run_cli("validate", "examples/broken")
    assert result.returncode == 1
    assert quoted in result.stdout
    assert result.stdout.count(": S103 ") == 1  # the one mistake the README shows


def test_the_api_keys_example_is_read_as_documented() -> None:
    text = readme()
    (value,) = re.findall(r'export ROUTING_API_KEYS="([^"]*)"', text)
    keys = Keys.parse(value, "README")
    assert sorted(role for _, role in keys.hashed) == ["admin", "staff", "telephony"]
    for line in value.split(","):
        role, key = line.split()
        assert keys.role_of(key) == role
    assert f"**at least {MIN_KEY_LENGTH} characters**" in text
    assert "`telephony:KEY" not in text  # the form the parser's documentation does not give


def test_the_session_secrets_minimum_is_the_one_enforced(monkeypatch: pytest.MonkeyPatch) -> None:
    (said,) = re.findall(r"`\$ROUTING_SESSION_SECRET` \(\*\*at least (\d+) characters", readme())
    assert int(said) == MIN_SECRET_LENGTH
    monkeypatch.setenv("ROUTING_SESSION_SECRET", "x" * (MIN_SECRET_LENGTH - 1))
    with pytest.raises(ValueError, match=f"at least {MIN_SECRET_LENGTH}"):
        Sessions.from_env()
    monkeypatch.setenv("ROUTING_SESSION_SECRET", "x" * MIN_SECRET_LENGTH)
    assert Sessions.from_env().secret == b"x" * MIN_SECRET_LENGTH


def contained(shown: Any, actual: Any) -> bool:
    """Whether `shown` (an example, which may leave keys out) is in `actual`."""
    if isinstance(shown, dict):
        return isinstance(actual, dict) and all(
            key in actual and contained(value, actual[key]) for key, value in shown.items()
        )
    return bool(shown == actual)


def test_the_publish_example_answers_as_the_readme_shows(tmp_path: Path) -> None:
    section = readme().split("**Publishing over HTTP.**", 1)[1]
    request, response = (json.loads(b) for b in re.findall(r"```json\n(.*?)```", section, re.S)[:2])
    for name, text in request["files"].items():  # the clinic as served: its ring at 3 rings
        (tmp_path / name).write_text(text.replace("4 rings", "3 rings"), encoding="utf-8")
    clock = ManualClock(datetime.fromisoformat("2026-11-23T10:00:00-05:00"))
    app = create_app(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", clock=clock)

    async def publish(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post("/v1/flows/publish", json=request)

    answer = in_process(app, publish)
    assert answer.status_code == 200, answer.text
    assert contained(response, answer.json()), answer.json()
    assert set(response) == set(answer.json())  # only the diff's empty sections are left out
