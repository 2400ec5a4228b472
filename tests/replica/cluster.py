"""Private PostgreSQL servers for the replica tests: a primary made with initdb on a free
loopback port and a streaming replica made from it with `pg_basebackup -R`, both started
and stopped by PID in a temp dir. The machine's own server is never touched."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time

import psycopg2
import pytest

from tests.faults.redis import free_port


def binary(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        pytest.fail(f"needs PostgreSQL's server binaries (/usr/lib/postgresql/*/bin/{name})")
    return found[-1]


# The application database on the private primary (made by scripts/pg-setup).
DATABASE = "crm_replica"

# initdb and postgres refuse to run as root: run them as the postgres user then.
_AS = {"user": "postgres"} if os.geteuid() == 0 else {}


class PrivateServer:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.data = os.path.join(directory, "data")
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def dsn(self, user: str = "postgres", database: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user={user} dbname={database}"

    def start(self) -> None:
        log = open(os.path.join(self.directory, "server.log"), "ab")  # noqa: SIM115
        self.process = subprocess.Popen(  # noqa: S603 - fixed arguments, Debian's binary
            [
                binary("postgres"),
                "-D",
                self.data,
                "-p",
                str(self.port),
                "-k",
                self.directory,
                "-c",
                "listen_addresses=127.0.0.1",
            ],
            stdout=log,
            stderr=log,
            **_AS,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                psycopg2.connect(self.dsn(), connect_timeout=1).close()
                return
            except psycopg2.OperationalError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.1)
        raise RuntimeError(f"postgres did not start: {self.log()[-2000:]}")

    def log(self) -> str:
        path = os.path.join(self.directory, "server.log")
        return open(path, encoding="utf-8", errors="replace").read() if os.path.exists(path) else ""

    def stop(self) -> None:
        """Fast shutdown (SIGINT ends open sessions), then SIGKILL if it hangs."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


class PrimaryAndReplica:
    def __init__(self) -> None:
        self.root = tempfile.mkdtemp(prefix="crm-replica-")
        if _AS:
            shutil.chown(self.root, "postgres", "postgres")
        self.primary = PrivateServer(self._subdir("primary"))
        self.replica = PrivateServer(self._subdir("replica"))

    def _subdir(self, name: str) -> str:
        path = os.path.join(self.root, name)
        os.mkdir(path, 0o700)
        if _AS:
            shutil.chown(path, "postgres", "postgres")
        return path

    def _run(self, *command: str) -> None:
        subprocess.run(  # noqa: S603 - fixed arguments, Debian's binaries
            command, check=True, capture_output=True, **_AS
        )

    def start_primary(self) -> None:
        self._run(
            binary("initdb"),
            "-D",
            self.primary.data,
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        with open(os.path.join(self.primary.data, "postgresql.conf"), "a") as conf:
            # Throwaway data: no fsync; small, so two servers fit next to the main one.
            conf.write(
                "wal_level = replica\nmax_wal_senders = 4\nhot_standby = on\n"
                "fsync = off\nshared_buffers = 16MB\nmax_connections = 30\n"
            )
        with open(os.path.join(self.primary.data, "pg_hba.conf"), "a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
        self.primary.start()

    def start_replica(self) -> None:
        """A streaming copy of the primary as it is now; -R writes standby.signal and
        primary_conninfo, so it follows the primary from here on."""
        self._run(
            binary("pg_basebackup"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.primary.port),
            "-U",
            "postgres",
            "-D",
            self.replica.data,
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
        )
        self.replica.start()

    def stop(self) -> None:
        self.replica.stop()
        self.primary.stop()
        shutil.rmtree(self.root, ignore_errors=True)
