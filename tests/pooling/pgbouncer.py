"""A private pgbouncer in transaction mode for the pooling tests: started on a free loopback
port in front of the test database with a pool of one server connection, stopped by PID."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from tests.faults.redis import free_port


class PrivatePgBouncer:
    def __init__(self, *, database: str, user: str, pool_size: int = 1) -> None:
        self.port = free_port()
        self.database = database
        self.user = user
        self.pool_size = pool_size
        self.directory = tempfile.mkdtemp(prefix="crm-pgbouncer-")
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not os.path.exists(binary):
            pytest.fail("needs Debian's pgbouncer (.ci/run installs it)")
        config = os.path.join(self.directory, "pgbouncer.ini")
        users = os.path.join(self.directory, "users.txt")
        with open(users, "w", encoding="utf-8") as handle:
            handle.write(f'"{self.user}" ""\n')
        with open(config, "w", encoding="utf-8") as handle:
            handle.write(
                "[databases]\n"
                f"{self.database} = host=127.0.0.1 port=5432 dbname={self.database}\n"
                "[pgbouncer]\n"
                "listen_addr = 127.0.0.1\n"
                f"listen_port = {self.port}\n"
                "unix_socket_dir =\n"
                "auth_type = trust\n"
                f"auth_file = {users}\n"
                "pool_mode = transaction\n"
                f"default_pool_size = {self.pool_size}\n"
                "max_client_conn = 200\n"
                "ignore_startup_parameters = extra_float_digits,options\n"
                f"logfile = {os.path.join(self.directory, 'pgbouncer.log')}\n"
            )
        os.chmod(self.directory, 0o777)  # noqa: S103 - a private temp dir; pgbouncer drops root
        for name in os.listdir(self.directory):
            os.chmod(os.path.join(self.directory, name), 0o666)  # noqa: S103
        command = [binary, config]
        if os.geteuid() == 0:
            command[1:1] = ["-u", "postgres"]  # pgbouncer refuses to run as root
        self.process = subprocess.Popen(  # noqa: S603 - fixed arguments, Debian's binary
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.05)
        log = os.path.join(self.directory, "pgbouncer.log")
        text = open(log, encoding="utf-8").read() if os.path.exists(log) else ""
        raise RuntimeError(f"pgbouncer did not start: {text[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
        self.process = None
        shutil.rmtree(self.directory, ignore_errors=True)
