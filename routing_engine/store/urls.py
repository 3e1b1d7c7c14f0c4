"""Database URLs as the store takes them: the default SQLite file of a folder, the async
driver a URL given without one gets, and why a URL cannot be opened, in words."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from routing_engine.store.private import private_folder


def sqlite_url(folder: str | Path) -> str:
    """A store in `folder` (created when missing, private: `store/private.py`): the SQLite
    file `routing.db`. The default store is the one in the deployment's own folder of the data
    directory."""
    folder = Path(folder)
    private_folder(folder)
    return f"sqlite+aiosqlite:///{folder / 'routing.db'}"


# The async driver the store uses for a URL given without one, as people type URLs.
ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


def async_url(url: str) -> str:
    """`url` with the async driver the store uses when it names none (`sqlite:///routing.db`
    is `sqlite+aiosqlite:///routing.db`, `postgresql://host/db` is `postgresql+asyncpg://...`);
    a URL that names its driver is kept as it is."""
    scheme, separator, rest = url.partition("://")
    driver = ASYNC_DRIVERS.get(scheme.lower()) if separator else None
    return url if driver is None else f"{driver}://{rest}"


class StoreUrlError(ValueError):
    """A database URL the store cannot open: not a URL, a driver that is not async, or one
    that is not installed."""


def url_problem(url: str, error: Exception) -> str:
    """Why the store cannot open `url`, worded for the person who gave it."""
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        shown = url
    if isinstance(error, ModuleNotFoundError):
        return f"the database {shown} needs the Python package {error.name!r}: install it"
    if isinstance(error, ArgumentError):
        return (
            f"{shown!r} is not a database URL: give sqlite:///PATH or "
            "postgresql://USER:PASSWORD@HOST/DATABASE"
        )
    return (
        f"the database {shown} names a driver that is not async: give sqlite:///PATH or "
        "postgresql://USER:PASSWORD@HOST/DATABASE (the store picks its async driver)"
    )
