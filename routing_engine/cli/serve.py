"""`cli.py serve`: a deployment served over HTTP. The settings reach the server (and each of its
worker processes) through the environment, which `service/app.py` reads back."""

from __future__ import annotations

import os
import shutil
from typing import Annotated

import typer

from routing_engine.cli.common import load_or_exit, parse_time_option
from routing_engine.core.clock import (
    DEFAULT_MAX_SKEW_S,
    OFFSET_ENV,
    Clock,
    offset_clock,
    system_clock,
)


def register(app: typer.Typer) -> None:
    """Add this group's command to the command line."""
    app.command("serve")(serve_command)


DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DATABASE; default: "
        "SQLite in ./data/DEPLOYMENT/routing.db ($ROUTING_DATA_DIR moves ./data)",
    ),
]
DeadlineOption = Annotated[
    int,
    typer.Option("--deadline-ms", min=10, max=60000, help="answer the fallback after this long"),
]
KeysOption = Annotated[
    str | None,
    typer.Option("--keys", help="file of 'ROLE KEY' lines; default: $ROUTING_API_KEYS"),
]
NowOption = Annotated[
    str | None,
    typer.Option(
        "--now",
        help="serve as if it were this ISO time at start; the clock runs on from there "
        "(a demo, a replay, a test); default: the machine's clock",
    ),
]
MaxSkewOption = Annotated[
    float,
    typer.Option(
        "--max-at-skew",
        min=1,
        help="refuse a request whose 'at' is further than this many seconds from the clock",
    ),
]

PublicUrlOption = Annotated[
    str | None,
    typer.Option(
        "--public-url",
        help="the address agents reach this server at, e.g. https://routing.example.org: "
        "disposition links are made absolute with it; default: $ROUTING_PUBLIC_URL, else "
        "links are paths",
    ),
]


def serve_command(
    deployment: Annotated[str, typer.Argument(help="the deployment directory")],
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8000,
    database: DatabaseOption = None,
    deadline_ms: DeadlineOption = 500,
    keys_file: KeysOption = None,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="worker processes")] = 1,
    now: NowOption = None,
    max_at_skew_s: MaxSkewOption = DEFAULT_MAX_SKEW_S,
    public_url: PublicUrlOption = None,
) -> None:
    """Serve a deployment over HTTP."""
    import tempfile

    from routing_engine.service.app import MAX_SKEW_ENV, run_server
    from routing_engine.service.links import PUBLIC_URL_ENV

    # one offset from the machine's clock, computed once, so every worker reads the same time
    offset_s = (
        0.0 if now is None else (parse_time_option(now, "--now") - system_clock()).total_seconds()
    )
    _check_keys(keys_file, host)
    if public_url is not None:
        os.environ[PUBLIC_URL_ENV] = _checked_public_url(public_url)
    loaded = load_or_exit(deployment, "serve")  # refuse a deployment with errors before binding
    url = _store_or_exit(database, loaded.name, offset_clock(offset_s))
    os.environ.update(
        ROUTING_DEPLOYMENT=str(deployment),
        ROUTING_DATABASE=url,
        ROUTING_DEADLINE_MS=str(deadline_ms),
        ROUTING_KEYS_FILE=keys_file or "",
        **{OFFSET_ENV: repr(offset_s), MAX_SKEW_ENV: repr(max_at_skew_s)},
    )
    made = None  # the workers' metrics folder, when this serve makes it: removed at the end
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        made = tempfile.mkdtemp(prefix=f"routing-metrics-{loaded.name}-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    try:
        run_server("routing_engine.service.app:app_from_env", host, port, workers)
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)


def _store_or_exit(database: str | None, deployment: str, clock: Clock) -> str:
    """The store's URL (`database`, else the deployment's default one), checked before binding:
    exit 2 with the reason when it cannot be opened, belongs to another deployment or was made
    by an earlier version. A store left by an earlier version at the data directory's top
    (`data/routing.db`, shared by every deployment) is no longer the default: say so."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from routing_engine.service.app import DATA_DIR_ENV, data_folder
    from routing_engine.store.database import (
        StoreClaimed,
        StoreOutdated,
        StoreUrlError,
        claim,
        sqlite_url,
    )

    if database is None:
        old = data_folder(deployment).parent / "routing.db"
        if old.exists() and not (data_folder(deployment) / "routing.db").exists():
            typer.echo(
                f"note: {old} is not the default store any more: each deployment has its own, "
                f"now {data_folder(deployment) / 'routing.db'}. To keep the old one, move it "
                f"there or serve with --database sqlite:///{old} (${DATA_DIR_ENV} moves the "
                "data directory)",
                err=True,
            )
    url = database or sqlite_url(data_folder(deployment))
    try:
        claim(url, deployment, clock)
    except (StoreClaimed, StoreOutdated, StoreUrlError) as refused:
        typer.echo(f"error: cannot start: {refused}", err=True)
        raise typer.Exit(2) from None
    except (SQLAlchemyError, OSError) as failed:  # served anyway: fallbacks until it opens
        reason = getattr(failed, "orig", None) or failed
        shown = make_url(url).render_as_string(hide_password=True)
        typer.echo(
            f"warning: the store {shown} cannot be opened for writing ({reason}): serving "
            "every call its fallback decision until it can (/readyz answers 503 meanwhile)",
            err=True,
        )
    return url


def _check_keys(keys_file: str | None, host: str) -> None:
    """Exit 2 when the API keys cannot be read, or when there are none and `host` is not a
    loopback address: without keys the service has no authentication, so only this machine
    may reach it."""
    from routing_engine.service.auth import LOOPBACK, Keys, KeysError

    try:
        keys = Keys.load(keys_file)
    except (KeysError, OSError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    if not keys.enabled:
        if host not in LOOPBACK:
            typer.echo(
                f"error: no API keys are configured, so only loopback may be served, not {host}; "
                "set $ROUTING_API_KEYS or --keys (lines 'ROLE KEY')",
                err=True,
            )
            raise typer.Exit(2)
        typer.echo(
            "warning: no API keys configured: serving loopback only, without authentication",
            err=True,
        )


def _checked_public_url(text: str) -> str:
    """The public URL as `links.checked_public_url` reads it; exit 2 saying what it needs."""
    from routing_engine.service.links import checked_public_url

    try:
        return checked_public_url(text)
    except ValueError as error:
        typer.echo(f"error: --public-url: {error}", err=True)
        raise typer.Exit(2) from None
