"""Sustained load: gunicorn (2 workers) on loopback, wrk from a second process.

Only 127.0.0.1 is ever targeted; the run is bounded in time and stops by itself.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_role_url(database_url: str) -> str:
    """The same database, as the runtime role (no superuser, no BYPASSRLS)."""
    role = os.environ.get("DATABASE_APP_ROLE", "crm_app")
    return re.sub(r"//[^@/]*@", f"//{role}@", database_url, count=1)


class Gunicorn:
    def __init__(self, database_url: str, redis_url: str):
        self.port = free_port()
        self.env = {
            **os.environ,
            "DEBUG": "0",
            "SECRET_KEY": "benchmark-only-" + "k" * 40,
            # A SECRET_KEY of its own makes it a deployment, which must name its personal-data
            # keys: the ones the benchmark data was sealed with.
            "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
            "FIELD_BLIND_INDEX_KEY": settings.FIELD_BLIND_INDEX_KEY,
            "ALLOWED_HOSTS": "127.0.0.1",
            "DATABASE_URL": app_role_url(database_url),
            "REDIS_URL": redis_url,
            "SECURE_COOKIES": "0",
            "LOG_LEVEL": "ERROR",
        }

    def __enter__(self) -> Gunicorn:
        subprocess.run(
            [str(ROOT / ".venv/bin/python"), "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=ROOT,
            env=self.env,
            check=True,
        )
        self.process = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "crm_site.wsgi:application", "--workers", "2",
             "--bind", f"127.0.0.1:{self.port}", "--log-level", "error"],
            cwd=ROOT,
            env=self.env,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1)  # noqa: S310
                return self
            except OSError:
                time.sleep(0.3)
        self.process.kill()
        raise RuntimeError("gunicorn did not come up")

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


LUA = """
local paths = {%s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1])
end
"""


def run_wrk(port: int, paths: list[str], headers: dict[str, str], seconds: int = 15) -> dict:
    """Requests per second and latency percentiles from wrk --latency."""
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA % ", ".join(f'"{p}"' for p in paths))
    command = ["wrk", "-t2", "-c8", f"-d{seconds}s", "--latency", "-s", script.name]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(f"http://127.0.0.1:{port}/")
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    os.unlink(script.name)

    def latency(label: str) -> float:
        match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)", output, re.M)
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": latency("50"),
        "p99": latency("99"),
        "errors": int(non_2xx.group(1)) if non_2xx else 0,
        "raw": output,
    }
