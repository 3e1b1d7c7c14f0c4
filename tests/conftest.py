"""Shared test helpers: the hospital deployment, and small deployments written to tmp dirs."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import text as sql_text
from sqlalchemy.ext.asyncio import create_async_engine

from cluster.postgres import Cluster, PostgresUnavailable
from routing_engine import LoadedDeployment, load_deployment
from routing_engine.store.database import Store, async_url

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
HOSPITAL = ROOT / "examples" / "hospital"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def hospital() -> LoadedDeployment:
    return load_deployment(HOSPITAL)


def copy_hospital(root: Path) -> Path:
    """A copy of the hospital under `root` that a test may change, the shared modules beside it."""
    copy = root / "hospital"
    shutil.copytree(HOSPITAL, copy)
    shutil.copytree(ROOT / "flows", root / "flows")
    (copy / "deployment.yaml").write_text(
        (copy / "deployment.yaml").read_text().replace("../../flows", "../flows")
    )
    return copy


def write_files(root: Path, files: dict[str, str]) -> Path:
    """Write {relative path: text} under root (text is dedented); return root."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


MINIMAL_DEPLOYMENT = """
    deployment: test
    fallback:
      ring: desk
    entries:
      "+12125550100": main
    targets:
      desk:
        uri: sip:desk@example.com
      office:
        uri: sip:office@example.com
      backup:
        uri: sip:backup@example.com
"""


@pytest.fixture
def deployment_dir(tmp_path: Path):
    """Write a deployment: `deployment_dir({"main.yaml": "..."})`, with a minimal
    deployment.yaml unless the files give their own."""

    def make(files: dict[str, str]) -> Path:
        all_files = {"deployment.yaml": MINIMAL_DEPLOYMENT, **files}
        return write_files(tmp_path / "deployment", all_files)

    return make


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run `python cli.py ARGS` as a user would; never raises on a non-zero exit."""
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def in_process(app: Any, scenario: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    """Run `scenario` against `app` in this process (its lifespan started and stopped around
    it), with a client that reaches it without a socket; answer what the scenario answers. For a
    test that moves the app's clock itself, or adds a route to it."""

    async def main() -> T:
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://localhost") as client,
        ):
            return await scenario(client)

    return asyncio.run(main())


# PostgreSQL (cluster/postgres.py): one throwaway server per run, a new database for each test.
# A test that uses it is marked `postgres` (`-m postgres` picks them); it fails, never skips,
# when PostgreSQL cannot be had.
POSTGRES_FIXTURES = {"postgres", "postgres_url"}
POSTGRESQL = "postgresql"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        params = callspec.params.values() if callspec is not None else ()
        if names & POSTGRES_FIXTURES or POSTGRESQL in params:
            item.add_marker(pytest.mark.postgres)


def cluster_or_fail() -> Cluster:
    """A started cluster, or the test fails (never skips) saying why."""
    try:
        return Cluster()
    except (PostgresUnavailable, OSError, subprocess.SubprocessError) as error:
        pytest.fail(f"PostgreSQL is needed by this test and cannot be started: {error}")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    cluster = cluster_or_fail()
    try:
        cluster.prepare_template(lambda url: in_a_thread(_schema(url)))
        yield cluster
    finally:
        cluster.stop()


def in_a_thread(work: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(work)` in a thread of its own: a fixture or test may be running inside an
    event loop (Playwright's sync API keeps one running in the test's thread)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result()


async def _schema(url: str) -> None:
    store = Store(url)
    try:
        await store.open()
    finally:
        await store.close()


@pytest.fixture
def postgres_url(postgres: Cluster) -> str:
    """A new PostgreSQL database of this test's own, holding the store's schema, empty."""
    return postgres.new_database()


BACKENDS = ["sqlite", POSTGRESQL]  # what a test parametrized by backend runs on


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The store's backend a test runs on: each test that asks runs on both."""
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty store on the test's backend: a SQLite file in the test's folder, or a
    database of its own on the run's PostgreSQL server."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    cluster: Cluster = request.getfixturevalue("postgres")
    return cluster.new_database()


@pytest.fixture(scope="module", params=BACKENDS)
def module_stores(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[], Path | str]:
    """New stores for a module's servers, on each backend in turn: each call a SQLite file of
    its own, or a database of its own on the run's PostgreSQL server (as `Server` and
    `--database` take it)."""
    cluster: Cluster | None = None
    if request.param == POSTGRESQL:
        cluster = request.getfixturevalue("postgres")

    def new() -> Path | str:
        if cluster is None:
            return tmp_path_factory.mktemp("store") / "routing.db"
        return cluster.new_database()

    return new


@pytest.fixture(scope="module")
def module_database(module_stores: Callable[[], Path | str]) -> Path | str:
    """The store of a module's server, on each backend in turn."""
    return module_stores()


StoreAt = Callable[[str], Path | str]  # the `store_at` fixture: a test's store by name


@pytest.fixture
def store_at(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> StoreAt:
    """`store_at(name)`: the test's store called `name` on its backend (each test runs on
    both): a SQLite file `name` in the test's folder, or a PostgreSQL database of its own; the
    same name gives the same store (two servers sharing one)."""
    made: dict[str, Path | str] = {}
    cluster: Cluster | None = None
    if backend == POSTGRESQL:
        cluster = request.getfixturevalue("postgres")

    def at(name: str) -> Path | str:
        if name not in made:
            made[name] = tmp_path / name if cluster is None else cluster.new_database()
        return made[name]

    return at


def store_url(database: Path | str) -> str:
    """A store as a URL: a SQLite file's, or a URL as it is."""
    return database if isinstance(database, str) else f"sqlite+aiosqlite:///{database}"


def sql_rows(url: Path | str, statement: str) -> list[tuple[Any, ...]]:
    """Run one SQL statement on the store at `url` (a SQLite file, or a URL of either backend)
    through the store's own async driver, committed; its rows (none when it returns none)."""

    async def run() -> list[tuple[Any, ...]]:
        engine = create_async_engine(async_url(store_url(url)))
        try:
            async with engine.begin() as connection:
                result = await connection.execute(sql_text(statement))
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            await engine.dispose()

    return in_a_thread(run())
