"""`cli.py db upgrade` and `cli.py db check`: the store's schema brought to this version's, or
what is still to apply (`store/schema.py`). A store is named by `--database URL`, or by a
deployment directory (its default store, as `serve` uses it)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

import typer

from routing_engine.cli.common import load_or_exit
from routing_engine.cli.serve import DatabaseOption

if TYPE_CHECKING:
    from routing_engine.store.database import Store


def register(app: typer.Typer) -> None:
    """Add this group's commands to the command line."""
    group = typer.Typer(
        no_args_is_help=True,
        help="The store's schema: bring it to this version's (upgrade), or say what is pending.",
    )
    group.command("upgrade")(upgrade_command)
    group.command("check")(check_command)
    app.add_typer(group, name="db")


DeploymentArgument = Annotated[
    str | None,
    typer.Argument(help="a deployment directory: its default store (else give --database)"),
]


def upgrade_command(deployment: DeploymentArgument = None, database: DatabaseOption = None) -> None:
    """Apply the schema revisions the store lacks (none lost: each only adds). Exit 0 when the
    store is at this version's schema, 2 when it cannot be opened or brought forward."""

    async def run(store: Store) -> None:
        before, after = await store.upgrade()
        if before.up_to_date:
            typer.echo(f"{store.shown}: up to date (revision {after.head})")
            return
        if before.made_before_migrations:
            typer.echo(f"{store.shown}: made by the release before migrations: kept, stamped")
        for step in before.pending:
            typer.echo(f"{store.shown}: applied {step}")
        typer.echo(f"{store.shown}: now at revision {after.current}")

    _with_store(deployment, database, run)


def check_command(deployment: DeploymentArgument = None, database: DatabaseOption = None) -> None:
    """Say whether the store's schema is this version's. Exit 0 when it is, 1 when revisions
    are pending (each listed; `db upgrade` applies them), 2 when it cannot be read or is a
    later version's."""

    async def run(store: Store) -> None:
        found = await store.schema_state()
        if found.unknown:
            typer.echo(
                f"error: {store.shown} is at revision {found.current}, which this version does "
                f"not know (its newest is {found.head}): a later version's store",
                err=True,
            )
            raise typer.Exit(2)
        if found.up_to_date:
            typer.echo(f"{store.shown}: up to date (revision {found.head})")
            return
        at = found.current or (
            "none (made by the release before migrations)"
            if found.made_before_migrations
            else "none (a new store)"
        )
        typer.echo(f"{store.shown}: revision {at}; pending, oldest first:")
        for step in found.pending:
            typer.echo(f"  {step}")
        typer.echo("run `cli.py db upgrade` with the same store to apply them")
        raise typer.Exit(1)

    _with_store(deployment, database, run)


def _with_store(
    deployment: str | None, database: str | None, run: Callable[[Store], Awaitable[None]]
) -> None:
    """Open the store named by `database` or `deployment`, `run(store)`, close it; exit 2
    when it cannot be named, opened or brought forward."""
    from sqlalchemy.exc import SQLAlchemyError

    from routing_engine.service.app import data_folder
    from routing_engine.store.database import Store, StoreOutdated, StoreUrlError, sqlite_url

    if (deployment is None) == (database is None):
        typer.echo("error: give a deployment directory or --database URL (one of them)", err=True)
        raise typer.Exit(2)
    url = database or sqlite_url(data_folder(load_or_exit(str(deployment), "open").name))

    async def session() -> None:
        store = Store(url)
        try:
            await run(store)
        finally:
            await store.close()

    try:
        asyncio.run(session())
    except (StoreOutdated, StoreUrlError) as refused:
        typer.echo(f"error: {refused}", err=True)
        raise typer.Exit(2) from None
    except (SQLAlchemyError, OSError) as failed:
        reason = getattr(failed, "orig", None) or failed
        typer.echo(f"error: the store cannot be opened: {reason}", err=True)
        raise typer.Exit(2) from None
