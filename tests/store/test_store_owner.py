"""A store belongs to the deployment that first opened it: another deployment is refused
(StoreClaimed, naming both and the store) and nothing is changed; a store made before stores
had owners is claimed by its own deployment, and refused to another whose versions it does not
hold; `create_app` refuses before it serves, event loop or not."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from conftest import FIXTURES, HOSPITAL, sql_rows
from sqlalchemy.engine import make_url

from routing_engine.service.app import create_app
from routing_engine.store.database import Store, StoreClaimed, async_url, claim

DENTAL = FIXTURES / "dental"


def url_of(path: Path) -> str:
    return f"sqlite:///{path}"


def owners(path: Path) -> list[tuple[str]]:
    db = sqlite3.connect(path)
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        if "store_owner" not in tables:
            return []
        return db.execute("SELECT deployment FROM store_owner").fetchall()
    finally:
        db.close()


def test_the_first_deployment_claims_the_store_and_another_is_refused(database_url: str) -> None:
    claim(database_url, "hospital")
    with pytest.raises(StoreClaimed) as refused:
        claim(database_url, "dental")
    url = make_url(async_url(database_url))
    shown = url.database if url.get_backend_name() == "sqlite" else url.render_as_string()
    assert str(refused.value).startswith(
        f"the store {shown} belongs to deployment 'hospital', not 'dental':"
    )
    assert "another --database" in str(refused.value)
    assert url.password is None or url.password not in str(refused.value)
    claim(database_url, "hospital")  # the same deployment again: fine
    assert sql_rows(database_url, "SELECT deployment FROM store_owner") == [("hospital",)]


def test_an_open_store_records_only_its_own_deployments_versions(tmp_path: Path) -> None:
    async def publish_other() -> None:
        store = Store(url_of(tmp_path / "p.db"))
        try:
            await store.open("hospital")
            await store.publish("hospital", "a" * 64, {"f.yaml": "x"})
            await store.publish("dental", "b" * 64, {"f.yaml": "x"})
        finally:
            await store.close()

    with pytest.raises(StoreClaimed, match="belongs to deployment 'hospital', not 'dental'"):
        asyncio.run(publish_other())


def earlier_store(path: Path, *deployments: str) -> None:
    """A store as an earlier version left it: its tables, a version of each deployment, no
    owner (and no schema revision: that came later still)."""

    async def make() -> None:
        store = Store(url_of(path))
        try:
            await store.open()
            for number, deployment in enumerate(deployments):
                await store.publish(deployment, str(number) * 64, {"f.yaml": "x"})
        finally:
            await store.close()

    asyncio.run(make())
    db = sqlite3.connect(path)
    try:
        db.execute("DROP TABLE store_owner")
        db.execute("DROP TABLE alembic_version")
        db.commit()
    finally:
        db.close()


def test_an_earlier_store_is_claimed_by_its_own_deployment_only(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    earlier_store(path, "hospital")
    with pytest.raises(StoreClaimed, match="belongs to deployment 'hospital', not 'dental'"):
        claim(url_of(path), "dental")
    assert owners(path) == []  # nothing changed: not even the owner's table was made
    claim(url_of(path), "hospital")
    assert owners(path) == [("hospital",)]


def test_an_earlier_store_shared_by_two_deployments_is_refused_to_both(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    earlier_store(path, "hospital", "dental")
    for deployment in ("hospital", "dental"):
        with pytest.raises(StoreClaimed) as refused:
            claim(url_of(path), deployment)
        assert str(refused.value).startswith(
            f"the store {path} holds deployments 'dental' and 'hospital' (it was shared before "
            f"a store had one owner): a store holds one deployment's calls, tickets and "
            f"versions. Serve {deployment!r} with its own store"
        )
    assert owners(path) == []


def test_create_app_refuses_another_deployments_store(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    create_app(HOSPITAL, url_of(path))
    with pytest.raises(StoreClaimed, match="belongs to deployment 'hospital', not 'dental'"):
        create_app(DENTAL, url_of(path))

    async def in_a_running_loop() -> None:
        create_app(DENTAL, url_of(path))

    with pytest.raises(StoreClaimed):
        asyncio.run(in_a_running_loop())


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("sqlite:///data/routing.db", "sqlite+aiosqlite:///data/routing.db"),
        ("sqlite:////srv/routing.db", "sqlite+aiosqlite:////srv/routing.db"),
        (
            "postgresql://ops:pw@db.example/routing",
            "postgresql+asyncpg://ops:pw@db.example/routing",
        ),
        ("postgres://db/routing", "postgresql+asyncpg://db/routing"),
        ("sqlite+aiosqlite:///kept.db", "sqlite+aiosqlite:///kept.db"),
        ("postgresql+asyncpg://db/kept", "postgresql+asyncpg://db/kept"),
    ],
)
def test_a_url_without_a_driver_gets_the_stores_async_driver(given: str, used: str) -> None:
    assert async_url(given) == used
