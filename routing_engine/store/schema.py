"""The store's schema and its migrations, one history for SQLite and PostgreSQL (Alembic).

The revisions are in `migrations/versions/`; the first, `BASELINE`, is the schema as the release
before migrations made it. Which revision a store is at is kept in its `alembic_version` table.
A store with no such table is either new (no tables at all) or made by that release (its tables,
not its version): both are brought to the baseline by the same revision, which makes only the
tables and indexes that are missing, so nothing a store holds is lost.

A server only ever brings a store up to the baseline (so a new store needs no step of its own);
one at an older revision than this version's newest is refused (`StoreOutdated`) until
`cli.py db upgrade` has run, so no server writes to a store whose schema it does not know.
Everything here runs on a sync `Connection` inside the caller's transaction, under the lock
`Store.open` holds (SQLite's write lock; a PostgreSQL advisory lock): of several servers
starting at once, one migrates and the others find it done.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

from routing_engine.store.tables import metadata

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001"  # the schema of the release before migrations


class StoreOutdated(RuntimeError):
    """The store's schema is not the one this version writes: an earlier version's (run
    `cli.py db upgrade`), or a later one's."""


@dataclass(frozen=True, slots=True)
class SchemaState:
    """Where a store's schema stands: its revision (None: none recorded), this version's
    newest, and the revisions still to apply, oldest first, each as 'id: message'."""

    current: str | None
    head: str
    pending: tuple[str, ...]
    made_before_migrations: bool  # tables, but no revision: the previous release's store
    unknown: bool  # a revision this version does not know: a later version's store

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head() -> str:
    """This version's newest revision."""
    found = _script().get_current_head()
    assert found is not None  # the migrations folder always holds the baseline
    return found


def state(connection: Connection) -> SchemaState:
    """Where the store on `connection` stands (read only)."""
    current = MigrationContext.configure(connection).get_current_revision()
    existing = set(inspect(connection).get_table_names()) & set(metadata.tables)
    script, newest = _script(), head()
    unknown = current is not None and _known(script, current) is False
    pending: list[str] = []
    if current != newest and not unknown:
        for revision in script.iterate_revisions(newest, current or "base"):
            pending.append(f"{revision.revision}: {revision.doc}")
        pending.reverse()
    return SchemaState(current, newest, tuple(pending), current is None and bool(existing), unknown)


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except Exception:  # alembic's CommandError / ResolutionError for a revision it lacks
        return False


def stale_tables(connection: Connection) -> list[str]:
    """Each existing table that lacks columns the baseline has, with what it lacks: a store
    made before the previous release, which no revision brings forward."""
    found = inspect(connection)
    existing = set(found.get_table_names())
    stale = []
    for table in metadata.sorted_tables:
        if table.name not in existing:
            continue
        have = {column["name"] for column in found.get_columns(table.name)}
        lacking = [c.name for c in table.columns if c.name not in have]
        if lacking:
            stale.append(f"table {table.name} lacks {', '.join(lacking)}")
    return stale


def upgrade(connection: Connection, shown: str, to: str = "head") -> SchemaState:
    """Apply the pending revisions up to `to` in the caller's transaction; the state before.
    StoreOutdated when the store cannot be brought forward (older than the previous release,
    or a later version's)."""
    before = state(connection)
    if before.unknown:
        raise StoreOutdated(_newer(shown, before))
    if before.current is None:
        stale = stale_tables(connection)
        if stale:
            raise StoreOutdated(
                f"the store {shown} was made by an earlier version than migrations can bring "
                f"forward: {'; '.join(stale)}. Move the database aside (it is made afresh), "
                "or point --database at a new one"
            )
    command.upgrade(_config(connection), to)
    return before


def open_schema(connection: Connection, shown: str) -> None:
    """What a server does on opening a store: a new store, or one made by the release before
    migrations, is brought to the baseline (a new one to the newest revision); then the store
    must be at this version's newest revision, else StoreOutdated says to run `db upgrade`."""
    found = state(connection)
    if found.unknown:
        raise StoreOutdated(_newer(shown, found))
    if found.current is None:
        upgrade(connection, shown, BASELINE if found.made_before_migrations else "head")
        found = state(connection)
    if not found.up_to_date:
        raise StoreOutdated(
            f"the store {shown} has an earlier schema (revision {found.current}) than this "
            f"version's ({found.head}); still to apply: {'; '.join(found.pending)}. Run "
            "`cli.py db upgrade --database URL` (or `cli.py db upgrade DEPLOYMENT` for its "
            "default store), then start the server again"
        )


def _newer(shown: str, found: SchemaState) -> str:
    return (
        f"the store {shown} is at revision {found.current}, which this version does not know "
        f"(its newest is {found.head}): a later version made or upgraded it. Serve it with "
        "that version"
    )
