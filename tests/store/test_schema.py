"""The store's schema migrations (store/schema.py, Alembic), one history for both backends: a
new store is made by them, a store the release before migrations made is brought under them
with nothing lost, a store behind is refused until `db upgrade`, and `db check` says what is
pending."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path
from subprocess import CompletedProcess

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from conftest import ROOT, run_cli
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from routing_engine.cli.app import app
from routing_engine.store import schema
from routing_engine.store.database import Store, StoreOutdated, claim
from routing_engine.store.tables import metadata


def db_command(*args: str) -> CompletedProcess[str]:
    """`cli.py db ARGS`, run in this process (the command line's own code, without starting
    Python again for each)."""
    result = CliRunner().invoke(app, ["db", *args])
    return CompletedProcess(["db", *args], result.exit_code, result.stdout, result.stderr)


def open_store(url: str, deployment: str | None = None) -> None:
    async def run() -> None:
        store = Store(url)
        try:
            await store.open(deployment)
        finally:
            await store.close()

    asyncio.run(run())


async def differences(url: str) -> tuple[str | None, list[object]]:
    """The store's revision, and how its tables differ from this version's (none: equal)."""
    store = Store(url)

    def compare(connection: Connection) -> tuple[str | None, list[object]]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return context.get_current_revision(), list(compare_metadata(context, metadata))

    try:
        async with store.engine.connect() as connection:
            return await connection.run_sync(compare)
    finally:
        await store.close()


def test_a_new_store_is_made_by_the_migrations_as_this_version_defines_it(
    database_url: str, backend: str
) -> None:
    if backend == "postgresql":  # the test database comes made from the template: start empty
        asyncio.run(_drop_everything(database_url))
    open_store(database_url, "hospital")
    revision, diff = asyncio.run(differences(database_url))
    assert revision == schema.head()
    assert diff == []  # every table, column, type, index and constraint as tables.py says


async def _drop_everything(url: str) -> None:
    store = Store(url)
    try:
        async with store.engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
    finally:
        await store.close()


def previous_release_store(path: Path) -> None:
    """A store as the release before migrations made it (its tables made from the same
    definitions, `create_all`), holding a call and its owner, with no revision recorded."""
    engine = create_engine(f"sqlite:///{path}")
    try:
        metadata.create_all(engine)
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO calls VALUES ('c1', 'd', 3, 'ringing', '{}', '{}', 't0', 't1')")
            )
            connection.execute(text("INSERT INTO store_owner VALUES (1, 'hospital', 't0')"))
    finally:
        engine.dispose()


def test_a_store_of_the_release_before_migrations_is_kept_and_stamped(tmp_path: Path) -> None:
    path = tmp_path / "previous.db"
    previous_release_store(path)
    claim(f"sqlite:///{path}", "hospital")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (schema.BASELINE,)
        ]
        assert db.execute("SELECT call_id, seq FROM calls").fetchall() == [("c1", 3)]
    db.close()


def test_a_store_behind_is_refused_until_db_upgrade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A later version with a second revision: a store at the baseline is refused, by name
    and with what to run; once upgraded (the revision applied), it opens."""
    later = tmp_path / "migrations"
    shutil.copytree(schema.MIGRATIONS, later, ignore=shutil.ignore_patterns("__pycache__"))
    (later / "versions" / "0002_note.py").write_text(
        '"""Tickets get a note of who called back."""\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        'revision = "0002"\ndown_revision = "0001"\nbranch_labels = None\ndepends_on = None\n\n\n'
        "def upgrade() -> None:\n"
        '    with op.batch_alter_table("tickets") as table:\n'
        '        table.add_column(sa.Column("called_back", sa.Text, nullable=True))\n'
    )
    url = f"sqlite:///{tmp_path / 'behind.db'}"
    open_store(url, "hospital")  # made by this version: at the baseline
    monkeypatch.setattr(schema, "MIGRATIONS", later)
    schema._script.cache_clear()
    try:
        with pytest.raises(StoreOutdated) as refused:
            open_store(url, "hospital")
        message = str(refused.value)
        assert "earlier schema (revision 0001) than this version's (0002)" in message
        assert "0002: Tickets get a note of who called back." in message
        assert "cli.py db upgrade" in message

        async def upgrade() -> tuple[schema.SchemaState, schema.SchemaState]:
            store = Store(url)
            try:
                return await store.upgrade()
            finally:
                await store.close()

        before, after = asyncio.run(upgrade())
        assert (before.current, after.current, after.up_to_date) == ("0001", "0002", True)
        open_store(url, "hospital")
        with sqlite3.connect(tmp_path / "behind.db") as db:
            columns = {row[1] for row in db.execute("PRAGMA table_info(tickets)")}
        db.close()
        assert "called_back" in columns
    finally:
        monkeypatch.undo()
        schema._script.cache_clear()


def test_db_check_and_upgrade_on_the_command_line(database_url: str, backend: str) -> None:
    """`db check` exits 1 listing what is pending, `db upgrade` applies it, then `db check`
    exits 0; on both backends."""
    if backend == "postgresql":
        asyncio.run(_drop_everything(database_url))
    pending = db_command("check", "--database", database_url)
    assert pending.returncode == 1, pending.stderr
    assert "revision none (a new store); pending, oldest first:" in pending.stdout
    assert f"  {schema.BASELINE}: The schema of the release before migrations" in pending.stdout
    secret = make_url(database_url).password
    assert secret is None or (secret not in pending.stdout and "***" in pending.stdout)
    upgraded = db_command("upgrade", "--database", database_url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"now at revision {schema.head()}" in upgraded.stdout
    again = db_command("upgrade", "--database", database_url)
    assert f"up to date (revision {schema.head()})" in again.stdout
    checked = db_command("check", "--database", database_url)
    assert (checked.returncode, checked.stderr) == (0, "")
    assert f"up to date (revision {schema.head()})" in checked.stdout


def test_db_commands_name_a_deployments_default_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTING_DATA_DIR", str(tmp_path / "data"))
    store = tmp_path / "data" / "hospital" / "routing.db"
    store.parent.mkdir(parents=True)
    previous_release_store(store)
    checked = db_command("check", str(ROOT / "examples" / "hospital"))
    assert checked.returncode == 1
    assert "made by the release before migrations" in checked.stdout
    upgraded = db_command("upgrade", str(ROOT / "examples" / "hospital"))
    assert upgraded.returncode == 0, upgraded.stderr
    assert "kept, stamped" in upgraded.stdout
    assert str(store) in upgraded.stdout
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT call_id FROM calls").fetchall() == [("c1",)]
    db.close()
    neither = db_command("check")
    assert neither.returncode == 2 and "give a deployment directory or --database" in neither.stderr


def test_serve_refuses_a_later_versions_store(tmp_path: Path) -> None:
    path = tmp_path / "later.db"
    open_store(f"sqlite:///{path}", "hospital")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE alembic_version SET version_num = '9999'")
    db.close()
    served = run_cli("serve", "examples/hospital", "--port", "0", "--database", f"sqlite:///{path}")
    assert served.returncode == 2
    assert "is at revision 9999, which this version does not know" in served.stderr
    checked = db_command("check", "--database", f"sqlite:///{path}")
    assert checked.returncode == 2 and "a later version's store" in checked.stderr
