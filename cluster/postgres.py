"""A throwaway PostgreSQL server for the tests, `make run-cluster` and the benchmarks: Debian's
binaries (scripts/test-deps.sh installs the `postgresql` package when missing), a cluster made
with `initdb` in a temporary folder, run by an unprivileged OS user (PostgreSQL refuses root: as
root, the `postgres` user the package makes), listening on 127.0.0.1 on a free port with no Unix
socket, fsync off, and stopped by its postmaster's PID at the end. A password (random, per run)
guards it, so no other local user can reach it.

Each test gets a database of its own, made from a template that already holds the store's
schema (`CREATE DATABASE ... TEMPLATE`: a file copy, far quicker than migrating each one).

Nothing here skips: a test that needs PostgreSQL fails, saying why, when it cannot be had
(`cluster_or_fail` in tests/conftest.py).
Our own fixture rather than pytest-postgresql: that plugin runs `pg_ctl` as the current user
(root here, which PostgreSQL refuses) and would be one more dependency for ~150 lines.
"""

from __future__ import annotations

import itertools
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

OS_USER = "postgres"  # the user Debian's package makes; made here when missing (as root)
ROLE = "routing"  # the cluster's superuser (a database role, not an OS user)
TEMPLATE = "routing_template"
START_S = 60.0
# The server runs on the real clock even under `make test-any-day`: libfaketime's libraries sit
# in a folder only root may read, and the store never asks the database for a time (every time
# it keeps is the server's clock, written as text).
CLOCK_VARIABLES = ("LD_PRELOAD", "FAKETIME", "FAKETIME_DONT_FAKE_MONOTONIC")


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be had here; the message says why and what to do."""


def binaries() -> Path:
    """The folder of the newest PostgreSQL's server binaries (Debian keeps each major version
    in /usr/lib/postgresql/<version>/bin), else the one `initdb` on PATH is in."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    if on_path is not None:
        return Path(on_path).resolve().parent
    raise PostgresUnavailable(
        "PostgreSQL's server binaries (initdb) are not installed: run `make test`, whose "
        "scripts/test-deps.sh installs Debian's postgresql package (as root), or install it"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _account() -> pwd.struct_passwd | None:
    """The OS user the server runs as: None (this one) unless we are root, who may not."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(OS_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OS_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(OS_USER)


class Cluster:
    """A running throwaway cluster; `stop()` ends it and removes its folder."""

    def __init__(self) -> None:
        self.bin = binaries()
        self.account = _account()
        self.password = secrets.token_hex(16)
        self.folder = Path(tempfile.mkdtemp(prefix="routing-postgres-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.port = 0
        self.pid: int | None = None
        self.names = itertools.count(1)
        if self.account is not None:  # the folder is the server user's, and no one else's
            os.chown(self.folder, self.account.pw_uid, self.account.pw_gid)
        try:
            self._initdb()
            self._start()
        except BaseException:
            self.stop()
            raise

    def _run(self, *command: str, timeout: float = START_S) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in CLOCK_VARIABLES}
        env.update(PGPASSWORD=self.password, LC_ALL="C.UTF-8")
        as_user: dict[str, Any] = {}
        if self.account is not None:
            as_user = {
                "user": self.account.pw_uid,
                "group": self.account.pw_gid,
                "extra_groups": [],
            }
            env.update(HOME=str(self.folder), USER=OS_USER, LOGNAME=OS_USER)
        return subprocess.run(
            command,
            cwd=self.folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **as_user,
        )

    def _check(self, done: subprocess.CompletedProcess[str], what: str) -> None:
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise PostgresUnavailable(
                f"{what} failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}\n{log}"
            )

    def _initdb(self) -> None:
        secret = self.folder / "password"
        secret.write_text(self.password)
        if self.account is not None:
            os.chown(secret, self.account.pw_uid, self.account.pw_gid)
        secret.chmod(0o600)
        done = self._run(
            str(self.bin / "initdb"),
            "-D", str(self.data), "-U", ROLE, f"--pwfile={secret}",
            "--auth=scram-sha-256", "--encoding=UTF8", "--no-locale", "--no-sync",
        )  # fmt: skip
        secret.unlink()
        self._check(done, "initdb")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# a throwaway cluster for the tests\n"
                "listen_addresses = '127.0.0.1'\n"
                "unix_socket_directories = ''\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "max_connections = 300\nshared_buffers = 32MB\n"
            )

    def _start(self) -> None:
        for _attempt in range(3):  # a free port may be taken between looking and binding
            self.port = free_port()
            done = self._run(
                str(self.bin / "pg_ctl"),
                "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(int(START_S)),
                "-o", f"-p {self.port}", "start",
            )  # fmt: skip
            if done.returncode == 0:
                first = (self.data / "postmaster.pid").read_text().split("\n", 1)[0]
                self.pid = int(first)
                self.sql(f"CREATE DATABASE {TEMPLATE}")
                return
            if "already in use" not in self.log.read_text(errors="replace"):
                break
        self._check(done, f"pg_ctl start on 127.0.0.1:{self.port}")

    def url(self, database: str = "postgres") -> str:
        """A URL of `database` on this cluster, as `--database` takes it."""
        return f"postgresql://{ROLE}:{self.password}@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run one statement as the superuser; its output (tuples only)."""
        done = self._run(
            str(self.bin / "psql"), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1",
            "-h", "127.0.0.1", "-p", str(self.port), "-U", ROLE, "-d", database,
            "-c", statement, timeout=30,
        )  # fmt: skip
        self._check(done, f"psql {statement!r}")
        return done.stdout.strip()

    def prepare_template(self, prepare: Callable[[str], None]) -> None:
        """Have `prepare(url)` fill the template (the store's schema), once per run."""
        prepare(self.url(TEMPLATE))

    def new_database(self) -> str:
        """A new database, a copy of the template; its URL."""
        name = f"test_{os.getpid()}_{next(self.names)}"
        self.sql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (fast shutdown; by its PID if pg_ctl cannot) and remove its folder."""
        if self.pid is not None:
            done = self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast",
                             "-w", "-t", "30", "stop")  # fmt: skip
            if done.returncode != 0:
                _kill(self.pid)
            self.pid = None
        shutil.rmtree(self.folder, ignore_errors=True)


def _kill(pid: int) -> None:
    """The postmaster asked to stop (SIGINT: PostgreSQL's fast shutdown), then killed."""
    try:
        os.kill(pid, signal.SIGINT)
        for _ in range(100):
            os.kill(pid, 0)
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
