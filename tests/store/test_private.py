"""The secrets the server keeps in a deployment's data folder (the board's sessions, the
webhooks, the disposition links): one helper makes each, private, and reads it back."""

from __future__ import annotations

from pathlib import Path

import pytest

from routing_engine.service.links import SECRET_FILE as LINKS_FILE
from routing_engine.service.sessions import SECRET_FILE as SESSIONS_FILE
from routing_engine.service.sessions import secret_from
from routing_engine.store.notify import SECRET_FILE as WEBHOOK_FILE
from routing_engine.store.notify import kept_secret as webhook_secret
from routing_engine.store.private import kept_secret


def test_a_secret_is_made_private_once_and_read_back(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "hospital"
    made = kept_secret(folder, LINKS_FILE, "disposition secret")
    assert len(made) == 64 and kept_secret(folder, LINKS_FILE, "disposition secret") == made
    assert (folder / LINKS_FILE).stat().st_mode & 0o777 == 0o600
    assert folder.stat().st_mode & 0o777 == 0o700
    assert (folder.parent.stat().st_mode & 0o777) == 0o700
    assert sorted(p.name for p in folder.iterdir()) == [LINKS_FILE]  # no draft left behind


def test_the_sessions_and_the_webhooks_keep_theirs_by_it(tmp_path: Path) -> None:
    sessions, webhooks = secret_from(tmp_path), webhook_secret(tmp_path)
    assert sessions != webhooks
    assert (tmp_path / SESSIONS_FILE).read_bytes().strip() == sessions
    assert (tmp_path / WEBHOOK_FILE).read_bytes().strip() == webhooks


def test_a_short_secret_is_refused_naming_it(tmp_path: Path) -> None:
    (tmp_path / WEBHOOK_FILE).write_text("short\n")
    with pytest.raises(ValueError, match="a webhook secret needs at least 32 characters"):
        webhook_secret(tmp_path)
