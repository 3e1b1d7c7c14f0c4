"""The throwaway PostgreSQL server the tests start (cluster/postgres.py): a real server, set up
as the tests need it and as a shared machine wants it."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.postgres import TEMPLATE, Cluster

pytestmark = pytest.mark.postgres


def test_the_server_listens_on_loopback_only_with_no_unix_socket(postgres: Cluster) -> None:
    assert postgres.sql("SHOW listen_addresses") == "127.0.0.1"
    assert postgres.sql("SHOW unix_socket_directories") == ""
    assert postgres.sql("SELECT inet_server_addr()") == "127.0.0.1"
    assert postgres.sql("SHOW port") == str(postgres.port)
    assert postgres.sql("SHOW fsync") == "off"  # a throwaway cluster: speed over durability
    assert int(postgres.sql("SELECT split_part(current_setting('server_version'), '.', 1)")) >= 15


def test_the_server_runs_as_an_unprivileged_user_in_a_private_folder(postgres: Cluster) -> None:
    assert postgres.pid is not None
    status = Path(f"/proc/{postgres.pid}/status").read_text()
    uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
    assert uid != 0
    folder = postgres.folder.stat()
    assert folder.st_uid == uid and folder.st_mode & 0o077 == 0
    assert not (postgres.data / "password").exists()  # initdb's password file is gone


def test_each_test_gets_a_new_database_with_the_store_schema(postgres: Cluster) -> None:
    one, two = postgres.new_database(), postgres.new_database()
    assert one != two
    name = one.rsplit("/", 1)[1]
    tables = postgres.sql(
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables"
        " WHERE schemaname = 'public'",
        database=name,
    ).split(",")
    assert {"calls", "events", "tickets", "timers", "deliveries", "store_owner"} <= set(tables)
    assert postgres.sql("SELECT count(*) FROM calls", database=name) == "0"
    assert TEMPLATE not in one


def test_a_stopped_cluster_is_gone() -> None:
    """A second cluster, started and stopped here: its postmaster has ended and its folder is
    removed (the session's own is stopped the same way at the end of the run)."""
    cluster = Cluster()
    pid, folder = cluster.pid, cluster.folder
    assert pid is not None and folder.is_dir()
    cluster.stop()
    assert not folder.exists()
    assert not running(pid)


def running(pid: int) -> bool:
    """Whether the process runs (a zombie, ended but not yet reaped by its parent, does not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status
